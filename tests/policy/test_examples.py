"""The example policies in policies/ against an inventory like the demo's namespace."""

from __future__ import annotations

from pathlib import Path

from janitor.hub.models import RepositoryInventory
from janitor.policy import evaluate, load_policies

from .helpers import image, inventory
from .strategies import NOW

EXAMPLES = Path(__file__).parents[2] / "policies"
PROTECTED = {"latest", "stable", "v1.2.3", "v2.0.0"}


def _demo() -> list[RepositoryInventory]:
    invs = []
    for n, name in enumerate(["web", "api", "worker", "base-images", "docs", "legacy-tool"]):
        images = [
            image(f"{n}1", tags=["latest", "stable"], pushed=2, pulled=0.1, repository=name),
            image(f"{n}2", tags=["v1.2.3"], pushed=400, pulled=None, repository=name),
            image(f"{n}3", tags=["v2.0.0", "main"], pushed=200, pulled=100, repository=name),
            image(f"{n}4", tags=["pr-123"], pushed=90, pulled=None, repository=name),
            image(f"{n}5", tags=["pr-141"], pushed=5, pulled=4, repository=name),
            image(f"{n}6", tags=["main"], pushed=1, pulled=0.5, repository=name),
        ]
        images += [
            image(f"{n}{k}a", old_tags=["main"], pushed=10 + 30 * k, pulled=p, repository=name)
            for k, p in enumerate([None, 200, None, 45, 3, None, 400])
        ]
        invs.append(inventory(*images, repository=name))
    return invs


def test_examples_never_delete_release_or_moving_tags_and_stay_within_limits() -> None:
    invs = _demo()
    total = 0
    for policy in load_policies(EXAMPLES):
        plan = evaluate(invs, policy, NOW)
        assert not plan.violations, (policy.name, plan.violations)
        for decision in plan.to_delete:
            assert not PROTECTED & set(decision.image.current_tags), (policy.name, decision)
        total += len(plan.to_delete)
        if policy.name == "pr-builds":
            deleted = {d.image.current_tags for d in plan.to_delete}
            assert deleted == {("pr-123",)}  # old pr builds only; pr-141 is recent
        if policy.name == "never-pulled":
            assert all(d.image.last_pulled is None for d in plan.to_delete)
    assert total > 0
