"""Safety limits, checked on the whole plan: exceeding one refuses the plan, never cuts it.

``max_deletes`` bounds the deletes of one run in the namespace; ``max_fraction_per_repository``
bounds deletes / images in each repository. :func:`check_limits` takes the repository plans,
or ``(repository, images_in_repository, deletes)`` counts from code that streams repositories
and does not keep their plans.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from janitor.plan import LimitViolation, Plan, RepositoryPlan

if TYPE_CHECKING:
    from janitor.policy.model import Policy

RepositoryCounts = tuple[str, int, int] | tuple[str, int, int, int]
"""(repository, images, deletes[, tags removed by ``action: untag``])."""


def judged_images(plan: RepositoryPlan) -> int:
    """Images of the repository that were judged: platform manifests listed beside their
    multi-arch index are not images of their own and do not count."""
    children = {c for d in plan.decisions for c in d.image.children}
    if not children:
        return len(plan.decisions)
    return sum(1 for d in plan.decisions if d.image.digest not in children)


def _counts(item: RepositoryPlan | RepositoryCounts) -> tuple[str, int, int, int]:
    if isinstance(item, RepositoryPlan):
        deletes = sum(1 for d in item.decisions if d.verdict == "delete")
        untags = sum(len(d.untag) for d in item.decisions)
        return item.repository, judged_images(item), deletes, untags
    untags = item[3] if len(item) == 4 else 0
    return item[0], int(item[1]), int(item[2]), int(untags)


def check_limits(
    repository_plans: Plan | Iterable[RepositoryPlan | RepositoryCounts], policy: Policy
) -> tuple[LimitViolation, ...]:
    """Every limit the plan exceeds, ``max_deletes`` first, then repositories in the order
    given; an empty tuple when the plan is within the policy's limits."""
    items = (
        repository_plans.repositories if isinstance(repository_plans, Plan) else repository_plans
    )
    limits = policy.limits
    fraction = limits.max_fraction_per_repository
    per_repository: list[LimitViolation] = []
    total = removals = 0
    for item in items:
        repository, images, deletes, untags = _counts(item)
        total += deletes
        removals += untags
        if fraction is not None and images > 0 and deletes / images > fraction:
            actual = deletes / images
            per_repository.append(
                LimitViolation(
                    limit="max_fraction_per_repository",
                    allowed=fraction,
                    actual=actual,
                    repository=repository,
                    message=(
                        f"policy '{policy.name}' would delete {deletes} of {images} images "
                        f"({actual:.1%}) in {policy.namespace}/{repository}; "
                        f"max_fraction_per_repository allows {fraction:g} ({fraction:.0%})"
                    ),
                )
            )
    violations: list[LimitViolation] = []
    if limits.max_deletes is not None and total + removals > limits.max_deletes:
        what = f"delete {total} images"
        if removals:
            what += f" and remove {removals} tags (max_deletes counts both)"
        violations.append(
            LimitViolation(
                limit="max_deletes",
                allowed=limits.max_deletes,
                actual=total + removals,
                repository=None,
                message=(
                    f"policy '{policy.name}' would {what} in namespace "
                    f"{policy.namespace}; max_deletes allows {limits.max_deletes}"
                ),
            )
        )
    violations.extend(per_repository)
    return tuple(violations)
