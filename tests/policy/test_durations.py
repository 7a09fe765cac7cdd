from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from janitor.policy import Duration, parse_duration

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=200)


@pytest.mark.parametrize(
    ("text", "months", "seconds"),
    [
        ("90min", 0, 90 * 60),
        ("12h", 0, 12 * 3600),
        ("30d", 0, 30 * 86400),
        ("2w", 0, 14 * 86400),
        ("6m", 6, 0),
        ("6mo", 6, 0),
        ("1y", 12, 0),
        ("P90D", 0, 90 * 86400),
        ("PT12H", 0, 12 * 3600),
        ("PT30M", 0, 30 * 60),
        ("PT45S", 0, 45),
        ("P1Y2M", 14, 0),
        ("P2W", 0, 14 * 86400),
        ("P1DT6H", 0, 30 * 3600),
        (" 7d ", 0, 7 * 86400),
    ],
)
def test_accepted_forms(text: str, months: int, seconds: int) -> None:
    duration = parse_duration(text)
    assert (duration.months, duration.seconds) == (months, seconds)
    assert str(duration) == text.strip()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("3x", "'3x' is not a duration (use 90d, 12h, 2w, 6m, 1y or ISO 8601 like P90D)"),
        ("0d", "is zero"),
        ("PT0S", "is zero"),
        ("-5d", "is negative"),
        ("1.5d", "whole numbers only"),
        ("P1.5D", "whole numbers only"),
        ("", "empty string"),
        ("d", "is not a duration"),
        ("30 d", "is not a duration"),
        ("30D", "is not a duration"),
        ("P", "is not a duration"),
        ("PT", "is not a duration"),
        ("P1H", "is not a duration"),
        ("101y", "longer than 100 years"),
        ("99999999999999999999d", "longer than 100 years"),
        ("P99999999999Y", "longer than 100 years"),
        (30, "30 has no unit"),
        (1.5, "has no unit"),
        (True, "got a boolean"),
        (None, "got null"),
        (["30d"], "got a list"),
    ],
)
def test_refused(value: object, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_calendar_months_follow_the_calendar() -> None:
    end_of_august = datetime(2026, 8, 31, 12, tzinfo=UTC)
    assert parse_duration("6m").before(end_of_august) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert parse_duration("1y").before(datetime(2028, 2, 29, tzinfo=UTC)) == datetime(
        2027, 2, 28, tzinfo=UTC
    )
    assert parse_duration("P1Y2M").before(end_of_august) == datetime(2025, 6, 30, 12, tzinfo=UTC)


def test_before_saturates_instead_of_overflowing() -> None:
    early = datetime(1, 1, 2, tzinfo=UTC)
    assert parse_duration("2y").before(early) == datetime.min.replace(tzinfo=UTC)


def test_length_bounds_cover_every_month() -> None:
    month = parse_duration("1m")
    assert month.min_seconds == 28 * 86400
    assert month.max_seconds == 31 * 86400
    assert parse_duration("1y").min_seconds == 365 * 86400


@SETTINGS
@given(n=st.integers(min_value=1, max_value=5000), unit=st.sampled_from(["h", "d", "w"]))
def test_short_and_iso_forms_agree(n: int, unit: str) -> None:
    iso = {"h": f"PT{n}H", "d": f"P{n}D", "w": f"P{n}W"}[unit]
    assert parse_duration(f"{n}{unit}").seconds == parse_duration(iso).seconds


@SETTINGS
@given(text=st.text(max_size=12))
def test_any_text_is_a_duration_or_a_value_error(text: str) -> None:
    try:
        duration = parse_duration(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(duration, Duration)
        assert duration.months > 0 or duration.seconds > 0
