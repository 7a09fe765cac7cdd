"""Times as Hub writes them, and the relative times a seed may use."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from dateutil.parser import isoparse

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def format_time(when: datetime, digits: int = 6) -> str:
    """``2021-02-24T22:05:27.526308Z``: UTC with microseconds, as Hub's docs write times; with
    ``digits=9`` nanoseconds (``2026-08-19T17:09:02.431065465Z``), as the live Hub sends some.
    The three extra digits are derived from the microseconds, so they are never all zero."""
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    # isoformat ends in "+00:00" for UTC; Hub writes "Z".
    text = when.isoformat(timespec="microseconds")[:-6]
    if digits == 9:
        text += f"{(when.microsecond * 7 + 1) % 1000:03d}"
    return text + "Z"


def parse_duration(text: str) -> timedelta | None:
    """``40d``, ``12h``, ``2w``, ``90m``, ``30s``; None when ``text`` is not one."""
    match = _RELATIVE.match(text)
    if match is None:
        return None
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_time(value: object, now: datetime) -> datetime:
    """An absolute time (ISO 8601 / RFC 3339, naive means UTC) or a relative one before ``now``."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    delta = parse_duration(value)
    if delta is not None:
        return now - delta
    try:
        parsed = isoparse(value.strip())
    except (ValueError, OverflowError):
        raise ValueError(f"not a time: {value!r} (ISO 8601, or relative like '40d')") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_seed_time(value: object, *, now: datetime) -> datetime | None:
    """A seed's time that may be absent: ``null`` and the zero time (``0001-01-01T00:00:00Z``,
    Hub's other spelling of *never*) give None; otherwise as ``parse_time``."""
    if value is None:
        return None
    when = parse_time(value, now)
    return None if when == ZERO_TIME else when


def parse_query_time(value: str) -> datetime:
    """An ``active_from`` query value: RFC 3339 only (ValueError otherwise)."""
    try:
        parsed = isoparse(value.strip())
    except (ValueError, OverflowError):
        raise ValueError(
            f"invalid time {value!r}: use RFC 3339, e.g. 2026-01-02T03:04:05Z"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
