"""The fault matrix: each test injects one fault (in the emulator, the store, the mail server or the
process itself), runs janitor through its one run path, and checks the outcome against the
emulator's state and request log: the run ends in a recorded, truthful state, nothing outside the
plan is deleted, nothing is deleted twice, and the next run recovers without help.

Plan of the policy used (``UNTAGGED_POLICY``): API_OLD in ``api`` (first), then UNTAGGED_OLD,
UNTAGGED_COLD and INDEX_OLD in ``web``; one dry run and one real call per repository.
"""

from __future__ import annotations

import email
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from janitor.cli import cli
from janitor.emulator.config import EmulatorConfig, ManualClock
from janitor.emulator.faults import Fault
from janitor.engine import recover_stale_runs, run_once
from janitor.hub.client import HubClient
from janitor.hub.models import DeleteMetrics, DeleteResult, DeleteWarning, ManifestRef
from janitor.records import RunRecord
from janitor.store import Store
from tests.reliability.conftest import (
    EmulatorFactory,
    Rig,
    check_truthful,
    cli_env,
    dead_owner,
    details,
    free_port,
    make_rig,
    run_outcomes,
    subprocess_env,
)
from tests.report.conftest import PASSWORD as SMTP_PASSWORD
from tests.report.conftest import USERNAME as SMTP_USER
from tests.runs.conftest import API_OLD, INDEX_OLD, UNTAGGED_COLD, UNTAGGED_OLD, HookedBackend

PLAN = {API_OLD, UNTAGGED_OLD, UNTAGGED_COLD, INDEX_OLD}
WEB_PLAN = {UNTAGGED_OLD, UNTAGGED_COLD, INDEX_OLD}


def real(manifests: Sequence[ManifestRef], dry_run: bool, repository: str) -> bool:
    return not dry_run and manifests[0].repository == repository


def dry(manifests: Sequence[ManifestRef], dry_run: bool, repository: str) -> bool:
    return dry_run and manifests[0].repository == repository


def _wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def next_run(rig: Rig, **context: object) -> RunRecord:
    """A later run of the same policy, fault-free, after the usual recovery."""
    rig.hub.faults.clear()
    ctx = rig.context(**context)
    recover_stale_runs(ctx)
    return run_once(ctx, rig.untagged_policy(), trigger="cli", dry_run=False)


# --------------------------------------------------------------------------- rate limits


def test_a_429_storm_is_waited_out_and_every_delete_sent_once(
    emulator_factory: EmulatorFactory, sqlite_store: Store, tmp_path: Path
) -> None:
    """Fault: Hub answers 429 (with X-Retry-After and Retry-After) three times in a row to the
    images listing, and three times to each of web's dry run and real delete. janitor waits each
    out (never repeating a delete Hub refused to take) and the run completes as planned."""
    hub = emulator_factory(EmulatorConfig(rate_window=1.0))
    rig = make_rig(hub, sqlite_store, tmp_path, max_wait=2.0)  # Hub asks for <= 1 s
    hub.faults.add(Fault("rate_limit", method="GET", path=r"/images$", times=3))

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when == "before" and manifests[0].repository == "web":
            hub.faults.add(Fault("rate_limit", method="POST", path="delete-images", times=3))

    before = rig.all_digests()
    record = run_once(rig.hooked(hook), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert record.status == "succeeded", record.error
    assert record.metrics.hub_rate_limited == 9
    assert before - rig.all_digests() == PLAN
    statuses = [s for d, s in rig.real_delete_requests() if d == UNTAGGED_OLD]
    assert statuses == [429, 429, 429, 200]
    check_truthful(rig, before, [record.id])


# --------------------------------------------------------------------------- 5xx


def test_5xx_on_reads_are_retried_and_the_run_completes(rig: Rig) -> None:
    """Fault: the images listing answers 503 twice. Reads are safe to repeat: retried."""
    rig.hub.faults.add(Fault("status", method="GET", path=r"/images$", status=503, times=2))
    before = rig.all_digests()
    record = run_once(rig.context(), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert record.status == "succeeded", record.error
    assert before - rig.all_digests() == PLAN
    check_truthful(rig, before, [record.id])


def test_5xx_on_reads_beyond_the_retries_fail_the_run_before_any_delete(rig: Rig) -> None:
    """Fault: every images listing answers 500. The inventory is complete before the first
    delete, so the run fails having sent no delete-images call at all; the next run (Hub well
    again) does the work."""
    rig.hub.faults.add(Fault("status", method="GET", path=r"/images$", status=500, times=100))
    before = rig.all_digests()
    failed = run_once(rig.context(), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert failed.status == "failed" and "500" in (failed.error or "")
    assert rig.delete_calls(dry_run=True) == rig.delete_calls(dry_run=False) == []
    assert rig.all_digests() == before
    again = next_run(rig)
    assert again.status == "succeeded", again.error
    check_truthful(rig, before, [failed.id, again.id])


def test_5xx_on_the_delete_before_hub_applied_it_is_not_repeated(rig: Rig) -> None:
    """Fault: api's real delete answers 503 and Hub did not apply it. janitor never repeats a
    failed delete; its re-check (a dry run) finds the image, so it is recorded not deleted
    (``error``) and the run stops. The next run deletes it, once."""

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when == "before" and real(manifests, dry_run, "api"):
            rig.hub.faults.add(Fault("status", method="POST", path="delete-images", status=503))

    before = rig.all_digests()
    failed = run_once(rig.hooked(hook), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert failed.status == "failed" and "503" in (failed.error or "")
    got = run_outcomes(rig.store, failed.id)
    assert got[API_OLD] == "error" and "still present" in details(rig.store, failed.id)[API_OLD]
    assert {got[d] for d in WEB_PLAN} == {"not_attempted"}
    assert rig.all_digests() == before
    again = next_run(rig)
    assert again.status == "succeeded" and again.metrics.deleted == 4
    assert [s for d, s in rig.real_delete_requests() if d == API_OLD] == [503, 200]
    check_truthful(rig, before, [failed.id, again.id])


def test_5xx_after_hub_applied_the_delete_with_the_recheck_failing_too(rig: Rig) -> None:
    """Fault: Hub applies api's delete, then answers 500; the re-check (a dry run) fails with
    503s as well. Nothing is known: the image is ``unconfirmed``, never claimed and never sent
    again. The next run finds it gone from its listing and settles it as deleted."""
    state = {"applied": False}

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when == "before" and real(manifests, dry_run, "api"):
            rig.hub.faults.add(
                Fault("status", method="POST", path="delete-images", status=500, after_apply=True)
            )
            state["applied"] = True
        elif when == "before" and dry(manifests, dry_run, "api") and state["applied"]:
            rig.hub.faults.add(
                Fault("status", method="POST", path="delete-images", status=503, times=3)
            )

    before = rig.all_digests()
    failed = run_once(rig.hooked(hook), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert failed.status == "failed"
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "unconfirmed"
    assert API_OLD not in rig.all_digests()  # Hub did apply it
    assert failed.metrics.deleted == 0 and failed.metrics.errors == 1

    again = next_run(rig)
    assert again.status == "succeeded", again.error
    settled = rig.store.get_run(failed.id)
    assert settled is not None
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "deleted"
    assert f"run {again.id}" in details(rig.store, failed.id)[API_OLD]
    assert (settled.metrics.deleted, settled.metrics.errors) == (1, 0)
    assert API_OLD not in run_outcomes(rig.store, again.id)  # gone: not in the new plan
    assert [s for d, s in rig.real_delete_requests() if d == API_OLD] == [500]
    check_truthful(rig, before, [failed.id, again.id], extra_applied={API_OLD})


def test_a_gateway_timeout_leaves_the_delete_unconfirmed_until_the_next_run(rig: Rig) -> None:
    """Fault: a gateway in front of Hub answers 504 to api's real delete (here Hub never got
    it). A 504 says Hub may still be at work, so a re-check that finds the image cannot say
    "not deleted": it is ``unconfirmed``; the next run sees it still listed, records it not
    deleted, and deletes it itself."""

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when == "before" and real(manifests, dry_run, "api"):
            rig.hub.faults.add(Fault("status", method="POST", path="delete-images", status=504))

    before = rig.all_digests()
    failed = run_once(rig.hooked(hook), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert failed.status == "failed"
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "unconfirmed"
    again = next_run(rig)
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "error"
    assert "did not apply" in details(rig.store, failed.id)[API_OLD]
    assert run_outcomes(rig.store, again.id)[API_OLD] == "deleted"
    check_truthful(rig, before, [failed.id, again.id])


# --------------------------------------------------------------------------- timeouts, drops


def test_a_slow_listing_beyond_the_client_timeout_is_retried(
    emulator_factory: EmulatorFactory, sqlite_store: Store, tmp_path: Path
) -> None:
    """Fault: one images listing answers after 1.5 s; the client gives up after 0.5 s and asks
    again (a read)."""
    rig = make_rig(emulator_factory(), sqlite_store, tmp_path, timeout=0.5)
    rig.hub.faults.add(Fault("slow", method="GET", path=r"/images$", delay=1.5))
    before = rig.all_digests()
    record = run_once(rig.context(), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert record.status == "succeeded", record.error
    check_truthful(rig, before, [record.id])


def test_a_delete_that_times_out_and_is_applied_late_is_settled_by_the_next_run(
    emulator_factory: EmulatorFactory, sqlite_store: Store, tmp_path: Path
) -> None:
    """Fault: api's real delete gets no answer within the client's timeout (0.5 s), and Hub
    applies it only after janitor's re-check looked. The re-check saw the image, but with no
    answer janitor cannot know Hub is done: ``unconfirmed``, not "not deleted". The next run's
    listing settles it as deleted, and no second delete is sent."""
    rig = make_rig(emulator_factory(), sqlite_store, tmp_path, timeout=0.5)
    state = {"sent": False}

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when == "before" and real(manifests, dry_run, "api"):
            rig.hub.faults.add(Fault("slow", method="POST", path="delete-images", delay=5.0))
            state["sent"] = True
        elif when == "after" and dry(manifests, dry_run, "api") and state["sent"]:
            rig.hub.state.delete_images("acme", "api", [API_OLD])  # Hub finishes late

    before = rig.all_digests()
    failed = run_once(rig.hooked(hook), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert failed.status == "failed" and "did not answer in time" in (failed.error or "")
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "unconfirmed"
    again = next_run(rig)
    assert again.status == "succeeded", again.error
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "deleted"
    _wait_until(  # Hub logs the request it held once it sees the client gone
        lambda: API_OLD in {d for d, _ in rig.real_delete_requests()}, timeout=10, what="the log"
    )
    assert [s for d, s in rig.real_delete_requests() if d == API_OLD] == [0]  # no answer
    check_truthful(rig, before, [failed.id, again.id], extra_applied={API_OLD})


def test_a_dropped_connection_on_a_read_is_retried(rig: Rig) -> None:
    """Fault: Hub closes the connection without answering the repositories listing."""
    rig.hub.faults.add(Fault("drop", method="GET", path=r"/repositories$"))
    before = rig.all_digests()
    record = run_once(rig.context(), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert record.status == "succeeded", record.error
    check_truthful(rig, before, [record.id])


def test_a_dropped_connection_on_the_delete_is_never_resent_in_the_same_run(rig: Rig) -> None:
    """Fault: the connection drops while api's real delete is sent (Hub never got it). It may
    have been applied, so it is not resent; the re-check finds the image but, with no answer,
    records it ``unconfirmed``. The next run settles it as not deleted and deletes it."""

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when == "before" and real(manifests, dry_run, "api"):
            rig.hub.faults.add(Fault("drop", method="POST", path="delete-images"))

    before = rig.all_digests()
    failed = run_once(rig.hooked(hook), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert failed.status == "failed"
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "unconfirmed"
    assert API_OLD in rig.all_digests()
    again = next_run(rig)
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "error"
    assert run_outcomes(rig.store, again.id)[API_OLD] == "deleted"
    assert [s for d, s in rig.real_delete_requests() if d == API_OLD] == [0, 200]
    check_truthful(rig, before, [failed.id, again.id])


# --------------------------------------------------------------------------- malformed answers


@pytest.mark.parametrize("times", [1, 100], ids=["once", "always"])
def test_malformed_json_in_a_listing(rig: Rig, times: int) -> None:
    """Fault: the images listing answers 200 with truncated JSON. Once: retried, the run
    completes. Always: the run fails before any delete-images call."""
    rig.hub.faults.add(Fault("malformed", method="GET", path=r"/images$", times=times))
    before = rig.all_digests()
    record = run_once(rig.context(), rig.untagged_policy(), trigger="cli", dry_run=False)

    if times == 1:
        assert record.status == "succeeded", record.error
    else:
        assert record.status == "failed" and "not valid JSON" in (record.error or "")
        assert rig.delete_calls(dry_run=True) == []
    check_truthful(rig, before, [record.id])


def test_malformed_json_answering_the_delete(rig: Rig) -> None:
    """Fault: api's real delete is answered 200 with truncated JSON (here Hub did not apply it).
    janitor cannot read whether it happened: it re-checks, finds the image (Hub did answer, so it
    is done: ``error``, not deleted) and stops; the next run deletes it."""

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when == "before" and real(manifests, dry_run, "api"):
            rig.hub.faults.add(Fault("malformed", method="POST", path="delete-images"))

    before = rig.all_digests()
    failed = run_once(rig.hooked(hook), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert failed.status == "failed"
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "error"
    again = next_run(rig)
    assert run_outcomes(rig.store, again.id)[API_OLD] == "deleted"
    check_truthful(rig, before, [failed.id, again.id], fault_200={API_OLD})


def test_hub_accepting_a_delete_while_reporting_manifest_errors_is_rechecked(rig: Rig) -> None:
    """Fault: Hub accepts web's real delete (200) but deletes only the first image and says so
    only in its metrics (``manifest_errors: 2``). janitor does not claim the batch: it re-checks
    and records each image as it really is."""

    class PartialHub(HookedBackend):
        def delete_images(
            self,
            namespace: str,
            manifests: Sequence[ManifestRef],
            *,
            dry_run: bool,
            active_from: datetime | None = None,
            ignore_warnings: Sequence[DeleteWarning] = (),
        ) -> DeleteResult:
            if dry_run or manifests[0].repository != "web":
                return self.inner.delete_images(
                    namespace, manifests, dry_run=dry_run, active_from=active_from
                )
            self.inner.delete_images(
                namespace, manifests[:1], dry_run=False, active_from=active_from
            )
            return DeleteResult(
                dry_run=False,
                accepted=True,
                metrics=DeleteMetrics(manifest_deletes=1, manifest_errors=len(manifests) - 1),
            )

    ctx = rig.context(backend_factory=lambda client, ns: PartialHub(client, lambda *a: None))
    before = rig.all_digests()
    record = run_once(ctx, rig.untagged_policy(), trigger="cli", dry_run=False)

    got = run_outcomes(rig.store, record.id)
    assert got[UNTAGGED_OLD] == "deleted"  # the first of the batch by digest
    assert got[UNTAGGED_COLD] == got[INDEX_OLD] == "error"
    assert "2 manifest error(s)" in details(rig.store, record.id)[INDEX_OLD]
    assert record.metrics.deleted == 2
    check_truthful(rig, before, [record.id])


# --------------------------------------------------------------------------- auth and paging


def test_a_token_expiring_mid_run_is_renewed_and_the_delete_sent_once(
    emulator_factory: EmulatorFactory, sqlite_store: Store, tmp_path: Path
) -> None:
    """Fault: between api's dry run and its real delete, Hub's clock passes the token's expiry
    (janitor's clock, 100 s on, still trusts it). The delete gets a 401 (not applied), the client
    logs in again once and sends it again: one 401, one 200, two logins in the whole run."""
    hub_clock = ManualClock(datetime.now(UTC))
    hub = emulator_factory(EmulatorConfig(clock=hub_clock))
    skew = {"seconds": 0.0}
    rig = make_rig(hub, sqlite_store, tmp_path, clock=lambda: time.time() + skew["seconds"])

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when == "after" and dry(manifests, dry_run, "api"):
            hub_clock.advance(700)
            skew["seconds"] += 100

    before = rig.all_digests()
    record = run_once(rig.hooked(hook), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert record.status == "succeeded", record.error
    assert [s for d, s in rig.real_delete_requests() if d == API_OLD] == [401, 200]
    assert hub.log.count("POST", r"^/v2/auth/token$") == 2
    check_truthful(rig, before, [record.id])


def test_a_next_link_that_404s_after_the_last_page_is_harmless(rig: Rig) -> None:
    """Fault: web's last page of images carries a ``next`` link that answers 404 (seen on the
    live Hub). Every image was listed already: janitor takes the 404 as the end."""
    rig.hub.faults.add(Fault("next_404", method="GET", path=r"/repositories/web/images$"))
    before = rig.all_digests()
    record = run_once(rig.context(), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert record.status == "succeeded", record.error
    assert any(e.status == 404 and e.path.endswith("/web/images") for e in rig.hub.log.entries())
    assert before - rig.all_digests() == PLAN
    check_truthful(rig, before, [record.id])


@pytest.mark.parametrize("moment", ["before the dry run", "between the dry run and the delete"])
def test_an_image_deleted_by_someone_else_is_recorded_not_found(rig: Rig, moment: str) -> None:
    """Fault: someone deletes UNTAGGED_COLD between janitor's plan and its delete. Hub answers
    ``not_found`` for it; janitor records that (not as its own delete) and deletes the rest."""
    when = "before" if moment == "before the dry run" else "after"

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, at: str) -> None:
        if at == when and dry(manifests, dry_run, "web") and UNTAGGED_COLD in rig.digests("web"):
            rig.hub.state.delete_images("acme", "web", [UNTAGGED_COLD])

    before = rig.all_digests()
    record = run_once(rig.hooked(hook), rig.untagged_policy(), trigger="cli", dry_run=False)

    got = run_outcomes(rig.store, record.id)
    assert got[UNTAGGED_COLD] == "error"
    assert "not_found" in details(rig.store, record.id)[UNTAGGED_COLD]
    assert record.metrics.deleted == 3
    assert rig.applied_deletes()[UNTAGGED_COLD] == 0  # Hub refused (400), nothing applied
    check_truthful(rig, before, [record.id], external={UNTAGGED_COLD})


# --------------------------------------------------------------------------- the store


def test_an_unknown_delete_is_settled_only_in_repositories_this_run_listed(rig: Rig) -> None:
    """A policy that no longer covers a repository cannot speak for it: its unconfirmed items
    wait for a run that lists it."""

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when == "before" and real(manifests, dry_run, "api"):
            rig.hub.faults.add(Fault("drop", method="POST", path="delete-images"))

    failed = run_once(rig.hooked(hook), rig.untagged_policy(), trigger="cli", dry_run=False)
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "unconfirmed"
    rig.hub.faults.clear()
    (rig.tmp_path / "policies" / "untagged.yaml").write_text(
        (rig.tmp_path / "policies" / "untagged.yaml").read_text()
        + 'repositories: {include: ["web"]}\n'
    )
    from janitor.policy import load_policy_file

    web_only = load_policy_file(rig.tmp_path / "policies" / "untagged.yaml")
    later = run_once(rig.context(), web_only, trigger="cli", dry_run=False)
    assert later.status == "succeeded", later.error
    assert run_outcomes(rig.store, failed.id)[API_OLD] == "unconfirmed"


def _untagged_run_records(store: Store) -> list[RunRecord]:
    return sorted(store.list_runs(policy="untagged", limit=None), key=lambda r: r.id)


def test_the_sqlite_file_removed_mid_run_stops_before_the_next_delete(
    emulator_factory: EmulatorFactory, tmp_path: Path, sqlite_template: Path
) -> None:
    """Fault: the SQLite file is removed (with its -wal and -shm) after api's delete, before
    web's. An open connection would go on writing into the unlinked file as if nothing happened;
    the store notices the file is gone at its next commit (web's ``sending`` mark), so web's
    delete is never sent. What was recorded before went with the file (decided: janitor cannot
    keep a record the operator deleted); the next run, on a new file, deletes web's images."""
    import shutil

    path = tmp_path / "db" / "janitor.db"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    store = Store(f"sqlite:///{path}")
    rig = make_rig(emulator_factory(), store, tmp_path)

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when == "after" and dry(manifests, dry_run, "web"):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    from janitor.store import StoreError

    with pytest.raises(StoreError, match="was removed"):
        run_once(rig.hooked(hook), rig.untagged_policy(), trigger="cli", dry_run=False)
    store.close()
    assert {d for d, _ in rig.real_delete_requests()} == {API_OLD}
    assert rig.all_digests() >= WEB_PLAN

    with Store(f"sqlite:///{path}") as fresh:
        fresh.upgrade()
        rig.store = fresh
        again = next_run(rig)
        assert again.status == "succeeded", again.error
        assert {d for d, o in run_outcomes(fresh, again.id).items() if o == "deleted"} == WEB_PLAN
    assert rig.applied_deletes() == {d: 1 for d in PLAN}


@pytest.fixture
def pg_store() -> object:
    from janitor.store.testing import postgres_available, temporary_postgres_database

    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    with temporary_postgres_database("janitor_rel") as url, Store(url) as store:
        store.upgrade()
        yield store


def _set_connections(store: Store, allowed: bool) -> None:
    """Let the test database accept connections or not; when not, end the open ones."""
    import psycopg
    from psycopg import sql
    from sqlalchemy import make_url

    url = make_url(store.display_url)
    with psycopg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    ) as admin:
        admin.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                sql.Identifier(str(url.database)), sql.SQL("true" if allowed else "false")
            )
        )
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (url.database,),
            )


@pytest.mark.postgres
@pytest.mark.parametrize("moment", ["before the delete is sent", "after Hub answered it"])
def test_the_database_lost_mid_run(
    emulator_factory: EmulatorFactory, pg_store: Store, tmp_path: Path, moment: str
) -> None:
    """Fault: the PostgreSQL database stops accepting connections (its sessions are terminated)
    mid-run: before web's delete is sent, or after Hub answered it. Every delete is recorded
    ``sending`` before it is sent, so in the first case web's delete is never sent; in the
    second its answer cannot be recorded and its items stay ``sending``. run_once raises
    StoreError (the CLI exits 1). The database comes back, the process that ran is gone: the
    next run marks the run interrupted (``sending`` becomes ``unconfirmed``), settles those from
    its listing, and finishes the work."""
    from janitor.store import StoreError

    rig = make_rig(emulator_factory(), pg_store, tmp_path)
    cut = ("after", False) if moment == "before the delete is sent" else ("after", True)

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        on_real = cut[1]
        if when == cut[0] and manifests[0].repository == "web" and dry_run is not on_real:
            _set_connections(pg_store, allowed=False)

    before = rig.all_digests()
    try:
        with pytest.raises(StoreError, match="store failed"):
            run_once(
                rig.hooked(hook, owner=dead_owner()),
                rig.untagged_policy(),
                trigger="cli",
                dry_run=False,
            )
    finally:
        _set_connections(pg_store, allowed=True)
    sent_web = {d for d, _ in rig.real_delete_requests()} & WEB_PLAN
    assert sent_web == (set() if moment == "before the delete is sent" else WEB_PLAN)
    (first,) = _untagged_run_records(pg_store)
    assert first.status == "running"  # nothing could record its end

    again = next_run(rig)
    assert again.status == "succeeded", again.error
    interrupted = pg_store.get_run(first.id)
    assert interrupted is not None and interrupted.status == "interrupted"
    got = run_outcomes(pg_store, first.id)
    assert got[API_OLD] == "deleted"
    if moment == "before the delete is sent":
        assert {got[d] for d in WEB_PLAN} == {"not_attempted"}
        assert interrupted.metrics.deleted == 1
    else:
        assert {got[d] for d in WEB_PLAN} == {"deleted"}  # settled by the next run's listing
        assert interrupted.metrics.deleted == 4
    check_truthful(rig, before, [first.id, again.id])


def test_the_store_unreachable_at_start_stops_before_any_hub_call(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """Fault: JANITOR_DATABASE_URL names a PostgreSQL server that is not there (a closed port).
    `janitor run --apply` says so in one line and exits 1, having sent Hub nothing."""
    hub = emulator_factory()
    Rig.untagged_policy(make_rig(hub, Store("sqlite://"), tmp_path))  # writes the policy file
    url = f"postgresql://janitor:db-PROBE-pw@127.0.0.1:{free_port()}/janitor"
    result = CliRunner().invoke(
        cli, ["run", "--apply"], env=cli_env(hub, tmp_path, JANITOR_DATABASE_URL=url)
    )

    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "cannot reach the database" in errors[0]
    assert "db-PROBE-pw" not in result.output
    assert hub.log.entries() == []


def test_the_run_is_recorded_before_the_first_hub_call(rig: Rig) -> None:
    """The run path touches the store first: by the time it builds its Hub client the run is
    recorded ``running``, so even a crash in the first Hub call leaves a record."""
    calls: list[str] = []

    def factory() -> HubClient:
        calls.append("client")
        assert [r.status for r in rig.store.list_runs()] == ["running"]
        return HubClient(rig.hub.url, None, timeout=2)

    record = run_once(
        rig.context(hub_factory=factory),
        rig.untagged_policy(),
        trigger="cli",
        dry_run=True,
    )
    assert calls == ["client"] and record.status == "failed"  # no credentials: Hub says 401


# --------------------------------------------------------------------------- mail


def test_the_smtp_server_down_keeps_the_report_and_queues_the_mail(
    emulator_factory: EmulatorFactory,
    tmp_path: Path,
    smtp_server: Callable[..., Any],
) -> None:
    """Fault: nothing listens on the SMTP port when a run mails its report. The run is not
    failed (exit 0), its report file is written, and the mail waits in the store's outbox with
    the reason. The next run, with the server up (and SMTP AUTH), sends the queued report first,
    then its own."""
    hub = emulator_factory()
    Rig.untagged_policy(make_rig(hub, Store("sqlite://"), tmp_path))
    env = cli_env(
        hub,
        tmp_path,
        JANITOR_SMTP_HOST="127.0.0.1",
        JANITOR_SMTP_PORT=str(free_port()),
        JANITOR_SMTP_SECURITY="none",
        JANITOR_SMTP_FROM="janitor@example.com",
        JANITOR_REPORT_TO="ops@example.com",
    )
    first = CliRunner().invoke(cli, ["run", "--dry-run", "--json"], env=env)

    assert first.exit_code == 0, first.output
    (run,) = json.loads(first.stdout)
    assert run["status"] == "succeeded" and Path(run["report"]).is_file()
    database = f"sqlite:///{tmp_path / 'data' / 'janitor.db'}"
    with Store(database) as store:
        (queued,) = store.pending_mail()
    assert queued.run_id == run["run_id"] and queued.attempts == 1
    assert "connection refused" in (queued.last_error or "")

    server = smtp_server(auth=True, auth_require_tls=False)
    env |= {
        "JANITOR_SMTP_PORT": str(server.port),
        "JANITOR_SMTP_USERNAME": SMTP_USER,
        "JANITOR_SMTP_PASSWORD": SMTP_PASSWORD,
    }
    second = CliRunner().invoke(cli, ["run", "--dry-run", "--json"], env=env)

    assert second.exit_code == 0, second.output
    (later,) = json.loads(second.stdout)
    assert len(server.messages) == 2 and all(m.authenticated for m in server.messages)
    texts = [_text_part(m.content) for m in server.messages]
    assert f"janitor run report #{run['run_id']}:" in texts[0]  # the queued one first
    assert f"janitor run report #{later['run_id']}:" in texts[1]
    with Store(database) as store:
        assert store.pending_mail() == []


def test_a_report_folder_that_cannot_be_written_loses_no_run(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """Fault: JANITOR_REPORT_DIR is a file, not a folder. The run itself is done and recorded
    (succeeded, its deletes stored); the missing report is one error line and exit 1, and
    `janitor report --run` can write it later."""
    hub = emulator_factory()
    Rig.untagged_policy(make_rig(hub, Store("sqlite://"), tmp_path))
    blocker = tmp_path / "reports-is-a-file"
    blocker.write_text("")
    env = cli_env(hub, tmp_path, JANITOR_REPORT_DIR=str(blocker))
    result = CliRunner().invoke(cli, ["run", "--apply", "--json"], env=env)

    assert result.exit_code == 1, result.output
    (run,) = json.loads(result.stdout)
    assert run["status"] == "succeeded" and run["metrics"]["deleted"] == len(PLAN)
    assert "cannot write its report" in result.stderr
    assert "Traceback" not in result.output
    later = CliRunner().invoke(
        cli,
        ["report", "--run", str(run["run_id"])],
        env=env | {"JANITOR_REPORT_DIR": str(tmp_path / "reports")},
    )
    assert later.exit_code == 0, later.output


def _text_part(raw: bytes) -> str:
    message = email.message_from_bytes(raw)
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode("utf-8")
    raise AssertionError("no text/plain part")


# --------------------------------------------------------------------------- the process


def test_sigkill_mid_delete_then_the_next_run_recovers(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """Fault: `janitor run --apply` (a real process) is killed with SIGKILL while web's real
    delete is in flight (Hub holds the request; it applies one of its three images before the
    process dies, and the answer never reaches janitor). The next `janitor run --apply` needs no
    help: it sees the killed run's owner is a dead process of this host, marks the run
    interrupted (its ``sending`` items become ``unconfirmed``), takes over the policy's running
    lease, settles the unconfirmed items from its own listing (the applied one as deleted, the
    others as not deleted) and deletes what is left, each image once."""
    hub = emulator_factory()
    store_url = f"sqlite:///{tmp_path / 'data' / 'janitor.db'}"
    rig = make_rig(hub, Store("sqlite://"), tmp_path)
    rig.untagged_policy()
    before = rig.all_digests()
    # delete-images calls: api dry run, api delete, web dry run, web delete (held for 30 s).
    for delay in (0.0, 0.0, 0.0, 30.0):
        hub.faults.add(Fault("slow", method="POST", path=r"/delete-images$", delay=delay))
    env = cli_env(hub, tmp_path, JANITOR_TIMEOUT="60")
    output = tmp_path / "killed-run.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", "from janitor.cli import main; main()", "run", "--apply"],
            env=subprocess_env(env),
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until(lambda: len(hub.faults) == 0, timeout=60, what="web's delete in flight")
            with Store(store_url) as store:
                sending = {d.digest for d in store.decisions(1, outcome="sending")}
            assert sending == WEB_PLAN, output.read_text()  # recorded before it was sent
            hub.state.delete_images("acme", "web", [UNTAGGED_OLD])  # Hub applies a part
            process.kill()
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    restart = CliRunner().invoke(cli, ["run", "--apply", "--json"], env=env)

    assert restart.exit_code == 0, restart.output
    assert "run 1 was left running by a process that stopped" in restart.stderr
    (second,) = json.loads(restart.stdout)
    with Store(store_url) as store:
        killed = store.get_run(1)
        assert killed is not None and killed.status == "interrupted"
        assert "stopped before the run finished" in (killed.error or "")
        got = run_outcomes(store, 1)
        assert got[API_OLD] == got[UNTAGGED_OLD] == "deleted"
        assert got[UNTAGGED_COLD] == got[INDEX_OLD] == "error"
        assert f"run {second['run_id']}" in details(store, 1)[UNTAGGED_OLD]
        assert killed.metrics.deleted == 2
        deleted_now = {
            d for d, o in run_outcomes(store, second["run_id"]).items() if o == "deleted"
        }
        assert deleted_now == {UNTAGGED_COLD, INDEX_OLD}
        rig.store = store
        check_truthful(rig, before, [1, second["run_id"]], extra_applied={UNTAGGED_OLD})
    _wait_until(
        lambda: len([d for d, _ in rig.real_delete_requests() if d == UNTAGGED_COLD]) == 2,
        timeout=10,
        what="the killed request in Hub's log",
    )
    killed_requests = [s for d, s in rig.real_delete_requests() if d == UNTAGGED_COLD]
    assert killed_requests == [0, 200]  # the killed one never answered; sent again by run 2
