"""A policy's ``schedule``: a standard 5-field crontab line, read with crontab's meaning.

APScheduler 3.x reads crontab lines with two differences from cron (its own docs say so):
weekday numbers start at Monday (cron: 0 and 7 are Sunday), and when both day of month and
day of week are restricted it fires when *both* match (cron: when *either* does). janitor keeps
cron's meaning: :func:`cron_trigger` rewrites the weekday field to names (``1-5`` becomes
``mon,tue,wed,thu,fri``), and a line that restricts both days is refused at load time rather
than run on the wrong days. ``@hourly``, ``@daily``, ``@weekly``, ``@monthly`` and ``@yearly``
(``@annually``) are accepted as the usual shorthands.
"""

from __future__ import annotations

from datetime import tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

FIELDS = "minute hour day-of-month month day-of-week"
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# cron numbering: 0 = Sunday ... 6 = Saturday (7 = Sunday again)
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def load_timezone(name: object) -> ZoneInfo:
    """An IANA time zone; ``ValueError`` naming the problem otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("expected an IANA time zone name like UTC or Europe/Berlin")
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError (bad key), OSError
        raise ValueError(
            f"'{name}' is not a known IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)"
        ) from None


def _fields(expr: str) -> list[str]:
    expanded = _MACROS.get(expr.strip().lower(), expr)
    fields = expanded.split()
    if len(fields) != 5:
        raise ValueError(f"'{expr}' is not a 5-field cron expression ({FIELDS}), e.g. '0 3 * * *'")
    return fields


def _weekday_names(field: str) -> str:
    """Expand a crontab day-of-week field into APScheduler weekday names (or ``*``)."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"day-of-week step '{step_text}' is not a positive number")
            step = int(step_text)
        if base in ("*", "?"):
            first, last = 0, 6
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _weekday(a), _weekday(b, upper=True)
            if first > last:
                raise ValueError(f"day-of-week range '{base}' is reversed")
        else:
            first = _weekday(base)
            last = 6 if step_text else first
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def _weekday(text: str, *, upper: bool = False) -> int:
    low = text.lower()
    if low in _CRON_DAYS:
        index = _CRON_DAYS.index(low)
        return 7 if upper and index == 0 else index
    if text.isdigit() and 0 <= int(text) <= 7:
        value = int(text)
        # 7 is Sunday: as a single day it is 0; as the end of a range (5-7) it stays 7
        return value if upper else value % 7
    raise ValueError(f"'{text}' is not a day of week (0-7 or sun, mon, ..., sat)")


def _restricted(field: str) -> bool:
    return field not in ("*", "?")


def cron_trigger(expr: str, timezone: str | tzinfo = "UTC") -> CronTrigger:
    """The APScheduler trigger for a crontab line, with crontab's weekday numbering."""
    tz = load_timezone(timezone) if isinstance(timezone, str) else timezone
    minute, hour, day, month, dow = _fields(expr)
    if _restricted(day) and _restricted(dow):
        raise ValueError(
            f"'{expr}' restricts both day of month ({day}) and day of week ({dow}): cron runs "
            "when either matches, janitor's scheduler only when both do; restrict one of them"
        )
    try:
        weekday = _weekday_names(dow)
    except ValueError as exc:
        raise ValueError(f"'{expr}' is not a valid cron expression: {exc}") from None
    try:
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=tz
        )
    except Exception as exc:  # APScheduler raises ValueError, sometimes others, on bad fields
        raise ValueError(f"'{expr}' is not a valid cron expression: {exc}") from None


def validate_schedule(expr: object, timezone: str | tzinfo = "UTC") -> str:
    """Check a schedule; return it as written. ``ValueError`` with a one-line message."""
    if not isinstance(expr, str):
        raise ValueError('expected a cron expression in quotes, e.g. "0 3 * * *"')
    cron_trigger(expr, timezone)
    return expr
