"""Records tell the truth (issue 20, point 7): each test is a fault that made janitor record
something untrue before, run through the one run path against the emulator and a real store.

Plan of the policy used (``UNTAGGED_POLICY``): API_OLD in ``api`` (first), then UNTAGGED_OLD,
UNTAGGED_COLD and INDEX_OLD (an index with two platform manifests) in ``web``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from janitor.cli import cli
from janitor.emulator.faults import Fault
from janitor.engine import lease_name, run_once
from janitor.hub.client import HubClient
from janitor.hub.models import (
    DeleteMetrics,
    DeleteResult,
    DeleteWarning,
    ManifestRef,
)
from janitor.records import RunRecord
from janitor.store import Store
from tests.reliability.conftest import (
    UNTAGGED_POLICY,
    EmulatorFactory,
    Rig,
    check_truthful,
    cli_env,
    details,
    run_outcomes,
)
from tests.runs.conftest import API_OLD, INDEX_OLD, UNTAGGED_COLD, UNTAGGED_OLD, HookedBackend

PLAN = {API_OLD, UNTAGGED_OLD, UNTAGGED_COLD, INDEX_OLD}


def real(manifests: Sequence[ManifestRef], dry_run: bool, repository: str) -> bool:
    return not dry_run and manifests[0].repository == repository


def dry(manifests: Sequence[ManifestRef], dry_run: bool, repository: str) -> bool:
    return dry_run and manifests[0].repository == repository


def run_with_api_delete_dropped(rig: Rig) -> RunRecord:
    """A run whose real delete of api gets no answer (the connection drops; Hub never got it):
    API_OLD is left ``unconfirmed``."""

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when == "before" and real(manifests, dry_run, "api"):
            rig.hub.faults.add(Fault("drop", method="POST", path="delete-images"))

    failed = run_once(rig.hooked(hook), rig.untagged_policy(), trigger="cli", dry_run=False)
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "unconfirmed"
    rig.hub.faults.clear()
    return failed


# ------------------------------------------------------------------- unanswered real deletes


def test_a_delete_hub_applies_late_is_claimed_by_the_run_that_sent_it(rig: Rig) -> None:
    """Fault: run 1's delete of API_OLD goes unanswered and Hub applies it late, after the next
    run (started at once) listed the image. Before: run 2's listing settled run 1 "not deleted",
    run 2 sent the delete again, got ``not_found`` and recorded an error: nobody claimed the
    deletion. Now run 1's item stays unconfirmed through the grace period, and run 2's
    ``not_found`` settles it deleted; run 2 records no error."""
    before = rig.all_digests()
    failed = run_with_api_delete_dropped(rig)

    def apply_late(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when == "after" and dry(manifests, dry_run, "api"):
            rig.hub.state.delete_images("acme", "api", [API_OLD])  # run 1's delete lands now

    again = run_once(rig.hooked(apply_late), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert again.status == "succeeded", again.error
    assert again.metrics.errors == 0
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "deleted"
    assert "not_found" in details(rig.store, failed.id)[API_OLD]
    (item,) = [d for d in rig.store.decisions(again.id) if d.digest == API_OLD]
    assert item.outcome == "not_attempted" and item.hub_code == "not_found"
    assert f"run {failed.id} sent took effect" in (item.detail or "")
    settled = rig.store.get_run(failed.id)  # it stopped after api: web was not attempted
    assert settled is not None and (settled.metrics.deleted, settled.metrics.errors) == (1, 0)
    check_truthful(rig, before, [failed.id, again.id], extra_applied={API_OLD})


@pytest.mark.parametrize(
    ("later", "expected"),
    [(timedelta(minutes=1), "unconfirmed"), (timedelta(minutes=16), "error")],
    ids=["within-grace", "after-grace"],
)
def test_a_listing_settles_an_unanswered_delete_as_not_deleted_only_after_the_grace_period(
    rig: Rig, later: timedelta, expected: str
) -> None:
    """The next run's listing still shows API_OLD. Within JANITOR_UNCONFIRMED_GRACE_SECONDS
    (default 900) of the unanswered delete it stays ``unconfirmed`` (Hub may still apply it);
    after it, it is settled "not deleted". Either way the run then deletes the image itself, and
    exactly one run claims the deletion."""
    assert rig.settings.unconfirmed_grace_seconds == 900
    before = rig.all_digests()
    failed = run_with_api_delete_dropped(rig)
    seen: dict[str, str] = {}

    def look(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when == "before" and dry(manifests, dry_run, "api"):
            seen["at the dry run"] = run_outcomes(rig.store, failed.id)[API_OLD]

    clock = lambda: datetime.now(UTC) + later  # noqa: E731
    again = run_once(
        rig.hooked(look, clock=clock), rig.untagged_policy(), trigger="cli", dry_run=False
    )

    assert seen["at the dry run"] == expected
    assert again.status == "succeeded", again.error
    assert run_outcomes(rig.store, again.id)[API_OLD] == "deleted"
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "error"
    assert "did not apply" in details(rig.store, failed.id)[API_OLD]
    check_truthful(rig, before, [failed.id, again.id])


# --------------------------------------------------------------------- Hub's metrics, checked


class DoctoredAnswers(HookedBackend):
    """The real delete-images backend over HTTP, whose real deletes' 200 answers are doctored:
    ``nothing`` answers ``manifest_deletes: 0`` without sending the call (Hub deleted nothing);
    ``inflated`` sends it and answers 1,999,998 deletes."""

    def __init__(self, client: HubClient, mode: str) -> None:
        super().__init__(client, lambda manifests, dry_run, when: None)
        self.mode = mode

    def delete_images(
        self,
        namespace: str,
        manifests: Sequence[ManifestRef],
        *,
        dry_run: bool,
        active_from: datetime | None = None,
        ignore_warnings: Sequence[DeleteWarning] = (),
    ) -> DeleteResult:
        if not dry_run and self.mode == "nothing":
            return DeleteResult(dry_run=False, accepted=True, metrics=DeleteMetrics())
        result = self.inner.delete_images(
            namespace,
            manifests,
            dry_run=dry_run,
            active_from=active_from,
            ignore_warnings=ignore_warnings,
        )
        if not dry_run and self.mode == "inflated" and result.accepted:
            return DeleteResult(
                dry_run=False,
                accepted=True,
                metrics=DeleteMetrics(manifest_deletes=1_999_998, tag_deletes=999),
            )
        return result


def test_a_200_that_deleted_nothing_is_not_recorded_as_deletes(rig: Rig) -> None:
    """Fault: Hub answers the real deletes 200 with ``manifest_deletes: 0`` and deletes
    nothing. Before: every image was recorded ``deleted`` (and the next run recorded them
    deleted again). Now the disagreement is re-checked: nothing is gone, so nothing is recorded
    deleted; the next run deletes them, once."""
    before = rig.all_digests()
    ctx = rig.context(backend_factory=lambda client, ns: DoctoredAnswers(client, "nothing"))
    record = run_once(ctx, rig.untagged_policy(), trigger="cli", dry_run=False)

    assert rig.all_digests() == before
    outcomes = run_outcomes(rig.store, record.id)
    assert {outcomes[d] for d in PLAN} == {"error"}
    assert all("reported 0 manifest delete(s)" in details(rig.store, record.id)[d] for d in PLAN)
    assert record.metrics.deleted == 0 and record.hub_metrics.manifest_deletes == 0
    again = run_once(rig.context(), rig.untagged_policy(), trigger="cli", dry_run=False)
    assert {run_outcomes(rig.store, again.id)[d] for d in PLAN} == {"deleted"}
    check_truthful(rig, before, [record.id, again.id])


def test_inflated_metrics_are_never_stored(rig: Rig) -> None:
    """Fault: Hub deletes the images and answers 1,999,998 manifest deletes. Before: stored as
    is. Now the disagreement is re-checked (every image is gone: recorded deleted) and the run
    stores no more than what its images hold, as Hub's own dry run counted them."""
    before = rig.all_digests()
    ctx = rig.context(backend_factory=lambda client, ns: DoctoredAnswers(client, "inflated"))
    record = run_once(ctx, rig.untagged_policy(), trigger="cli", dry_run=False)

    assert record.status == "succeeded", record.error
    assert {run_outcomes(rig.store, record.id)[d] for d in PLAN} == {"deleted"}
    h = record.hub_metrics
    assert h.manifest_deletes == len(PLAN) + 2  # INDEX_OLD's two platform manifests
    assert h.tag_deletes == 0
    check_truthful(rig, before, [record.id])


# ------------------------------------------------------------- janitor run over several policies


SECOND_POLICY = UNTAGGED_POLICY.replace("name: untagged", "name: zz-second")


def test_a_lease_conflict_on_a_later_policy_keeps_the_earlier_summaries(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """Fault: another process runs the second policy. Before: "nothing was done", exit 1, and
    the first policy's summary (4 images deleted) was dropped. Now every finished policy's
    summary is printed, then the conflict, exit 1."""
    hub = emulator_factory()
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "a-untagged.yaml").write_text(UNTAGGED_POLICY)
    (folder / "b-second.yaml").write_text(SECOND_POLICY)
    env = cli_env(hub, tmp_path)
    assert CliRunner().invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    with Store(f"sqlite:///{tmp_path / 'data' / 'janitor.db'}") as store:
        assert store.try_acquire_lease(
            lease_name("running", "zz-second"),
            "another-host:1",
            ttl=timedelta(minutes=5),
            now=datetime.now(UTC),
        )

    result = CliRunner().invoke(cli, ["run", "--apply"], env=env)

    assert result.exit_code == 1, result.output
    assert "policy untagged (acme): delete run" in result.stdout
    assert f"{len(PLAN)} deleted" in result.stdout
    assert "error: policy 'zz-second' is being run right now" in result.stderr
    assert "nothing was done for it" in result.stderr

    as_json = CliRunner().invoke(cli, ["run", "--apply", "--json"], env=env)
    assert as_json.exit_code == 1
    assert [r["policy"] for r in json.loads(as_json.stdout)] == ["untagged"]


# ------------------------------------------------------------------ databases that forget


def test_an_in_memory_database_is_refused_for_anything_that_deletes(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """Fault: JANITOR_DATABASE_URL=sqlite:// (in memory). Before: a delete run was accepted and
    its records vanished with the process. Now anything that may delete is refused, exit 2,
    before any Hub call; a dry run may still use it."""
    hub = emulator_factory()
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "untagged.yaml").write_text(UNTAGGED_POLICY)
    env = cli_env(hub, tmp_path, JANITOR_DATABASE_URL="sqlite://")

    refused = CliRunner().invoke(cli, ["run", "--apply"], env=env)
    assert refused.exit_code == 2, refused.output
    assert "in-memory SQLite database" in refused.stderr
    assert "Traceback" not in refused.output
    assert not [e for e in hub.log.entries() if e.path.endswith("/delete-images")]

    serve = CliRunner().invoke(cli, ["serve", "--port", "0", "--host", "127.0.0.1"], env=env)
    assert serve.exit_code == 2, serve.output
    assert "in-memory SQLite database" in serve.stderr

    dry = CliRunner().invoke(cli, ["run", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_database_path_that_is_not_a_regular_file_is_refused(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """Fault: JANITOR_DATABASE_URL=sqlite:////dev/null. Before: SQLite created
    /dev/null-journal and kept nothing. Now: exit 2, one line, nothing created."""
    hub = emulator_factory()
    journal = Path("/dev/null-journal")
    existed = journal.exists()
    for url, what in (
        ("sqlite:////dev/null", "not a regular file"),
        (f"sqlite:///{tmp_path}", "a folder"),
    ):
        env = cli_env(hub, tmp_path, JANITOR_DATABASE_URL=url)
        result = CliRunner().invoke(cli, ["runs", "list"], env=env)
        assert result.exit_code == 2, result.output
        assert what in result.stderr and "Traceback" not in result.output
    assert journal.exists() == existed
