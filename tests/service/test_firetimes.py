"""Cron arithmetic: the latest fire at or before a moment names a fire on every replica."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from hypothesis import given, settings
from hypothesis import strategies as st

from janitor.engine import lease_name
from janitor.errors import ConfigError
from janitor.service.firetimes import (
    cron_trigger,
    fire_key,
    latest_fire_time,
    next_fire_times,
    report_trigger,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_every_minute_names_the_current_minute() -> None:
    trigger = cron_trigger("* * * * *")
    assert latest_fire_time(trigger, at("2026-03-01T10:15:42")) == at("2026-03-01T10:15:00")
    assert latest_fire_time(trigger, at("2026-03-01T10:15:00")) == at("2026-03-01T10:15:00")


def test_replicas_a_few_seconds_apart_agree() -> None:
    trigger = cron_trigger("0 3 * * *")
    first = latest_fire_time(trigger, at("2026-03-01T03:00:00.2"))
    second = latest_fire_time(trigger, at("2026-03-01T03:00:07"))
    assert first == second == at("2026-03-01T03:00:00")
    assert first is not None and second is not None
    assert fire_key("policy:x", first) == fire_key("policy:x", second)
    assert fire_key("policy:x", first) == "policy:x@2026-03-01T03:00:00Z"


def test_daily_weekly_and_yearly_crons_look_back_far_enough() -> None:
    now = at("2026-03-04T12:00:00")  # a Wednesday
    assert latest_fire_time(cron_trigger("0 3 * * *"), now) == at("2026-03-04T03:00:00")
    assert latest_fire_time(cron_trigger("0 8 * * mon"), now) == at("2026-03-02T08:00:00")
    assert latest_fire_time(cron_trigger("0 0 1 1 *"), now) == at("2026-01-01T00:00:00")
    assert latest_fire_time(cron_trigger("0 0 29 2 *"), now) == at("2024-02-29T00:00:00")


def test_timezone_of_the_policy_is_honoured_across_dst() -> None:
    trigger = cron_trigger("0 3 * * *", "Europe/Berlin")
    # Winter: 03:00 CET is 02:00 UTC; summer: 03:00 CEST is 01:00 UTC.
    assert latest_fire_time(trigger, at("2026-01-10T12:00:00")) == at("2026-01-10T02:00:00")
    assert latest_fire_time(trigger, at("2026-07-10T12:00:00")) == at("2026-07-10T01:00:00")
    # The night the clocks go forward (29 March 2026) still fires once.
    fires = next_fire_times(trigger, at("2026-03-28T12:00:00"), 3)
    assert fires == [
        at("2026-03-29T01:00:00"),
        at("2026-03-30T01:00:00"),
        at("2026-03-31T01:00:00"),
    ]


def test_next_fire_times_are_strictly_after_now() -> None:
    trigger = cron_trigger("*/15 * * * *")
    fires = next_fire_times(trigger, at("2026-03-01T10:15:00"), 3)
    assert fires == [
        at("2026-03-01T10:30:00"),
        at("2026-03-01T10:45:00"),
        at("2026-03-01T11:00:00"),
    ]
    assert all(f.tzinfo is not None and f.utcoffset() == timedelta(0) for f in fires)


def test_interval_seam_is_aligned_for_every_replica() -> None:
    trigger = IntervalTrigger(seconds=4, start_date=at("2000-01-01T00:00:00"), timezone=UTC)
    assert latest_fire_time(trigger, at("2026-03-01T10:15:03.9")) == at("2026-03-01T10:15:00")
    assert latest_fire_time(trigger, at("2026-03-01T10:15:05")) == at("2026-03-01T10:15:04")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        latest_fire_time(cron_trigger("* * * * *"), datetime(2026, 1, 1))


def test_bad_report_schedule_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="JANITOR_REPORT_SCHEDULE: '0 8 \\* \\*'"):
        report_trigger("0 8 * *")
    with pytest.raises(ValueError):
        cron_trigger("0 3 * * *", "Mars/Olympus_Mons")


def test_long_lease_names_are_shortened_but_stay_distinct() -> None:
    short = lease_name("fire", "policy:x@2026-01-01T00:00:00Z")
    assert short == "fire:policy:x@2026-01-01T00:00:00Z"
    a = lease_name("fire", "policy:" + "a" * 300 + "@2026-01-01T00:00:00Z")
    b = lease_name("fire", "policy:" + "a" * 300 + "@2026-01-01T00:01:00Z")
    assert len(a) <= 200 and len(b) <= 200 and a != b


@settings(max_examples=60, deadline=None)
@given(
    minute=st.sampled_from(["*", "0", "*/7", "30"]),
    hour=st.sampled_from(["*", "3", "*/5"]),
    dow=st.sampled_from(["*", "mon", "1-5"]),
    offset=st.integers(min_value=0, max_value=60 * 24 * 400),
)
def test_latest_fire_is_a_fire_and_the_next_one_is_after_now(
    minute: str, hour: str, dow: str, offset: int
) -> None:
    trigger = cron_trigger(f"{minute} {hour} * * {dow}")
    now = at("2025-01-01T00:00:00") + timedelta(minutes=offset, seconds=offset % 59)
    latest = latest_fire_time(trigger, now)
    assert latest is not None and latest <= now
    following = trigger.get_next_fire_time(latest, latest)
    assert following is not None and following > now
    # A fire is its own latest fire.
    assert latest_fire_time(trigger, latest) == latest


def test_weekday_numbers_mean_what_they_mean_in_crontab() -> None:
    # APScheduler 3 alone would read 0 as Monday; janitor keeps crontab's Sunday.
    now = at("2026-03-04T12:00:00")  # a Wednesday
    assert next_fire_times(cron_trigger("0 4 * * 0"), now, 1) == [at("2026-03-08T04:00:00")]
    assert next_fire_times(cron_trigger("0 4 * * 7"), now, 1) == [at("2026-03-08T04:00:00")]
    assert next_fire_times(report_trigger("0 8 * * 1"), now, 1) == [at("2026-03-09T08:00:00")]
    assert next_fire_times(cron_trigger("@daily"), now, 1) == [at("2026-03-05T00:00:00")]
