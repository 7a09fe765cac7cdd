from __future__ import annotations

import pytest

from janitor.plan import Plan
from janitor.policy import check_limits, evaluate

from .helpers import image, inventory, make_policy
from .strategies import NOW


def _policy(**limits: object):  # type: ignore[no-untyped-def]
    return make_policy(limits=limits)


def test_within_limits_is_no_violation() -> None:
    policy = _policy(max_deletes=3, max_fraction_per_repository=0.5)
    assert check_limits([("web", 10, 3), ("api", 2, 0)], policy) == ()


def test_max_deletes_counts_the_whole_namespace() -> None:
    policy = _policy(max_deletes=4)
    (violation,) = check_limits([("web", 10, 3), ("api", 10, 2)], policy)
    assert violation.limit == "max_deletes"
    assert (violation.allowed, violation.actual, violation.repository) == (4, 5, None)
    assert violation.message == (
        "policy 't' would delete 5 images in namespace acme; max_deletes allows 4"
    )


def test_max_deletes_zero_refuses_any_delete() -> None:
    policy = _policy(max_deletes=0)
    assert check_limits([("web", 1, 0)], policy) == ()
    assert [v.limit for v in check_limits([("web", 1, 1)], policy)] == ["max_deletes"]


def test_fraction_is_per_repository_and_inclusive() -> None:
    policy = _policy(max_fraction_per_repository=0.8)
    assert check_limits([("web", 5, 4)], policy) == ()  # exactly 80% is allowed
    (violation,) = check_limits([("web", 5, 4), ("api", 10, 9)], policy)
    assert violation.limit == "max_fraction_per_repository"
    assert violation.repository == "api"
    assert violation.actual == pytest.approx(0.9)
    assert violation.message == (
        "policy 't' would delete 9 of 10 images (90.0%) in acme/api; "
        "max_fraction_per_repository allows 0.8 (80%)"
    )


def test_all_violations_are_reported_max_deletes_first() -> None:
    policy = _policy(max_deletes=1, max_fraction_per_repository=0.5)
    violations = check_limits([("web", 2, 2), ("api", 2, 2)], policy)
    assert [(v.limit, v.repository) for v in violations] == [
        ("max_deletes", None),
        ("max_fraction_per_repository", "web"),
        ("max_fraction_per_repository", "api"),
    ]


def test_empty_repositories_and_no_limits() -> None:
    assert check_limits([("web", 0, 0)], _policy(max_fraction_per_repository=0.1)) == ()
    assert check_limits([("web", 10, 10)], make_policy()) == ()


def test_plans_counts_and_generators_agree() -> None:
    policy = _policy(max_deletes=2, max_fraction_per_repository=0.5)
    invs = [
        inventory(image("a", pushed=40), image("b", pushed=40), image("c", pushed=0.1)),
        inventory(image("d", pushed=40, repository="api"), repository="api"),
    ]
    plan = evaluate(invs, policy, NOW)
    counts = [("api", 1, 1), ("web", 3, 2)]
    assert plan.violations == check_limits(counts, policy)
    assert check_limits(plan, policy) == plan.violations
    assert check_limits(iter(plan.repositories), policy) == plan.violations
    assert isinstance(plan, Plan) and plan.refused


def test_platform_manifests_do_not_count_as_images() -> None:
    child = f"sha256:{'c':0>64}"
    invs = [inventory(image("i", pushed=40, children=(child,)), image("c", pushed=40))]
    plan = evaluate(invs, _policy(max_fraction_per_repository=0.9), NOW)
    # one judged image, deleted: 100% > 90%, although two manifests are listed
    assert [v.actual for v in plan.violations] == [1.0]
