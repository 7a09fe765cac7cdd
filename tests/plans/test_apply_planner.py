"""The saved-plan planner on its own: changes a fresh listing shows that no emulator is needed
for (a keep rule that covers an image now, a select entry that no longer holds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from janitor.hub.models import Image, Repository, RepositoryInventory, TagRef
from janitor.plans.apply import SavedPlanPlanner
from janitor.plans.saved import parse_plan_document, plan_document
from janitor.policy import Policy, evaluate, policy_from_data

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _image(n: int, days: int, tags: tuple[str, ...] = ()) -> Image:
    return Image(
        namespace="acme",
        repository="web",
        digest=f"sha256:{n:064x}",
        tags=tuple(TagRef(t, True) for t in tags),
        last_pushed=NOW - timedelta(days=days),
        last_pulled=None,
    )


def _inventory(*images: Image) -> RepositoryInventory:
    return RepositoryInventory(Repository("acme", "web"), images)


def _planner(policy: Policy, inventory: RepositoryInventory) -> SavedPlanPlanner:
    plan = evaluate([inventory], policy, NOW)
    text = plan_document(plan, policy, hub_url="https://hub.example", backend="delete-images")
    return SavedPlanPlanner(parse_plan_document(text), policy, plan_hash="sha256:" + "f" * 64)


def _policy(**fields: object) -> Policy:
    data = {"name": "p", "namespace": "acme", "select": [{"last_pushed": {"older_than": "30d"}}]}
    return policy_from_data(data | fields, Path("p.yaml"))


def test_an_image_a_keep_rule_covers_now_is_skipped() -> None:
    policy = _policy(keep=[{"most_recent": 2}])
    images = [_image(1, 1), _image(2, 5), _image(3, 40), _image(4, 90)]
    planner = _planner(policy, _inventory(*images))
    assert {i.digest for i in planner.saved.to_delete} == {images[2].digest, images[3].digest}
    # The two newest were deleted by someone else: image 3 is now among the 2 most recent.
    plan = planner.plan(_inventory(images[2], images[3]), NOW)
    verdicts = {d.image.digest: d for d in plan.decisions}
    assert verdicts[images[2].digest].verdict == "keep"
    assert (
        verdicts[images[2].digest]
        .reasons[0]
        .startswith(
            "skipped: a keep rule covers it now (kept by keep[0] most_recent 2: the 1st most "
            "recently pushed of 2 images)"
        )
    )
    assert verdicts[images[3].digest].verdict == "keep"  # the 2nd: kept as well


def test_an_image_the_policy_no_longer_selects_is_skipped() -> None:
    policy = _policy(select=[{"last_pushed": {"older_than": "30d", "newer_than": "100d"}}])
    image = _image(1, 90)
    planner = _planner(policy, _inventory(image))
    (decision,) = planner.plan(_inventory(image), NOW + timedelta(days=20)).decisions
    assert decision.verdict == "keep"
    assert decision.reasons[0].startswith("skipped: the policy no longer selects it (")
    assert [s.digest for s in planner.skipped] == [image.digest]


def test_a_planned_repository_hub_no_longer_lists_is_recorded() -> None:
    image = _image(1, 90)
    planner = _planner(_policy(), _inventory(image))
    assert planner.covers("web") and not planner.covers("api")
    (gone,) = planner.unlisted()
    (decision,) = gone.decisions
    assert decision.verdict == "keep"
    assert decision.reasons[0].startswith("skipped: Hub no longer lists its repository")
