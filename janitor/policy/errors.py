"""Errors of policy loading: one :class:`PolicyError` per mistake, all of them in one
:class:`PolicyLoadError`, so a person fixes a folder of policies in one pass."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from janitor.errors import JanitorError


@dataclass(frozen=True, slots=True)
class PolicyError:
    """One mistake in one policy file.

    ``str(error)`` is one line: ``policies/ci.yaml:12: select[1].last_pushed.older_than: '3x' is
    not a duration (...)``; the line and the field are left out where they are not known.
    """

    file: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = str(self.file) if self.line is None else f"{self.file}:{self.line}"
        message = self.message
        if len(message) > MAX_MESSAGE:  # a message quoting a 100,000-character value
            message = message[: MAX_MESSAGE - 3] + "..."
        if self.field:
            return one_line(f"{where}: {self.field}: {message}")
        return one_line(f"{where}: {message}")


MAX_MESSAGE = 300
"""The longest a mistake's message is shown: enough for any explanation, and a value quoted
in it (a 100,000-character e-mail address, a cron line of 5,000 digits) is cut short."""


def one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped (``\\n``), so a
    mistake is always exactly one line, whatever a file's keys and values hold."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class PolicyLoadError(JanitorError, ValueError):
    """Raised when one or more policy files are invalid; ``errors`` holds every mistake found.

    Bad input: the CLI exits with code 2. ``str()`` is one line per mistake."""

    exit_code = 2

    def __init__(self, errors: Iterable[PolicyError]) -> None:
        self.errors: list[PolicyError] = list(errors)
        if not self.errors:
            raise ValueError("PolicyLoadError needs at least one PolicyError")
        super().__init__("\n".join(str(e) for e in self.errors))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)

    @property
    def summary(self) -> str:
        """A one-line headline for a CLI: how many mistakes in how many files."""
        files = {e.file for e in self.errors}
        n, f = len(self.errors), len(files)
        return f"{n} mistake{'s' if n != 1 else ''} in {f} policy file{'s' if f != 1 else ''}"


def shown_number(value: int) -> str:
    """``value`` as text for a message; a number too long to print (Python refuses to turn more
    than 4,300 digits into text) is described instead."""
    if value.bit_length() > 128:
        sign = "negative " if value < 0 else ""
        return f"a {sign}number of about {int(value.bit_length() * 0.30103)} digits"
    return str(value)
