"""Apply a saved plan: delete the images it planned to delete, and no others, after checking each
against Hub now.

Before anything is listed, :func:`check_plan` refuses a plan that is too old, made for another
Hub or namespace, made from a snapshot, or whose policy file changed since (unless allowed).

Then :class:`SavedPlanPlanner` feeds the ordinary run path (limits, Hub's dry run, warnings,
batches, records): it lists only the plan's repositories, evaluates the policy on the fresh
listing (with the protect list in force now) and lets an image go only when all of this holds:

- the plan said delete;
- Hub still lists it, with the same current tags, ``last_pushed`` and ``last_pulled``;
- the policy, judging the fresh listing now, still says delete (no keep rule and no protect list
  entry covers it, and its select entry still holds).

Every other planned image is kept with the reason it was skipped (``skipped: ...``), and an image
the policy would delete now but the plan did not hold is kept too: the run deletes a subset of
what was reviewed, never more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from janitor.errors import ConfigError
from janitor.hub.models import Image, RepositoryInventory, TagRef
from janitor.plan import Decision, RepositoryPlan
from janitor.plans.saved import (
    SNAPSHOT_BACKEND,
    PlanFileError,
    PlannedImage,
    SavedPlan,
    read_saved_plan,
)
from janitor.policy import Policy, evaluate_repository
from janitor.policy.durations import Duration, parse_duration
from janitor.policy.evaluation import PROTECT_LABEL
from janitor.units import iso

FUTURE_TOLERANCE_SECONDS = 300
"""A plan dated this far ahead of the clock is refused (clocks disagree by seconds, not hours)."""


def check_plan(
    saved: SavedPlan,
    policy: Policy,
    *,
    hub_url: str,
    now: datetime,
    max_age: Duration,
    allow_policy_change: bool,
) -> None:
    """Refuse, with one line, a plan that must not be applied here and now."""
    if saved.hub_url is None or saved.backend == SNAPSHOT_BACKEND:
        raise PlanFileError(
            "the plan was made from a snapshot file, not from Hub: plan against Hub to apply"
        )
    if saved.hub_url.rstrip("/") != hub_url.rstrip("/"):
        raise PlanFileError(
            f"the plan is for the Hub at {saved.hub_url}, and janitor is set for {hub_url} "
            "(JANITOR_HUB_URL)"
        )
    if saved.namespace != policy.namespace:
        raise PlanFileError(
            f"the plan is for namespace {saved.namespace!r}, and policy {policy.name!r} is for "
            f"{policy.namespace!r}"
        )
    if saved.as_of < max_age.before(now):
        age = (now - saved.as_of).days
        raise PlanFileError(
            f"the plan is {age} days old, older than {max_age} (JANITOR_PLAN_MAX_AGE): "
            "plan again and review the new plan"
        )
    if (saved.as_of - now).total_seconds() > FUTURE_TOLERANCE_SECONDS:
        raise PlanFileError(f"the plan is dated {saved.as_of.isoformat()}, in the future")
    if saved.policy_sha256 != policy.content_hash and not allow_policy_change:
        raise PlanFileError(
            f"policy {policy.name!r} ({policy.source}) changed since the plan was made "
            f"(plan: {saved.policy_sha256}, now: {policy.content_hash}): plan again, or pass "
            "--allow-policy-change to delete only what both the plan and the policy now delete"
        )


def planner_for(
    path: Path,
    load_policy: Callable[[str], Policy],
    *,
    hub_url: str,
    now: datetime,
    max_age: str,
    allow_policy_change: bool,
) -> SavedPlanPlanner:
    """Read the saved plan at ``path``, load its policy as it is now (with today's protect
    list), refuse what :func:`check_plan` refuses, and return the planner that applies it."""
    try:
        limit = parse_duration(max_age)
    except ValueError as exc:
        raise ConfigError(f"JANITOR_PLAN_MAX_AGE: {exc}") from None
    saved, plan_hash = read_saved_plan(path)
    policy = load_policy(saved.policy)
    check_plan(
        saved,
        policy,
        hub_url=hub_url,
        now=now,
        max_age=limit,
        allow_policy_change=allow_policy_change,
    )
    return SavedPlanPlanner(saved=saved, policy=policy, plan_hash=plan_hash, path=path)


@dataclass(frozen=True, slots=True)
class Skipped:
    repository: str
    digest: str
    reason: str


@dataclass
class SavedPlanPlanner:
    """A :class:`~janitor.planner.Planner` that replays a saved plan against the fresh listing."""

    saved: SavedPlan
    policy: Policy
    plan_hash: str | None
    path: Path | None = None
    skipped: list[Skipped] = field(default_factory=list)
    _wanted: dict[str, dict[str, PlannedImage]] = field(default_factory=dict)
    _listed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for image in self.saved.to_delete:
            self._wanted.setdefault(image.repository, {})[image.digest] = image

    @property
    def planned(self) -> int:
        return sum(len(images) for images in self._wanted.values())

    def covers(self, repository: str) -> bool:
        return repository in self._wanted

    def plan(self, inventory: RepositoryInventory, now: datetime) -> RepositoryPlan:
        repository = inventory.repository.name
        self._listed.add(repository)
        wanted = self._wanted.get(repository, {})
        fresh = evaluate_repository(inventory, self.policy, now)
        decisions = []
        for decision in fresh.decisions:
            planned = wanted.get(decision.image.digest)
            if planned is None:
                decisions.append(_not_in_plan(decision))
                continue
            why = _change(planned, decision)
            if why is None:
                decisions.append(self._confirmed(decision))
            else:
                decisions.append(self._skip(decision, planned, why))
        listed = {d.image.digest for d in fresh.decisions}
        decisions += [
            self._skip(None, planned, "Hub no longer lists it (deleted since the plan?)")
            for digest, planned in wanted.items()
            if digest not in listed
        ]
        decisions.sort(key=lambda d: d.image.digest)
        # Applying a saved plan deletes what it lists and nothing else: tags an action: untag
        # entry would remove now are left to a run of the policy.
        decisions = [replace(d, untag=()) if d.untag else d for d in decisions]
        return RepositoryPlan(fresh.namespace, repository, tuple(decisions))

    def unlisted(self) -> Iterable[RepositoryPlan]:
        for repository, wanted in self._wanted.items():
            if repository not in self._listed:
                why = "Hub no longer lists its repository"
                yield RepositoryPlan(
                    self.saved.namespace,
                    repository,
                    tuple(self._skip(None, p, why) for p in wanted.values()),
                )

    def _confirmed(self, decision: Decision) -> Decision:
        note = (
            f"in the saved plan {_short(self.plan_hash)} of "
            f"{self.saved.as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC; tags, push and pull "
            "unchanged since"
        )
        return replace(decision, reasons=(note, *decision.reasons))

    def _skip(self, decision: Decision | None, planned: PlannedImage, why: str) -> Decision:
        self.skipped.append(Skipped(planned.repository, planned.digest, why))
        reason = f"skipped: {why}; the saved plan {_short(self.plan_hash)} planned to delete it"
        if decision is None:
            return Decision(
                image=_image_of(planned, self.saved.namespace),
                verdict="keep",
                reasons=(reason,),
                candidate=True,
                selected_by=planned.selected_by,
            )
        return replace(
            decision,
            verdict="keep",
            reasons=(reason, *decision.reasons),
            candidate=True,
            selected_by=decision.selected_by or planned.selected_by,
        )


def _change(planned: PlannedImage, decision: Decision) -> str | None:
    """Why the image must not go now, or None when it is as planned and still to delete."""
    image = decision.image
    now_tags = image.current_tags
    if set(planned.tags) != set(now_tags):
        return (
            f"its tags changed since the plan (then {_tags(planned.tags)}, now {_tags(now_tags)})"
        )
    if planned.last_pushed != image.last_pushed:
        return (
            f"pushed since the plan (last pushed {_when(planned.last_pushed)} then, "
            f"{_when(image.last_pushed)} now)"
        )
    if planned.last_pulled != image.last_pulled:
        return (
            f"pulled since the plan (last pulled {_when(planned.last_pulled)} then, "
            f"{_when(image.last_pulled)} now)"
        )
    if decision.verdict == "delete":
        return None
    if PROTECT_LABEL in decision.kept_by:
        return decision.reasons[0]  # "protected by _protect.yaml: ..."
    if decision.kept_by:
        return f"a keep rule covers it now ({decision.reasons[0]})"
    first = decision.reasons[0] if decision.reasons else "no select entry holds"
    return f"the policy no longer selects it ({first})"


def _not_in_plan(decision: Decision) -> Decision:
    if decision.verdict != "delete":
        return decision
    return replace(
        decision,
        verdict="keep",
        reasons=(
            "not in the saved plan: the policy would delete it now, but janitor apply deletes "
            "only what the plan held",
            *decision.reasons,
        ),
    )


def _image_of(planned: PlannedImage, namespace: str) -> Image:
    return Image(
        namespace=namespace,
        repository=planned.repository,
        digest=planned.digest,
        tags=tuple(TagRef(t, True) for t in planned.tags),
        last_pushed=planned.last_pushed,
        last_pulled=planned.last_pulled,
        size=planned.size,
    )


def _tags(tags: Sequence[str]) -> str:
    return ", ".join(sorted(tags)) or "untagged"


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return iso(moment) or "never"


def _short(plan_hash: str | None) -> str:
    return plan_hash[:19] if plan_hash else "(unnamed)"
