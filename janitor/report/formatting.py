"""How reports write sizes, times, durations and untrusted names: one place, used as Jinja filters
and by the code that builds the reports' facts, so the HTML and the plain text always agree."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already (janitor keeps UTC inside)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def when(moment: datetime | None, empty: str = "—") -> str:
    """A readable UTC time: ``2026-05-09 07:35:12 UTC``."""
    if moment is None:
        return empty
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def day(moment: datetime | None, empty: str = "—") -> str:
    """A UTC date and minute, for dense tables: ``2026-05-09 07:35``."""
    if moment is None:
        return empty
    return as_utc(moment).strftime("%Y-%m-%d %H:%M")


def pulled(moment: datetime | None) -> str:
    """``last_pulled`` for people: None is a real state, *never pulled*."""
    return day(moment, empty="never")


def duration(seconds: float | None) -> str:
    """``3 min 12 s``, ``2 h 05 min``, ``0.4 s``; None (still running) -> ``—``."""
    if seconds is None:
        return "—"
    if seconds < 0:
        return f"{seconds:.1f} s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def number(value: int | None) -> str:
    """``12345`` -> ``12,345``; None -> ``—``."""
    if value is None:
        return "—"
    return f"{value:,}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 image``, ``3 images``, with the count written by :func:`number`."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{number(count)} {word}"


def oneline(text: object) -> str:
    """Untrusted text on one line: control characters (newlines included) become visible
    ``\\xNN`` escapes, so a hostile name cannot forge lines in the plain-text part or a header."""
    return _CONTROL.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, an ellipsis marking a cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + "…"
