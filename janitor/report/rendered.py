"""The product of rendering: what a file or a mail is made of."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RenderedReport:
    """A report ready to be written or mailed: one subject line, an HTML body whose styles are
    inlined, and a plain-text alternative carrying the same facts."""

    subject: str
    html: str
    text: str

    def __repr__(self) -> str:
        return (
            f"RenderedReport(subject={self.subject!r}, html=<{len(self.html)} chars>, "
            f"text=<{len(self.text)} chars>)"
        )
