from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from janitor.policy.schedule import cron_trigger, load_timezone, validate_schedule

THURSDAY = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)  # 2026-01-01 is a Thursday


def next_fire(expr: str, tz: str = "UTC", after: datetime = THURSDAY) -> datetime:
    fire = cron_trigger(expr, tz).get_next_fire_time(None, after)
    assert fire is not None
    return fire


@pytest.mark.parametrize(
    ("expr", "weekday"),
    [
        ("0 3 * * 0", "Sun"),  # crontab: 0 is Sunday (APScheduler 3 alone would say Monday)
        ("0 3 * * 7", "Sun"),
        ("0 3 * * 1", "Mon"),
        ("0 3 * * 6", "Sat"),
        ("0 3 * * sun", "Sun"),
        ("0 3 * * 1-5", "Thu"),
        ("0 3 * * 6-7", "Sat"),
        ("0 3 * * fri-sun", "Fri"),
        ("0 3 * * 0,2", "Sun"),
        ("@weekly", "Sun"),
    ],
)
def test_weekdays_have_crontab_meaning(expr: str, weekday: str) -> None:
    assert next_fire(expr).strftime("%a") == weekday


def test_step_over_weekdays_counts_from_sunday() -> None:
    trigger = cron_trigger("0 3 * * */2", "UTC")
    fires, after = [], THURSDAY
    for _ in range(4):
        fire = trigger.get_next_fire_time(None, after)
        assert fire is not None
        fires.append(fire.strftime("%a"))
        after = fire + timedelta(minutes=1)
    assert sorted(set(fires)) == sorted({"Sun", "Tue", "Thu", "Sat"})


def test_timezone_is_applied() -> None:
    fire = next_fire("0 3 * * *", "Europe/Berlin")
    assert fire.tzinfo == ZoneInfo("Europe/Berlin")
    assert fire.astimezone(UTC).hour == 2  # 03:00 CET is 02:00 UTC in January


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("0 3 * *", "is not a 5-field cron expression"),
        ("0 3 * * * *", "is not a 5-field cron expression"),
        ("61 3 * * *", "is not a valid cron expression"),
        ("0 25 * * *", "is not a valid cron expression"),
        ("0 3 * * 8", "'8' is not a day of week"),
        ("0 3 * * 5-1", "is reversed"),
        ("0 3 1 * 1", "restricts both day of month (1) and day of week (1)"),
        ("x 3 * * *", "is not a valid cron expression"),
    ],
)
def test_bad_schedules(expr: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_schedule(expr)
    assert fragment in str(info.value)


def test_schedule_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="cron expression in quotes"):
        validate_schedule(300)


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "../etc/passwd", "UTC/../../x"])
def test_bad_timezones(name: str) -> None:
    with pytest.raises(ValueError):
        load_timezone(name)
