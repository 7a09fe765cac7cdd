"""Cron arithmetic for the service: the triggers of policies and of the weekly report, the
latest fire at or before a moment (which names a fire across replicas), and the next fires.

Every function takes ``now`` explicitly, so tests and ``janitor schedule --as-of`` need no
frozen clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from janitor.errors import ConfigError
from janitor.policy.schedule import cron_trigger as policy_cron_trigger

# How far back `latest_fire_time` looks before it gives up: a cron that has not fired for this
# long (say "0 0 29 2 *" seen from a leap day) has no fire worth claiming.
_LOOKBACK_LIMIT = timedelta(days=5 * 366)
_FIRST_LOOKBACK = timedelta(minutes=2)


def cron_trigger(expression: str, timezone: str | tzinfo = "UTC") -> CronTrigger:
    """A 5-field crontab line as an APScheduler trigger in ``timezone``, with crontab's meaning
    (0 and 7 are Sunday; APScheduler 3's own ``from_crontab`` counts from Monday): the policy
    package's reading, so `janitor schedule`, the loader and the service agree.

    Raises ValueError for a bad expression or an unknown timezone."""
    return policy_cron_trigger(expression, timezone)


def report_trigger(expression: str) -> CronTrigger:
    """The weekly report's trigger (always UTC); a bad expression is a ConfigError naming the
    setting."""
    try:
        return cron_trigger(expression, "UTC")
    except ValueError as exc:
        raise ConfigError(
            f"JANITOR_REPORT_SCHEDULE: {expression!r} is not a 5-field cron expression ({exc})"
        ) from None


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def latest_fire_time(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The trigger's latest fire time at or before ``now`` (UTC), or None when it has not fired
    within about five years.

    Replicas name a scheduled fire by this time: each computes it when its job runs, so two
    replicas firing the same cron a few seconds apart agree on the name. The search looks back
    a doubling span (2 minutes, 4, 8, ...), so an every-minute cron costs one step and a yearly
    one about twenty.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    span = _FIRST_LOOKBACK
    while span <= _LOOKBACK_LIMIT:
        fire = trigger.get_next_fire_time(None, now - span)
        if fire is not None and fire <= now:
            while True:
                following = trigger.get_next_fire_time(fire, fire)
                if following is None or following > now:
                    return _as_utc(fire)
                fire = following
        span *= 2
    return None


def next_fire_times(trigger: BaseTrigger, now: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times strictly after ``now`` (UTC)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    times: list[datetime] = []
    fire = trigger.get_next_fire_time(None, now)
    if fire is not None and fire <= now:  # exactly on a fire: that one is not "next"
        fire = trigger.get_next_fire_time(fire, fire)
    while fire is not None and len(times) < count:
        times.append(_as_utc(fire))
        fire = trigger.get_next_fire_time(fire, fire)
    return times


def fire_key(job: str, fire_time: datetime) -> str:
    """The name of one scheduled fire, the same on every replica."""
    return f"{job}@{_as_utc(fire_time).strftime('%Y-%m-%dT%H:%M:%SZ')}"
