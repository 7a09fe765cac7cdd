"""janitor's main job, end to end: the emulator over HTTP, a real store (SQLite and PostgreSQL),
the real client, policies from files. Each test states the scenario and checks the emulator's
state and request log against the run's record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from janitor.emulator.faults import Fault
from janitor.engine import run_once
from janitor.hub.models import ManifestRef
from tests.runs.conftest import (
    API_OLD,
    API_PR,
    API_STABLE,
    INDEX_OLD,
    LATEST,
    PR_1,
    PR_IMAGES,
    UNTAGGED_COLD,
    UNTAGGED_NEW,
    UNTAGGED_OLD,
    UNTAGGED_PLAN,
    Outcomes,
    World,
)


def test_a_dry_run_deletes_nothing_and_records_what_would_go(
    world: World, outcomes: Outcomes
) -> None:
    before = world.all_digests()
    record = run_once(world.context(), world.policy(), trigger="cli", dry_run=True)

    assert record.status == "succeeded", record.error
    assert world.all_digests() == before
    assert world.delete_calls(dry_run=False) == []
    # one call per repository and select entry: each entry sends its own active_from cutoff
    calls = world.delete_calls(dry_run=True)
    assert len(calls) == 4
    assert len({(c["manifests"][0]["repository"], c["active_from"]) for c in calls}) == 4
    got = outcomes(record.id)
    assert {d for d, o in got.items() if o == "would_delete"} == UNTAGGED_PLAN
    # current_tag: skip -> the tagged PR builds are skipped, with the reason recorded
    assert {d for d, o in got.items() if o == "skipped_warning"} == PR_IMAGES
    details = {d.digest: d.detail for d in world.store.decisions(record.id)}
    assert "current_tag: skip" in (details[PR_1] or "")
    assert got[LATEST] == got[UNTAGGED_NEW] == got[API_STABLE] == "kept"
    m = record.metrics
    assert (m.images_scanned, m.planned_deletes, m.would_delete, m.skipped_by_warning) == (
        9,
        6,
        4,
        2,
    )
    assert m.deleted == 0 and record.dry_run
    assert m.hub_calls > 0 and record.backend == "delete-images"


def test_a_delete_run_removes_exactly_the_planned_images(world: World, outcomes: Outcomes) -> None:
    before = world.all_digests()
    record = run_once(world.context(), world.policy(), trigger="cli", dry_run=False)

    assert record.status == "succeeded", record.error
    assert before - world.all_digests() == UNTAGGED_PLAN
    got = outcomes(record.id)
    assert {d for d, o in got.items() if o == "deleted"} == UNTAGGED_PLAN
    assert {d for d, o in got.items() if o == "skipped_warning"} == PR_IMAGES
    # every real call came after a dry run of the same manifests and ignored nothing
    real = world.delete_calls(dry_run=False)
    assert real and all(not call.get("ignore_warnings") for call in real)
    # Hub's own metrics, as Hub gave them: the index counts with its two children
    h = record.hub_metrics
    assert (h.manifest_deletes, h.tag_deletes) == (6, 0)
    assert record.metrics.deleted == 4
    # Hub gives sizes only through tags: untagged images have none, so none is claimed
    assert record.metrics.bytes_reclaimed is None


def test_current_tag_delete_goes_through_ignore_warnings(world: World, outcomes: Outcomes) -> None:
    record = run_once(
        world.context(), world.policy(current_tag="delete"), trigger="cli", dry_run=False
    )

    assert record.status == "succeeded", record.error
    got = outcomes(record.id)
    assert {d for d, o in got.items() if o == "deleted"} == UNTAGGED_PLAN | PR_IMAGES
    ignored = [
        w for call in world.delete_calls(dry_run=False) for w in call.get("ignore_warnings") or []
    ]
    assert sorted((w["digest"], w["warning"], tuple(w["tags"])) for w in ignored) == sorted(
        [(PR_1, "current_tag", ("pr-1",)), (API_PR, "current_tag", ("pr-9",))]
    )
    assert record.hub_metrics.tag_deletes == 2
    assert record.metrics.bytes_reclaimed == 2000  # the two tagged images' sizes, from their tags
    assert API_STABLE in world.digests("api")  # kept: one of its tags is kept


def test_limits_refuse_before_the_first_delete(world: World, outcomes: Outcomes) -> None:
    record = run_once(
        world.context(), world.policy(limits="{max_deletes: 3}"), trigger="cli", dry_run=False
    )

    assert record.status == "failed"
    assert "max_deletes" in (record.error or "") and "6" in (record.error or "")
    assert world.delete_calls(dry_run=False) == world.delete_calls(dry_run=True) == []
    assert set(outcomes(record.id).values()) <= {"kept", "not_attempted"}


def test_a_5xx_in_the_middle_of_the_batches_leaves_a_truthful_record(
    world: World, outcomes: Outcomes
) -> None:
    """Batches of one image; the second real delete answers 503 (not applied)."""
    real_calls = 0

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        nonlocal real_calls
        if not dry_run and when == "before":
            real_calls += 1
            if real_calls == 2:
                world.hub.faults.add(Fault("status", method="POST", status=503, times=1))

    ctx = world.hooked(hook, settings=world.settings.with_overrides(batch_size=1))
    before = world.all_digests()
    record = run_once(ctx, world.policy(), trigger="cli", dry_run=False)

    assert record.status == "failed" and "503" in (record.error or "")
    got = outcomes(record.id)
    gone = before - world.all_digests()
    assert {d for d, o in got.items() if o == "deleted"} == gone
    assert len(gone) == 1
    assert sum(o == "error" for o in got.values()) == 1
    # api's pr-9 build was skipped (current_tag) before the failure; the rest was not attempted
    assert sum(o == "skipped_warning" for o in got.values()) == 1
    assert sum(o == "not_attempted" for o in got.values()) == record.metrics.planned_deletes - 3
    assert record.metrics.deleted == 1


def test_a_5xx_after_hub_applied_the_delete_is_confirmed_not_repeated(
    world: World, outcomes: Outcomes
) -> None:
    """Hub deletes api's image (repositories go in name order: api first), then answers 500:
    janitor re-checks, records it deleted, never sends the delete again, and stops the run."""

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if not dry_run and when == "before" and manifests[0].repository == "api":
            world.hub.faults.add(
                Fault(
                    "status",
                    method="POST",
                    path="delete-images",
                    status=500,
                    after_apply=True,
                    times=1,
                )
            )

    record = run_once(world.hooked(hook), world.policy(), trigger="cli", dry_run=False)

    assert record.status == "failed"
    assert API_OLD not in world.digests("api")  # Hub applied it
    got = outcomes(record.id)
    assert got[API_OLD] == "deleted"  # confirmed by the re-check
    detail = next(d.detail for d in world.store.decisions(record.id) if d.digest == API_OLD)
    assert "re-check" in (detail or "")
    api_real = [
        c for c in world.delete_calls(dry_run=False) if c["manifests"][0]["repository"] == "api"
    ]
    assert len(api_real) == 1  # sent once, never repeated
    web_plan = {UNTAGGED_OLD, UNTAGGED_COLD, INDEX_OLD}
    assert all(got[d] == "not_attempted" for d in web_plan)  # the run stopped after the failure
    assert web_plan <= world.digests("web")


def test_a_tag_added_after_the_dry_run_skips_the_image(world: World, outcomes: Outcomes) -> None:
    """current_tag: delete accepted pr-1 in the dry run; someone tags it `keep-me` before the
    delete: Hub refuses, janitor skips it with the reason and deletes the rest."""

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if dry_run and when == "after" and any(m.digest == PR_1 for m in manifests):
            world.hub.state.tag_image("acme", "web", PR_1, "keep-me")

    record = run_once(
        world.hooked(hook), world.policy(current_tag="delete"), trigger="cli", dry_run=False
    )

    got = outcomes(record.id)
    assert got[PR_1] == "skipped_warning"
    assert PR_1 in world.digests("web")
    detail = next(d.detail for d in world.store.decisions(record.id) if d.digest == PR_1)
    assert "keep-me" in (detail or "") and "after the dry run" in (detail or "")
    assert {d for d, o in got.items() if o == "deleted"} == UNTAGGED_PLAN | {API_PR}
    assert record.status == "succeeded"


def test_an_image_deleted_by_someone_else_is_not_claimed(world: World, outcomes: Outcomes) -> None:
    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if dry_run and when == "after" and any(m.digest == API_OLD for m in manifests):
            world.hub.state.delete_images("acme", "api", [API_OLD])

    record = run_once(world.hooked(hook), world.policy(), trigger="cli", dry_run=False)

    got = outcomes(record.id)
    assert got[API_OLD] == "error"
    detail = next(d.detail for d in world.store.decisions(record.id) if d.digest == API_OLD)
    assert "not_found" in (detail or "")
    assert record.metrics.deleted == 3


def test_an_image_pulled_after_the_plan_is_skipped_as_active(
    world: World, outcomes: Outcomes
) -> None:
    from datetime import UTC

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if dry_run and when == "after" and any(m.digest == UNTAGGED_COLD for m in manifests):
            world.hub.state.record_pull("acme", "web", UNTAGGED_COLD, datetime.now(UTC))

    record = run_once(world.hooked(hook), world.policy(), trigger="cli", dry_run=False)

    got = outcomes(record.id)
    assert got[UNTAGGED_COLD] == "skipped_warning"
    assert UNTAGGED_COLD in world.digests("web")
    detail = next(d.detail for d in world.store.decisions(record.id) if d.digest == UNTAGGED_COLD)
    assert "active" in (detail or "")


def test_a_stop_request_ends_the_run_interrupted_and_recorded(
    world: World, outcomes: Outcomes
) -> None:
    ctx = world.context()
    ctx.stop.set()
    record = run_once(ctx, world.policy(), trigger="schedule", dry_run=False)
    assert record.status == "interrupted"
    assert world.delete_calls(dry_run=False) == []
    assert "pending" not in outcomes(record.id).values()


def test_the_library_namespace_is_refused(world: World) -> None:
    import pytest

    from janitor.policy import PolicyLoadError

    folder = world.tmp_path / "bad"
    folder.mkdir()
    (folder / "lib.yaml").write_text("namespace: library\nselect:\n  - currently_tagged: false\n")
    from janitor.policy import load_policies

    with pytest.raises(PolicyLoadError, match="library"):
        load_policies(folder)
