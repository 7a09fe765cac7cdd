"""Checks of the evaluator's speed-ups against the plain versions they replace."""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from janitor.plan import Decision
from janitor.policy import evaluate_repository

from .helpers import image, inventory, make_policy
from .strategies import NOW

evaluation = importlib.import_module("janitor.policy.evaluation")
SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=300)
ZONES = st.sampled_from([UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Tokyo")])


@SETTINGS
@given(
    now=st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=ZONES),
    offsets=st.lists(st.integers(-3 * 86400, 3000 * 86400), max_size=20),
    zone=ZONES,
)
def test_cached_clock_reads_like_day_and_ago(
    now: datetime, offsets: list[int], zone: ZoneInfo
) -> None:
    clock = evaluation._Clock(now.astimezone(UTC))
    for offset in offsets * 2:  # twice: the second pass reads the cache
        moment = (now - timedelta(seconds=offset)).astimezone(zone)
        assert clock.when(moment) == f"{evaluation.day(moment)} ({evaluation.ago(now, moment)})"


def test_ago_wording() -> None:
    ago = evaluation.ago
    assert ago(NOW, NOW - timedelta(days=324)) == "324 days ago"
    assert ago(NOW, NOW - timedelta(hours=30)) == "1 day ago"
    assert ago(NOW, NOW - timedelta(hours=5)) == "5 hours ago"
    assert ago(NOW, NOW - timedelta(minutes=61)) == "1 hour ago"
    assert ago(NOW, NOW - timedelta(minutes=1)) == "1 minute ago"
    assert ago(NOW, NOW) == "0 minutes ago"
    assert ago(NOW, NOW + timedelta(seconds=1)) == "in the future"


def test_fast_decisions_equal_plain_ones() -> None:
    assert evaluation.make_decision is not Decision, "the fast path is in use"
    img = image("a")
    args = (img, "delete", ("r",), True, "e", ("keep[0]",), "delete", NOW)
    fast = evaluation.make_decision(*args)
    plain = Decision(*args)
    assert type(fast) is Decision
    assert fast == plain and hash(fast) == hash(plain) and repr(fast) == repr(plain)
    assert evaluation.make_decision(img, "keep", ()) == Decision(img, "keep", ())


def test_rules_bound_to_now_are_not_reused_for_another_now_or_policy() -> None:
    inv = inventory(image("a", pushed=20))
    policy = make_policy([{"last_pushed": {"older_than": "30d"}}])
    assert evaluate_repository(inv, policy, NOW).decisions[0].verdict == "keep"
    later = NOW + timedelta(days=11)
    assert evaluate_repository(inv, policy, later).decisions[0].verdict == "delete"
    other = make_policy([{"last_pushed": {"older_than": "60d"}}])
    assert evaluate_repository(inv, other, later).decisions[0].verdict == "keep"
    berlin = later.astimezone(ZoneInfo("Europe/Berlin"))  # the same instant elsewhere
    assert evaluate_repository(inv, policy, berlin).decisions[0].verdict == "delete"


def test_threads_share_policies_and_caches_safely(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service judges several repositories at once with one policy: the caches of
    patterns and date texts are shared. Tiny cache limits make them clear all the time."""
    patterns = importlib.import_module("janitor.policy.patterns")
    monkeypatch.setattr(evaluation, "_DAY_CACHE_LIMIT", 3)
    monkeypatch.setattr(patterns, "_CACHE_LIMIT", 3)
    policy = make_policy(
        [{"currently_tagged": False, "last_pushed": {"older_than": "7d"}}, {"tags": ["pr-*"]}],
        keep=[{"tags": ["re:^v"]}, {"pulled_within": "7d"}],
    )
    invs = [
        inventory(
            *(
                image(f"{r}{i:03d}", tags=[f"pr-{i}"] if i % 3 else [], pushed=i, pulled=i % 11)
                for i in range(200)
            )
        )
        for r in range(4)
    ]
    expected = [evaluate_repository(inv, policy, NOW) for inv in invs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(5):
            assert (
                list(pool.map(lambda inv: evaluate_repository(inv, policy, NOW), invs)) == expected
            )
