"""Table tests of every select condition and keep rule, and of the reasons they give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from janitor.hub.models import Image, Repository, RepositoryInventory, TagRef
from janitor.policy import evaluate, evaluate_repository

from .helpers import image, inventory, judge, make_policy, one
from .strategies import NOW

OLD = {"older_than": "30d"}


def selected(select: list[dict[str, Any]], img: Image, now: datetime = NOW) -> bool:
    return one(make_policy(select), img, now).candidate


# --------------------------------------------------------------------------- select


@pytest.mark.parametrize(
    ("condition", "tags", "old_tags", "expected"),
    [
        ({"currently_tagged": False}, [], [], True),
        ({"currently_tagged": False}, [], ["old"], True),  # only historical tags
        ({"currently_tagged": False}, ["latest"], [], False),
        ({"currently_tagged": True}, ["latest"], [], True),
        ({"currently_tagged": True}, [], ["old"], False),
        ({"tags": ["pr-*"]}, ["pr-1"], [], True),
        ({"tags": ["pr-*"]}, ["pr-1", "pr-2"], [], True),
        ({"tags": ["pr-*"]}, ["pr-1", "main"], [], False),  # every current tag must match
        ({"tags": ["pr-*", "main"]}, ["pr-1", "main"], [], True),
        ({"tags": ["pr-*"]}, [], ["pr-1"], False),  # needs current tags
        ({"tags": ["pr-*"]}, ["main"], ["pr-1"], False),  # historical tags do not count
        ({"tags": ["re:^v[0-9]+$"]}, ["v12"], [], True),
        ({"tags": ["re:^v[0-9]+$"]}, ["v12-rc"], [], False),
    ],
)
def test_tag_conditions(
    condition: dict[str, Any], tags: list[str], old_tags: list[str], expected: bool
) -> None:
    assert selected([condition], image("a", tags=tags, old_tags=old_tags)) is expected


DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("window", "pushed_before_now", "expected"),
    [
        ({"older_than": "30d"}, 30 * DAY, True),  # exactly at the cutoff: older_than holds
        ({"older_than": "30d"}, 30 * DAY - SECOND, False),
        ({"older_than": "30d"}, 31 * DAY, True),
        ({"newer_than": "30d"}, 30 * DAY, False),  # exactly at the cutoff: newer_than fails
        ({"newer_than": "30d"}, 30 * DAY - SECOND, True),
        ({"older_than": "14d", "newer_than": "2y"}, 20 * DAY, True),
        ({"older_than": "14d", "newer_than": "2y"}, 10 * DAY, False),
        ({"older_than": "14d", "newer_than": "2y"}, 800 * DAY, False),
        ({"older_than": "12h"}, timedelta(hours=13), True),
        ({"older_than": "1m"}, 29 * DAY, False),  # from 2026-11-22: a month is 31 days back
        ({"older_than": "1m"}, 31 * DAY, True),
        ({"older_than": "P90D"}, 90 * DAY, True),
        ({"older_than": "30d"}, -DAY, False),  # pushed "in the future"
    ],
)
def test_last_pushed_windows(
    window: dict[str, str], pushed_before_now: timedelta, expected: bool
) -> None:
    img = Image("acme", "web", "sha256:a", last_pushed=NOW - pushed_before_now)
    assert selected([{"last_pushed": window}], img) is expected


def test_unknown_last_pushed_never_matches() -> None:
    img = image("a", pushed=None)
    assert not selected([{"last_pushed": {"older_than": "1h"}}], img)
    assert not selected([{"last_pushed": {"newer_than": "10y"}}], img)
    decision = one(make_policy([{"last_pushed": {"older_than": "1h"}}]), img)
    assert decision.reasons == (
        "not selected: 'select[0]' fails: last pushed unknown (an unknown time never matches)",
    )


@pytest.mark.parametrize(
    ("rule", "pulled", "expected"),
    [
        ({"older_than": "30d", "never": "match"}, None, True),
        ({"older_than": "30d", "never": "skip"}, None, False),
        ({"older_than": "30d", "never": "skip"}, 40, True),
        ({"older_than": "30d", "never": "match"}, 10, False),
        ({"never": "match"}, None, True),  # alone: never-pulled images only
        ({"never": "match"}, 400, False),
        ({"newer_than": "7d"}, None, False),  # never defaults to skip
        ({"newer_than": "7d"}, 3, True),
        ({"newer_than": "7d", "never": "match"}, None, True),
        ({"older_than": "30d", "newer_than": "1y", "never": "match"}, None, True),
        ({"older_than": "30d", "newer_than": "1y", "never": "match"}, 400, False),
    ],
)
def test_last_pulled(rule: dict[str, str], pulled: float | None, expected: bool) -> None:
    assert selected([{"last_pulled": rule}], image("a", pulled=pulled)) is expected


def test_all_conditions_of_an_entry_must_hold_and_any_entry_selects() -> None:
    entry = {
        "currently_tagged": False,
        "last_pushed": OLD,
        "last_pulled": {**OLD, "never": "match"},
    }
    assert selected([entry], image("a", pushed=40, pulled=None))
    assert not selected([entry], image("a", pushed=40, pulled=5))
    assert not selected([entry], image("a", tags=["x"], pushed=40))
    other = {"tags": ["x"]}
    assert selected([entry, other], image("a", tags=["x"], pushed=40))


def test_reasons_name_every_condition_with_dates() -> None:
    policy = make_policy(
        [
            {
                "name": "untagged-and-cold",
                "currently_tagged": False,
                "last_pushed": {"older_than": "30d"},
                "last_pulled": {"older_than": "30d", "never": "match"},
            },
            {
                "name": "old-pr-builds",
                "tags": ["pr-*"],
                "last_pushed": {"older_than": "14d", "newer_than": "2y"},
                "current_tag": "delete",
            },
        ]
    )
    cold = one(policy, image("a", pushed=324, pulled=None))
    assert cold.verdict == "delete"
    assert cold.reasons == (
        "selected by 'untagged-and-cold': no current tag; last pushed 2026-01-02 "
        "(324 days ago) is older than 30d; never pulled (never: match)",
    )
    pr = one(policy, image("b", tags=["pr-7"], pushed=20, pulled=40))
    assert pr.reasons == (
        "selected by 'old-pr-builds': current tag 'pr-7' matches 'pr-*'; last pushed "
        "2026-11-02 (20 days ago) is older than 14d and newer than 2y",
    )
    assert (pr.selected_by, pr.current_tag) == ("old-pr-builds", "delete")
    main = one(policy, image("c", tags=["main", "pr-8"], pushed=20, pulled=2))
    assert main.verdict == "keep" and not main.candidate
    assert main.reasons == (
        "not selected: 'untagged-and-cold' fails: currently tagged ('main', 'pr-8')",
        "not selected: 'old-pr-builds' fails: current tag 'main' does not match pr-*",
    )
    recent = one(policy, image("d", pushed=3, pulled=3))
    assert recent.reasons[0] == (
        "not selected: 'untagged-and-cold' fails: last pushed 2026-11-19 (3 days ago) "
        "is not older than 30d"
    )


def test_every_matching_entry_is_listed_first_one_decides() -> None:
    policy = make_policy(
        [
            {"name": "a", "currently_tagged": False, "last_pushed": {"older_than": "7d"}},
            {"name": "b", "last_pushed": {"older_than": "30d"}, "current_tag": "delete"},
        ]
    )
    decision = one(policy, image("x", pushed=40))
    assert decision.selected_by == "a"
    assert decision.current_tag == "skip"
    assert decision.active_from == NOW - timedelta(days=7)
    assert [r.split(":")[0] for r in decision.reasons] == [
        "selected by 'a'",
        "also selected by 'b'",
    ]


@pytest.mark.parametrize(
    ("entry", "active_from"),
    [
        ({"last_pushed": {"older_than": "30d"}}, NOW - timedelta(days=30)),
        (
            {
                "last_pushed": {"older_than": "30d"},
                "last_pulled": {"older_than": "7d", "never": "match"},
            },
            NOW - timedelta(days=7),  # the smallest older_than: the latest cutoff
        ),
        ({"last_pushed": {"older_than": "1m"}}, datetime(2026, 10, 22, 12, tzinfo=UTC)),
        ({"last_pushed": {"newer_than": "1y"}, "currently_tagged": False}, NOW),
        ({"last_pulled": {"never": "match"}}, NOW),
    ],
)
def test_active_from_is_the_entrys_cutoff(entry: dict[str, Any], active_from: datetime) -> None:
    decision = one(make_policy([entry]), image("x", pushed=100, pulled=None))
    assert decision.candidate
    assert decision.active_from == active_from


# --------------------------------------------------------------------------- keep


ALL = [{"last_pushed": {"older_than": "1d"}}]


def _verdicts(keep: list[dict[str, Any]], *images: Image) -> dict[str, str]:
    plan = judge(make_policy(ALL, keep=keep), *images)
    return {d.image.digest[-1]: d.verdict for d in plan.decisions}


def test_most_recent_counts_all_images_newest_first() -> None:
    images = [image(c, pushed=days) for c, days in zip("abcde", [50, 10, 30, 20, 40], strict=True)]
    assert _verdicts([{"most_recent": 2}], *images) == {
        "a": "delete",
        "b": "keep",
        "c": "delete",
        "d": "keep",
        "e": "delete",
    }


def test_most_recent_counts_images_that_are_not_candidates() -> None:
    # the two newest are too young to be selected; they still fill most_recent: 2
    images = [image("a", pushed=0.5), image("b", pushed=0.7), image("c", pushed=30)]
    assert _verdicts([{"most_recent": 2}], *images) == {"a": "keep", "b": "keep", "c": "delete"}


def test_most_recent_ties_break_by_digest_and_unknown_pushes_rank_last() -> None:
    images = [
        image("b", pushed=10),
        image("a", pushed=10),
        image("c", pushed=None),
        image("d", pushed=40),
    ]
    plan = judge(make_policy([{"currently_tagged": False}], keep=[{"most_recent": 1}]), *images)
    kept = [d.image.digest[-1] for d in plan.decisions if d.kept_by]
    assert kept == ["a"]
    plan = judge(make_policy([{"currently_tagged": False}], keep=[{"most_recent": 3}]), *images)
    assert [d.image.digest[-1] for d in plan.decisions if d.verdict == "delete"] == ["c"]


def test_tags_keep_any_current_tag() -> None:
    images = [
        image("a", tags=["latest"]),
        image("b", tags=["pr-1", "stable"]),
        image("c", tags=["v1.2.3"]),
        image("d", tags=["v1.2.3-rc1"]),
        image("e", old_tags=["latest"]),  # a historical tag protects nothing
    ]
    keep = [{"tags": ["latest", "stable", "re:^v?\\d+\\.\\d+\\.\\d+$"]}]
    assert _verdicts(keep, *images) == {
        "a": "keep",
        "b": "keep",
        "c": "keep",
        "d": "delete",
        "e": "delete",
    }


def test_tags_with_most_recent_ranks_only_matching_images() -> None:
    images = [
        image("a", tags=["release-1"], pushed=50),
        image("b", tags=["release-2"], pushed=40),
        image("c", tags=["release-3"], pushed=30),
        image("d", tags=["nightly"], pushed=5),
        image("e", tags=["release-4", "nightly"], pushed=20),
    ]
    assert _verdicts([{"tags": ["release-*"], "most_recent": 2}], *images) == {
        "a": "delete",
        "b": "delete",
        "c": "keep",
        "d": "delete",
        "e": "keep",
    }


def test_pulled_and_pushed_within() -> None:
    images = [image("a", pulled=3), image("b", pulled=10), image("c", pulled=None)]
    assert _verdicts([{"pulled_within": "7d"}], *images) == {
        "a": "keep",
        "b": "delete",
        "c": "delete",
    }
    images = [image("a", pushed=3), image("b", pushed=10), image("c", pushed=None)]
    policy = make_policy([{"currently_tagged": False}], keep=[{"pushed_within": "7d"}])
    verdicts = {d.image.digest[-1]: d.verdict for d in judge(policy, *images).decisions}
    assert verdicts == {"a": "keep", "b": "delete", "c": "delete"}  # unknown push: not kept


def test_keep_wins_and_says_why() -> None:
    policy = make_policy(
        [{"name": "old", "last_pushed": {"older_than": "30d"}}],
        keep=[
            {"most_recent": 1},
            {"tags": ["latest"]},
            {"tags": ["release-*"], "most_recent": 3},
            {"pulled_within": "7d"},
        ],
    )
    plan = judge(
        policy,
        image("a", tags=["latest"], pushed=100, pulled=2),
        image("b", tags=["release-1"], pushed=200),
        image("c", pushed=60),
    )
    by_digest = {d.image.digest[-1]: d for d in plan.decisions}
    latest = by_digest["a"]
    assert latest.verdict == "keep" and latest.candidate
    assert latest.kept_by == ("keep[1]", "keep[3]")
    assert latest.reasons == (
        "kept by keep[1] tags: current tag 'latest' matches 'latest'",
        "kept by keep[3] pulled_within 7d: last pulled 2026-11-20 (2 days ago)",
        "selected by 'old': last pushed 2026-08-14 (100 days ago) is older than 30d",
    )
    assert by_digest["b"].reasons[0] == (
        "kept by keep[2] tags + most_recent 3: the 1st most recently pushed of 1 image "
        "with a matching current tag ('release-1' matches 'release-*')"
    )
    assert by_digest["c"].reasons[0] == (
        "kept by keep[0] most_recent 1: the 1st most recently pushed of 3 images"
    )


# --------------------------------------------------------------------------- plans


def test_decisions_are_sorted_by_digest_and_cover_every_image() -> None:
    images = [image(c, pushed=40) for c in "dbca"]
    plan = judge(make_policy(), *images)
    assert [d.image.digest[-1] for d in plan.decisions] == list("abcd")
    assert all(d.reasons for d in plan.decisions)


def test_platform_manifests_beside_their_index_are_not_judged_alone() -> None:
    index = image("i", pushed=40, children=(f"sha256:{'c1':0>64}", f"sha256:{'c2':0>64}"))
    child = image("c1", pushed=40)
    plan = judge(make_policy(), index, child, image("z", pushed=40))
    by_digest = {d.image.digest[-2:]: d for d in plan.decisions}
    assert by_digest["0i"].verdict == "delete"
    assert by_digest["c1"].verdict == "keep"
    assert by_digest["c1"].reasons[0].startswith("not judged alone: a platform manifest of")


def test_uncovered_repositories_are_kept_or_left_out() -> None:
    policy = make_policy(repositories={"exclude": ["web"]})
    plan = evaluate_repository(inventory(image("a", pushed=40)), policy, NOW)
    assert [d.verdict for d in plan.decisions] == ["keep"]
    assert plan.decisions[0].reasons == ("not covered: policy 't' does not cover repository 'web'",)
    other = RepositoryInventory(Repository("globex", "api"), (image("b", pushed=40),))
    assert (
        evaluate_repository(other, make_policy(), NOW)
        .decisions[0]
        .reasons[0]
        .startswith("not covered: policy 't' is for namespace 'acme', not 'globex'")
    )
    full = evaluate([inventory(image("a", pushed=40)), other], policy, NOW)
    assert full.repositories == ()


def test_evaluate_sorts_repositories_and_checks_limits() -> None:
    policy = make_policy(limits={"max_deletes": 1})
    invs = [
        inventory(image("a", pushed=40, repository="worker"), repository="worker"),
        inventory(image("b", pushed=40), repository="api"),
    ]
    plan = evaluate(invs, policy, NOW)
    assert [r.repository for r in plan.repositories] == ["api", "worker"]
    assert plan.refused
    assert [v.limit for v in plan.violations] == ["max_deletes"]
    assert plan.policy == "t" and plan.namespace == "acme" and plan.now == NOW


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate_repository(inventory(), make_policy(), datetime(2026, 1, 1))


def test_times_in_other_zones_are_reported_in_utc() -> None:
    tz = datetime(2026, 1, 2, 23, 30, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Pacific/Auckland")
    )
    img = Image("acme", "web", "sha256:a", last_pushed=tz)
    decision = one(make_policy([{"last_pushed": {"older_than": "30d"}}]), img)
    assert "last pushed 2026-01-02 (" in decision.reasons[0]


def test_odd_tags_do_not_break_reasons() -> None:
    img = Image(
        "acme",
        "web",
        "sha256:a",
        tags=(TagRef("x" * 10_000, True), TagRef("\ud800", True), TagRef("é", True)),
        last_pushed=NOW - timedelta(days=40),
    )
    policy = make_policy([{"tags": ["re:^x+$", "*"]}], keep=[{"tags": ["re:(a+)+$"]}])
    decision = one(policy, img)
    assert decision.verdict == "delete"
