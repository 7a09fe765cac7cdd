"""End to end on the registry backend: ``janitor.engine.run_once`` with a RunContext (SQLite store
in tmp_path, real Hub and registry clients, the emulator with the image-management API gone).

``auto`` picks the registry backend for the namespace and the run record says so; a dry run
deletes nothing; a delete run removes exactly the planned images (children of indexes too) and
nothing a kept tag or index references; ``current_tag: skip`` leaves tagged images with the
reason; limits refuse; a failure half-way is recorded truthfully. The last test counts the Hub
and registry calls of a dry run and a delete run for both backends on the same namespace."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

from janitor.emulator.faults import Fault
from janitor.emulator.server import RunningEmulator
from janitor.emulator.state import load_seed
from janitor.engine import RunContext, run_once
from janitor.store import Store

from .conftest import (
    AOLD,
    APR,
    ASTABLE,
    B1,
    B2,
    B3,
    IDX,
    IDX_AMD64,
    IDX_ARM64,
    KEPT_AMD64,
    KEPT_ARM64,
    KEPT_IDX,
    LATEST,
    PLANNED,
    PR1,
    UNTAGGED,
    V1,
    World,
    hub_client,
    make_settings,
    registry_client,
    seed,
    serve,
    top_level,
    write_policy,
)

KEPT = {B3, LATEST, KEPT_IDX, V1, ASTABLE}


def deletes(emu: RunningEmulator) -> list[str]:
    return [e.path for e in emu.log.entries() if e.method == "DELETE"]


def test_a_dry_run_deletes_nothing(world: World) -> None:
    record = run_once(world.context(), world.policy(), trigger="manual", dry_run=True)
    assert record.status == "succeeded", record.error
    assert record.backend == "registry"
    assert record.metrics.would_delete == len(PLANNED)
    outcomes = world.outcomes(record.id)
    assert {d for d, o in outcomes.items() if o == "would_delete"} == PLANNED
    assert {d for d, o in outcomes.items() if o == "kept"} == KEPT
    assert deletes(world.hub) == []
    assert UNTAGGED in top_level(world.hub, "web")  # never listed, never judged
    # the run's call count covers the registry's calls (and its token service) too
    assert record.metrics.hub_calls == len(world.hub.log.entries())
    details = world.details(record.id)
    assert "build-1 would go with it" in (details[B1] or "")


def test_a_delete_run_removes_exactly_the_planned_images(world: World) -> None:
    record = run_once(world.context(), world.policy(), trigger="manual", dry_run=False)
    assert record.status == "succeeded", record.error
    assert record.backend == "registry"
    outcomes = world.outcomes(record.id)
    assert {d for d, o in outcomes.items() if o == "deleted"} == PLANNED
    assert record.metrics.deleted == len(PLANNED)
    assert record.hub_metrics.manifest_deletes == len(PLANNED) + 2  # IDX's two children
    assert record.hub_metrics.tag_deletes == len(PLANNED)
    assert top_level(world.hub, "web") == {B3, LATEST, KEPT_IDX, V1, UNTAGGED}
    assert top_level(world.hub, "api") == {ASTABLE}
    # nothing a kept tag or a kept index references was touched, nothing untagged left behind
    touched = " ".join(deletes(world.hub))
    for kept in (*KEPT, KEPT_AMD64, KEPT_ARM64):
        assert kept not in touched
    assert not {IDX_AMD64, IDX_ARM64} & top_level(world.hub, "web")
    with registry_client(world.hub) as registry:
        for tag, target in (("stable", KEPT_IDX), ("latest", LATEST), ("v1.0", V1)):
            assert registry.head_manifest("acme/web", tag).digest == target
        assert registry.get_manifest("acme/web", KEPT_IDX).children == (KEPT_AMD64, KEPT_ARM64)
        assert registry.head_manifest("acme/api", "stable").digest == ASTABLE
    # the next run finds nothing more to delete
    again = run_once(world.context(), world.policy(), trigger="manual", dry_run=False)
    assert again.status == "succeeded" and again.metrics.planned_deletes == 0


def test_current_tag_skip_leaves_tagged_images_with_the_reason(world: World) -> None:
    record = run_once(
        world.context(), world.policy(current_tag="skip"), trigger="manual", dry_run=False
    )
    assert record.status == "succeeded", record.error
    outcomes = world.outcomes(record.id)
    assert {d for d, o in outcomes.items() if o == "skipped_warning"} == PLANNED
    assert world.details(record.id)[B1] == (
        "skipped: currently tagged build-1; policy says current_tag: skip"
    )
    assert deletes(world.hub) == []
    assert top_level(world.hub, "web") | top_level(world.hub, "api") >= PLANNED


def test_limits_refuse_before_any_delete(world: World) -> None:
    policy = world.policy(limits="{max_deletes: 2}")
    record = run_once(world.context(), policy, trigger="manual", dry_run=False)
    assert record.status == "failed"
    assert "limits refuse" in (record.error or "")
    outcomes = world.outcomes(record.id)
    assert {d for d, o in outcomes.items() if o == "not_attempted"} == PLANNED
    assert deletes(world.hub) == []


def test_an_immutable_tag_is_an_error_of_that_image(world: World) -> None:
    policy = write_policy(
        world.tmp_path / "immutable",
        text="""
        name: releases
        namespace: acme
        mode: delete
        select:
          - name: ancient
            last_pushed: {older_than: 350d}
            current_tag: delete
        limits: {max_deletes: 10, max_fraction_per_repository: 1.0}
        """,
    )
    record = run_once(world.context(), policy, trigger="manual", dry_run=False)
    outcomes = world.outcomes(record.id)
    assert outcomes[V1] == "error"
    assert world.details(record.id)[V1] == "Hub: immutable_tag (dry run)"
    assert V1 in top_level(world.hub, "web")
    assert deletes(world.hub) == []


def test_a_failure_half_way_is_recorded_truthfully(world: World) -> None:
    world.hub.faults.add(Fault("status", method="DELETE", path="/manifests/", status=500))
    policy = world.policy()
    record = run_once(world.context(), policy, trigger="manual", dry_run=False)
    assert record.status == "failed"
    outcomes = world.outcomes(record.id)
    # api goes first (by name), and in it the batch with the older cutoff (old-builds): AOLD
    # lost its tag, its manifest DELETE failed and it is still there, untagged
    assert outcomes[AOLD] == "error"
    assert "still present" in (world.details(record.id)[AOLD] or "")
    assert AOLD in top_level(world.hub, "api")
    assert world.hub.state.image("acme", "api", AOLD).current_tags == []
    assert {d for d, o in outcomes.items() if o == "deleted"} == set()
    assert {d for d, o in outcomes.items() if o == "not_attempted"} == {APR, B1, B2, PR1, IDX}
    assert len([p for p in deletes(world.hub) if "/manifests/" in p]) == 1


# -- how many calls each backend makes -------------------------------------------------------------

EXPECTED_CALLS = {
    # backend: {run: {kind: calls}} for the seed in conftest.py: 2 repositories, 12 tags, 6 images
    # to delete in 4 batches (2 repositories x 2 select entries, each its own active_from), with
    # current_tag: delete. A dry run makes 1 call a batch, a delete run 2 (dry run, then the real
    # delete). delete-images: login, repositories, 2 x (images + tags), then 4 or 8 delete-images.
    # registry: login, repositories, 2 x tags; per call a check (tags + repository read); the
    # registry's ping and one token for both repositories (one request, a scope each); a delete
    # run adds per real call a fresh
    # tags listing after its tag DELETEs, per tag a DELETE, and per manifest a DELETE (6 images
    # and the 2 children of an index, known from the tags listing: 8). No HEAD: the check's
    # fresh listing confirms each tag; no GET: on Hub it is a pull. The first run of the process
    # also probes the manifests listing once (this emulator answers 404: untagged unseen), and
    # the first tag DELETE meets the path this strict Hub does not serve (405) once.
    "delete-images": {
        "dry run": {"hub": 10, "registry": 0},
        "delete run": {"hub": 14, "registry": 0},
    },
    "registry": {
        "dry run": {"hub": 13, "registry": 2},
        "delete run": {"hub": 31, "registry": 10},
    },
}


def _kind(path: str) -> str:
    return "registry" if path.startswith("/registry/") else "hub"


def count_calls(emu: RunningEmulator) -> dict[str, int]:
    counts = Counter(_kind(e.path) for e in emu.log.entries())
    return {"hub": counts["hub"], "registry": counts["registry"]}


def breakdown(emu: RunningEmulator) -> str:
    paths = Counter(
        f"{e.method} {re.sub(r'sha256:[0-9a-f]{64}|/tags/[^/]+$', '…', e.path)}"
        for e in emu.log.entries()
    )
    return "; ".join(f"{n} x {p}" for p, n in sorted(paths.items()))


def test_calls_of_both_backends_on_the_same_namespace(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """A dry run then a delete run of the same policy, each backend on its own copy of the seed
    (the delete-images copy keeps the image-management API). The counts include the login and
    every page; the registry backend's extra calls are its token flow, the tags listing read
    again by every check, the repository read for immutable tags, one HEAD per tag before its
    DELETE, and a DELETE per tag and per manifest."""
    seen: dict[str, dict[str, dict[str, int]]] = {}
    explained: list[str] = []
    for backend, image_management in (("delete-images", True), ("registry", "gone")):
        with serve(load_seed(seed(image_management))) as emu:
            db = tmp_path / f"{backend}.db"
            shutil.copyfile(sqlite_template, db)
            with Store(f"sqlite:///{db}") as store:
                settings = make_settings(emu, tmp_path / backend, backend).with_overrides(
                    batch_size=3
                )
                policy = write_policy(tmp_path / backend / "policies")
                context = RunContext(
                    settings=settings, store=store, hub_factory=lambda emu=emu: hub_client(emu)
                )
                seen[backend] = {}
                for name, dry_run in (("dry run", True), ("delete run", False)):
                    emu.log.clear()
                    record = run_once(context, policy, trigger="manual", dry_run=dry_run)
                    assert record.status == "succeeded", record.error
                    assert record.backend == backend
                    seen[backend][name] = count_calls(emu)
                    explained.append(f"{backend}, {name}: {breakdown(emu)}")
                assert top_level(emu, "api") == {ASTABLE}
    assert seen == EXPECTED_CALLS, "\n".join(explained)
