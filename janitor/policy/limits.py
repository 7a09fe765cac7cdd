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

RepositoryCounts = tuple[str, int, int]


def judged_images(plan: RepositoryPlan) -> int:
    """Images of the repository that were judged: platform manifests listed beside their
    multi-arch index are not images of their own and do not count."""
    children = {c for d in plan.decisions for c in d.image.children}
    if not children:
        return len(plan.decisions)
    return sum(1 for d in plan.decisions if d.image.digest not in children)


def _counts(item: RepositoryPlan | RepositoryCounts) -> RepositoryCounts:
    if isinstance(item, RepositoryPlan):
        deletes = sum(1 for d in item.decisions if d.verdict == "delete")
        return item.repository, judged_images(item), deletes
    repository, images, deletes = item
    return repository, int(images), int(deletes)


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
    total = 0
    for item in items:
        repository, images, deletes = _counts(item)
        total += deletes
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
    if limits.max_deletes is not None and total > limits.max_deletes:
        violations.append(
            LimitViolation(
                limit="max_deletes",
                allowed=limits.max_deletes,
                actual=total,
                repository=None,
                message=(
                    f"policy '{policy.name}' would delete {total} images in namespace "
                    f"{policy.namespace}; max_deletes allows {limits.max_deletes}"
                ),
            )
        )
    violations.extend(per_repository)
    return tuple(violations)
