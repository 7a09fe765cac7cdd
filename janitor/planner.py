"""Where a run's plan comes from, one repository at a time.

``run_once`` lists the repositories a planner covers and asks it for each repository's plan as
the listing arrives. The usual planner evaluates the policy (:class:`PolicyPlanner`); ``janitor
apply`` uses one that replays a saved plan after checking it against the fresh listing
(:class:`janitor.plans.apply.SavedPlanPlanner`). Everything after planning (limits, Hub's dry
run, warnings, batches, records, report) is the same run path either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from janitor.hub.models import RepositoryInventory
from janitor.plan import RepositoryPlan
from janitor.policy import Policy, evaluate_repository


class Planner(Protocol):
    @property
    def plan_hash(self) -> str | None:
        """The saved plan being applied (recorded with the run), or None."""
        ...

    def covers(self, repository: str) -> bool:
        """Whether to list the repository (a name without the namespace)."""
        ...

    def plan(self, inventory: RepositoryInventory, now: datetime) -> RepositoryPlan:
        """The decisions for one freshly listed repository."""
        ...

    def unlisted(self) -> Iterable[RepositoryPlan]:
        """Decisions to record for what the planner expected but the listing did not show,
        asked once the listing is complete."""
        ...


@dataclass(frozen=True)
class PolicyPlanner:
    """The plan is the policy's evaluation of the fresh listing."""

    policy: Policy
    plan_hash: str | None = None

    def covers(self, repository: str) -> bool:
        return self.policy.covers(repository)

    def plan(self, inventory: RepositoryInventory, now: datetime) -> RepositoryPlan:
        return evaluate_repository(inventory, self.policy, now)

    def unlisted(self) -> Iterable[RepositoryPlan]:
        return ()
