"""Durations as policies write them.

Short forms, one whole number and one unit, no spaces:

=========  =====================================================  =========
unit       meaning                                                example
=========  =====================================================  =========
``min``    minutes                                                ``90min``
``h``      hours                                                  ``12h``
``d``      days (24 hours)                                        ``30d``
``w``      weeks (7 days)                                         ``2w``
``m``      calendar months (``mo`` is the same)                   ``6m``
``y``      calendar years                                         ``1y``
=========  =====================================================  =========

ISO 8601 durations are accepted too: ``P90D``, ``PT12H``, ``P1Y2M``, ``P2W``, ``P1DT6H``
(upper case, whole numbers). Months and years are calendar units (``dateutil.relativedelta``):
``6m`` before 2026-08-31 is 2026-02-28, not a fixed number of days.

A duration is longer than zero and at most 100 years; anything else (negative, zero,
fractional, unknown unit) is an error that shows the accepted forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dateutil.relativedelta import relativedelta

from janitor.policy.errors import shown_number

HINT = "use 90d, 12h, 2w, 6m, 1y or ISO 8601 like P90D"

_SHORT = re.compile(r"([0-9]+)(min|mo|h|d|w|m|y)")
_ISO = re.compile(
    r"P(?!$)(?:([0-9]+)Y)?(?:([0-9]+)M)?(?:([0-9]+)W)?(?:([0-9]+)D)?"
    r"(?:T(?=[0-9])(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?)?"
)
_MAX_DAYS = 100 * 365.2425
_MAX_DIGITS = 12
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Duration:
    """A length of time as written in a policy: calendar ``months`` plus fixed ``seconds``.

    ``text`` is kept as written, so explanations quote the policy ("older than 30d").
    """

    text: str
    months: int = 0
    seconds: int = 0

    def __str__(self) -> str:
        return self.text

    @property
    def delta(self) -> relativedelta:
        return relativedelta(months=self.months, seconds=self.seconds)

    def before(self, now: datetime) -> datetime:
        """``now`` minus this duration; the earliest representable time if that underflows."""
        try:
            if self.months:
                return now - relativedelta(months=self.months, seconds=self.seconds)
            return now - timedelta(seconds=self.seconds)
        except (OverflowError, ValueError):
            return _EARLIEST if now.tzinfo is None else _EARLIEST.astimezone(now.tzinfo)

    @property
    def min_seconds(self) -> int:
        """The shortest this duration can be on any date (a month is 28 to 31 days)."""
        years, months = divmod(self.months, 12)
        return self.seconds + (years * 365 + months * 28) * 86400

    @property
    def max_seconds(self) -> int:
        """The longest this duration can be on any date."""
        years, months = divmod(self.months, 12)
        return self.seconds + (years * 366 + months * 31) * 86400


def parse_duration(value: object) -> Duration:
    """Parse a policy duration; raise ``ValueError`` with a one-line, readable message."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a duration like 30d, got {_kind(value)} ({HINT})")
    if isinstance(value, (int, float)):
        if isinstance(value, int) and value.bit_length() > 64:
            raise ValueError(f"{shown_number(value)} is not a duration ({HINT})")
        raise ValueError(f"{value!r} has no unit: write it as {value}d, {value}h, ... ({HINT})")
    text = value.strip()
    if not text:
        raise ValueError(f"an empty string is not a duration ({HINT})")
    if text.startswith("-"):
        raise ValueError(f"{value!r} is negative; a duration is longer than zero ({HINT})")
    months, seconds = _parse_parts(text, value)
    result = Duration(text=text, months=months, seconds=seconds)
    if months == 0 and seconds == 0:
        raise ValueError(f"{value!r} is zero; a duration is longer than zero ({HINT})")
    if months * 30.436875 + seconds / 86400 > _MAX_DAYS:
        raise ValueError(f"{value!r} is longer than 100 years")
    return result


def _parse_parts(text: str, original: str) -> tuple[int, int]:
    if any(len(digits.lstrip("0")) > _MAX_DIGITS for digits in re.findall(r"[0-9]+", text)):
        # refused before int(): Python will not convert more than 4,300 digits
        raise ValueError(f"{_shown(original)} is longer than 100 years")
    short = _SHORT.fullmatch(text)
    if short:
        n, unit = int(short.group(1)), short.group(2)
        if n > 10**7:  # refuse before multiplying: keeps the arithmetic small
            raise ValueError(f"{original!r} is longer than 100 years")
        if unit in ("m", "mo"):
            return n, 0
        if unit == "y":
            return 12 * n, 0
        return 0, n * {"min": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    iso = _ISO.fullmatch(text)
    if iso:
        y, mo, w, d, h, mi, s = (int(g) if g else 0 for g in iso.groups())
        if max(y, mo, w, d, h, mi, s) > 10**9:
            raise ValueError(f"{original!r} is longer than 100 years")
        return 12 * y + mo, w * 604800 + d * 86400 + h * 3600 + mi * 60 + s
    if re.fullmatch(r"\d+[.,]\d+\s*[a-zA-Z]+|P.*[.,].*", text):
        raise ValueError(f"{original!r}: whole numbers only, e.g. 36h instead of 1.5d ({HINT})")
    raise ValueError(f"{original!r} is not a duration ({HINT})")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else f"{text[:37]}...")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
