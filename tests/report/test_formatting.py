"""How reports write sizes, times and untrusted text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from janitor.report.formatting import (
    as_utc,
    clip,
    day,
    duration,
    number,
    oneline,
    plural,
    pulled,
    when,
)
from janitor.units import human_bytes


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (None, "unknown"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (42 * 1024**2, "42.0 MiB"),
        (int(3.25 * 1024**3), "3.2 GiB"),
        (5 * 1024**4, "5.0 TiB"),
        (3 * 1024**6, "3072.0 PiB"),
    ],
)
def test_human_size(size: int | None, expected: str) -> None:
    assert human_bytes(size) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (None, "—"),
        (0.4, "0.4 s"),
        (9.94, "9.9 s"),
        (45, "45 s"),
        (432, "7 min 12 s"),
        (7500, "2 h 05 min"),
    ],
)
def test_duration(seconds: float | None, expected: str) -> None:
    assert duration(seconds) == expected


def test_times_are_written_in_utc() -> None:
    moment = datetime(2026, 5, 11, 10, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    assert when(moment) == "2026-05-11 08:30:05 UTC"
    assert day(moment) == "2026-05-11 08:30"
    assert when(None) == "—"
    assert pulled(None) == "never"
    assert pulled(moment) == "2026-05-11 08:30"
    assert as_utc(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)


def test_numbers_and_plurals() -> None:
    assert number(1234567) == "1,234,567"
    assert number(None) == "—"
    assert plural(1, "image") == "1 image"
    assert plural(2500, "repository", "repositories") == "2,500 repositories"


def test_oneline_makes_control_characters_visible() -> None:
    assert oneline("a\nb\r\tc\x00\u2028") == "a\\x0ab\\x0d\\x09c\\x00\\u2028"
    assert oneline("ünïcødé <ok>") == "ünïcødé <ok>"
    assert clip("abcdef", 4) == "abc…"
    assert clip("abc", 4) == "abc"
