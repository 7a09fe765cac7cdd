"""Properties of the evaluator over generated inventories and policies.

- matches a plain reference model of the semantics (tests/policy/reference.py)
- keep always wins; an image whose current tags include a kept tag is never deleted
- verdicts do not depend on the order of images or repositories
- moving ``now`` forward never un-deletes an image selected by age alone
- a never-pulled image follows the explicit ``never`` rule
- evaluate never raises, and every plan is well formed
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from janitor.hub.models import Image, RepositoryInventory, TagRef
from janitor.plan import Plan
from janitor.policy import check_limits, evaluate, evaluate_repository, policy_from_data

from . import reference
from .strategies import (
    DURATIONS,
    NOWS,
    REPOSITORIES,
    TAG_ALPHABET,
    TAG_PATTERNS,
    _replace,
    inventories,
    moments,
    policy_data,
    scenarios,
)

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

nows = NOWS
Scenario = tuple[dict[str, Any], list[RepositoryInventory], datetime]


def _policy(data: dict[str, Any]) -> Any:
    return policy_from_data(data, "generated.yaml")


@SETTINGS
@given(scenario=scenarios())
def test_matches_the_reference_model(scenario: Scenario) -> None:
    data, (inv,), now = scenario
    plan = evaluate_repository(inv, _policy(data), now)
    expected = reference.judge(data, inv, now)
    assert len(plan.decisions) == len(inv.images)
    for decision in plan.decisions:
        want = expected[decision.image.digest]
        got = (decision.verdict, decision.candidate, decision.selected_by, decision.kept_by)
        assert got == (want.verdict, want.candidate, want.selected_by, want.kept_by), decision


@SETTINGS
@given(scenario=scenarios())
def test_keep_always_wins(scenario: Scenario) -> None:
    data, (inv,), now = scenario
    plan = evaluate_repository(inv, _policy(data), now)
    for decision in plan.decisions:
        if decision.kept_by:
            assert decision.verdict == "keep"
            assert decision.reasons[0].startswith("kept by ")
        if decision.verdict == "delete":
            assert decision.candidate and not decision.kept_by


@SETTINGS
@given(scenario=scenarios(), kept=st.lists(st.sampled_from(TAG_PATTERNS), min_size=1, max_size=3))
def test_an_image_with_a_kept_tag_is_never_deleted(scenario: Scenario, kept: list[str]) -> None:
    data, (inv,), now = scenario
    data["keep"].append({"tags": kept})
    plan = evaluate_repository(inv, _policy(data), now)
    for decision in plan.decisions:
        tags = reference.current_tags(decision.image)
        if reference.subjects_of(decision.image) is not None:
            continue  # a companion follows its subject: tag patterns never match it
        if any(reference.matches(p, t) for p in kept for t in tags):
            assert decision.verdict == "keep", decision


@settings(SETTINGS, max_examples=100)
@given(scenario=scenarios(repositories=3), seed=st.integers(0, 2**32))
def test_verdicts_do_not_depend_on_input_order(scenario: Scenario, seed: int) -> None:
    data, invs, now = scenario
    policy = _policy(data)
    rng = random.Random(seed)
    shuffled = []
    for inv in invs:
        images = list(inv.images)
        rng.shuffle(images)
        shuffled.append(RepositoryInventory(inv.repository, tuple(images)))
    rng.shuffle(shuffled)
    assert evaluate(shuffled, policy, now) == evaluate(invs, policy, now)


@SETTINGS
@given(
    scenario=scenarios(newer=False),
    later=st.one_of(st.sampled_from([1, 3600, 86400]), st.integers(0, 800 * 86400)),
)
def test_moving_now_forward_never_undeletes_an_image_selected_by_age(
    scenario: Scenario, later: int
) -> None:
    data, (inv,), now = scenario
    policy = _policy(data)
    before = evaluate_repository(inv, policy, now)
    after = evaluate_repository(inv, policy, now + timedelta(seconds=later))
    deleted_before = {d.image.digest for d in before.decisions if d.verdict == "delete"}
    deleted_after = {d.image.digest for d in after.decisions if d.verdict == "delete"}
    assert deleted_before <= deleted_after


@SETTINGS
@given(
    never=st.sampled_from(["match", "skip"]),
    older=st.sampled_from(DURATIONS),
    extra=st.sampled_from([{}, {"currently_tagged": False}, {"last_pushed": {"older_than": "1h"}}]),
    inv=inventories(multiarch=False),
    now=nows,
)
def test_a_never_pulled_image_follows_the_explicit_rule(
    never: str, older: str, extra: dict[str, Any], inv: RepositoryInventory, now: datetime
) -> None:
    entry = {"name": "cold", "last_pulled": {"older_than": older, "never": never}, **extra}
    policy = _policy({"name": "p", "namespace": "acme", "select": [entry]})
    plan = evaluate_repository(inv, policy, now)
    for decision in plan.decisions:
        if decision.image.last_pulled is not None:
            continue
        others_hold = reference.entry_holds(extra, decision.image, now) if extra else True
        assert decision.candidate is (never == "match" and others_hold)
        if others_hold:
            assert f"never pulled (never: {never})" in " ".join(decision.reasons)


odd_tags = st.lists(
    st.builds(
        TagRef,
        tag=st.text(max_size=40) | st.text(TAG_ALPHABET, max_size=3),
        is_current=st.booleans(),
    ),
    max_size=4,
).map(tuple)
wide_nows = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
)


@st.composite
def odd_inventories(draw: st.DrawFn) -> RepositoryInventory:
    inv = draw(inventories(max_images=8))
    images: list[Image] = []
    for image in inv.images:
        images.append(
            _replace(
                image,
                tags=draw(odd_tags),
                last_pushed=draw(st.none() | moments() | wide_nows),
                last_pulled=draw(st.none() | moments() | wide_nows),
            )
        )
    return RepositoryInventory(inv.repository, tuple(images))


@settings(SETTINGS, max_examples=100)
@given(data=policy_data(), invs=st.lists(odd_inventories(), max_size=3), now=wide_nows | nows)
def test_evaluate_never_raises_and_plans_are_well_formed(
    data: dict[str, Any], invs: list[RepositoryInventory], now: datetime
) -> None:
    policy = _policy(data)
    plan: Plan = evaluate(invs, policy, now)
    assert [r.repository for r in plan.repositories] == sorted(
        r.repository for r in plan.repositories
    )
    for repository in plan.repositories:
        digests = [d.image.digest for d in repository.decisions]
        assert digests == sorted(digests)
        for decision in repository.decisions:
            assert decision.reasons and all(isinstance(r, str) and r for r in decision.reasons)
            assert (decision.selected_by is not None) is decision.candidate
            if decision.candidate:
                assert decision.active_from is not None and decision.active_from <= now
            else:
                assert decision.active_from is None and decision.current_tag == "skip"
    counts = [
        (r.repository, len(r.decisions), sum(d.verdict == "delete" for d in r.decisions))
        for r in plan.repositories
        if not any(d.image.children for d in r.decisions)
    ]
    plans = [r for r in plan.repositories if not any(d.image.children for d in r.decisions)]
    assert check_limits(counts, policy) == check_limits(plans, policy)


def test_repository_names_used_by_strategies_are_valid() -> None:
    for name in REPOSITORIES:
        assert _policy(
            {
                "name": "p",
                "namespace": "acme",
                "select": [{"currently_tagged": False}],
                "repositories": {"include": [name]},
            }
        ).covers(name)
