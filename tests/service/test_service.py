"""The Service in-process: a real BackgroundScheduler, a real store, the emulator over HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from janitor.emulator.faults import Fault
from janitor.emulator.seed import load_seed
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.engine import running_lease_ttl
from janitor.errors import JanitorError
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.policy import load_policies
from janitor.records import HubMetrics, RunMetrics, RunRecord
from janitor.report.mail import RecordingMailer
from janitor.service.scheduler import Service, ServiceOptions, policy_job_id
from janitor.store import Store
from tests.service.conftest import sqlite_store
from tests.service.helpers import (
    DELETABLE,
    NAMESPACE,
    TOKEN,
    USER,
    Clock,
    seed,
    settings_for,
    wait_until,
    write_policy,
)

DELETE_CALLS = r"/delete-images$"


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, or None."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with start_emulator(load_seed(seed())) as emu:
        yield emu


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = sqlite_store(tmp_path / "janitor.db")
    try:
        yield s
    finally:
        s.close()


class Harness:
    """Builds services over one emulator, store and policy folder; stops them all at the end."""

    def __init__(self, tmp_path: Path, emulator: RunningEmulator, store: Store) -> None:
        self.root = tmp_path
        self.emulator = emulator
        self.store = store
        self.policies = tmp_path / "policies"
        self.policies.mkdir(exist_ok=True)
        self.services: list[Service] = []

    def service(
        self,
        *,
        owner: str = "replica-a:1",
        clock: Callable[[], datetime] | None = None,
        store: Store | None = None,
        http: bool = False,
        mailer: Any = None,
        lease_ttl: timedelta | None = None,
        **changes: Any,
    ) -> Service:
        settings = settings_for(
            self.emulator.url, self.root, f"sqlite:///{self.root / 'janitor.db'}", **changes
        )
        url = self.emulator.url

        def hub() -> HubClient:
            return HubClient(url, Credentials(USER, TOKEN), timeout=10.0, max_retries=1)

        service = Service(
            settings=settings,
            store=store or self.store,
            hub_factory=hub,
            load_policies=lambda: load_policies(self.policies),
            mailer=mailer,
            clock=clock or (lambda: datetime.now(UTC)),
            owner=owner,
            options=ServiceOptions(
                host="127.0.0.1", port=0, http=http, maintenance_seconds=3600,
                shutdown_grace_seconds=30, running_lease_ttl=lease_ttl,
            ),
        )  # fmt: skip
        self.services.append(service)
        return service

    @contextmanager
    def running(self, service: Service) -> Iterator[Service]:
        service.start(load_policies(self.policies))
        try:
            yield service
        finally:
            service.stop(30)

    def stop_all(self) -> None:
        for service in self.services:
            if service.scheduler.running:
                service.stop(30)

    def finished_runs(self, policy: str, count: int = 1) -> list[RunRecord]:
        def probe() -> list[RunRecord]:
            runs = self.store.list_runs(policy=policy)
            done = [r for r in runs if r.status != "running"]
            return done if len(done) >= count else []

        return wait_until(probe, what=f"{count} finished run(s) of {policy}")


@pytest.fixture
def harness(tmp_path: Path, emulator: RunningEmulator, store: Store) -> Iterator[Harness]:
    h = Harness(tmp_path, emulator, store)
    try:
        yield h
    finally:
        h.stop_all()


def test_a_scheduled_fire_runs_deletes_records_and_reports(harness: Harness) -> None:
    write_policy(harness.policies, "nightly", mode="delete", emails=("ops@example.com",))
    write_policy(harness.policies, "audit", mode="dry-run")
    write_policy(harness.policies, "adhoc", schedule=None)
    mailer = RecordingMailer()
    service = harness.service(http=True, mailer=mailer)
    with harness.running(service):
        jobs = {job.id for job in service.scheduler.get_jobs()}
        assert {policy_job_id("nightly"), policy_job_id("audit")} <= jobs
        assert policy_job_id("adhoc") not in jobs  # no schedule: only `janitor run` runs it
        service.fire_now(policy_job_id("audit"))
        (audit,) = harness.finished_runs("audit")
        assert harness.emulator.log.count("POST", DELETE_CALLS) >= 1
        real_deletes = [
            e for e in harness.emulator.log.entries()
            if e.path.endswith("/delete-images")
            and not (isinstance(e.json, dict) and e.json.get("dry_run"))
        ]  # fmt: skip
        assert real_deletes == []  # mode: dry-run never deletes, even in the service
        service.fire_now(policy_job_id("nightly"))
        (nightly,) = harness.finished_runs("nightly")

        assert (audit.status, audit.trigger, audit.dry_run) == ("succeeded", "schedule", True)
        assert audit.metrics.would_delete == DELETABLE
        assert (nightly.status, nightly.trigger, nightly.dry_run) == (
            "succeeded",
            "schedule",
            False,
        )
        assert nightly.metrics.deleted == DELETABLE
        assert nightly.owner == "replica-a:1"
        remaining = harness.emulator.state.namespaces[NAMESPACE]
        assert remaining is not None

        # The report is written (after the run is recorded) and mailed to the policy's address.
        def reported() -> RunRecord | None:
            record = harness.store.get_run(nightly.id)
            return record if record and record.report_path else None

        path = Path(wait_until(reported, what="the report path").report_path or "")
        assert path.is_file() and path.parent == harness.root / "reports"
        wait_until(lambda: len(mailer.sent) >= 1, what="the mailed report")
        assert mailer.sent[-1]["To"] == "ops@example.com"

        assert service.http is not None
        with httpx.Client(base_url=service.http.url, timeout=10) as client:
            health = client.get("/healthz")
            assert health.status_code == 200
            body = health.json()
            assert body["scheduler"] == "running" and body["store"] == "ok"
            assert body["policies"] == 3 and body["scheduled"] == 2
            text = wait_until(
                lambda: (
                    t if "janitor_reports_written_total{kind=\"run\"} 2.0" in
                    (t := client.get("/metrics").text) else None
                ),
                what="both reports counted",
            )  # fmt: skip
    assert 'janitor_runs_total{policy="nightly",status="succeeded"} 1.0' in text
    assert 'janitor_runs_total{policy="nightly",status="failed"} 0.0' in text
    assert f'janitor_images_deleted_total{{policy="nightly"}} {float(DELETABLE)}' in text
    assert f'janitor_images_would_delete_total{{policy="audit"}} {float(DELETABLE)}' in text
    reclaimed = float(nightly.metrics.bytes_reclaimed or 0)
    assert f'janitor_reclaimed_bytes_total{{policy="nightly"}} {reclaimed}' in text
    assert 'janitor_hub_calls_total{policy="nightly"}' in text
    assert 'janitor_hub_rate_limited_total{policy="nightly"} 0.0' in text
    assert 'janitor_last_success_timestamp_seconds{policy="nightly"}' in text
    assert "janitor_scheduler_running 1.0" in text
    # After the stop, /healthz would say so: the scheduler is no longer running.
    stopped = service.health()
    assert not stopped.healthy and stopped.details["scheduler"] == "stopped"


def test_last_success_is_seeded_from_the_store_at_start(harness: Harness) -> None:
    write_policy(harness.policies, "nightly")
    finished = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    run_id = harness.store.start_run(
        policy="nightly", namespace=NAMESPACE, trigger="cli", dry_run=True,
        started_at=finished - timedelta(minutes=1), owner="elsewhere:1",
    )  # fmt: skip
    harness.store.finish_run(
        run_id, status="succeeded", finished_at=finished, metrics=RunMetrics(),
        hub_metrics=HubMetrics(),
    )  # fmt: skip
    service = harness.service()
    with harness.running(service):
        text = service.metrics.render().decode()
    seeded = sample(text, "janitor_last_success_timestamp_seconds", policy="nightly")
    assert seeded == finished.timestamp()


def test_two_replicas_firing_the_same_schedule_run_it_once(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    write_policy(harness.policies, "nightly", mode="dry-run")
    # Both replicas see the same minute (a clock frozen for the test), as two hosts would.
    clock = Clock(datetime.now(UTC).replace(second=30, microsecond=0))
    a = harness.service(owner="replica-a:1", clock=clock)
    b = harness.service(owner="replica-b:2", clock=clock)
    caplog.set_level(logging.INFO, logger="janitor")
    with harness.running(a), harness.running(b):
        a.fire_now(policy_job_id("nightly"))
        b.fire_now(policy_job_id("nightly"))
        harness.finished_runs("nightly")
        wait_until(
            lambda: "skipped: another replica runs policy nightly" in caplog.text,
            what="the loser's log line",
        )
    runs = harness.store.list_runs(policy="nightly")
    assert len(runs) == 1
    fire = clock.now.replace(second=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"skipped: another replica runs policy nightly (fire {fire})" in caplog.text
    skipped = sum(s.metrics.fires_skipped.labels("nightly", "claimed")._value.get() for s in (a, b))
    assert skipped == 1


def test_a_policy_still_running_makes_the_next_fire_skip(harness: Harness) -> None:
    write_policy(harness.policies, "nightly", mode="dry-run")
    clock = Clock(datetime(2026, 3, 1, 3, 0, 10, tzinfo=UTC))
    # The hand-moved clock jumps minutes at once: a lease longer than the jumps stands for one
    # that its renewals keep alive.
    a = harness.service(owner="replica-a:1", clock=clock, lease_ttl=timedelta(minutes=10))
    b = harness.service(owner="replica-b:2", clock=clock, lease_ttl=timedelta(minutes=10))
    # Every image listing takes a while: the run outlasts the next fire.
    harness.emulator.faults.add(Fault("slow", path=r"/images$", delay=0.5, times=100))
    with harness.running(a), harness.running(b):
        a.fire_now(policy_job_id("nightly"))
        wait_until(lambda: harness.store.list_runs(policy="nightly", status="running"))
        # The next minute's fire, on the other replica and on the same one: both skip.
        clock.now += timedelta(minutes=1)
        assert b.run_scheduled("nightly") is None
        clock.now += timedelta(minutes=1)
        assert a.run_scheduled("nightly") is None
        (run,) = harness.finished_runs("nightly")
    assert run.status == "succeeded"
    assert len(harness.store.list_runs(policy="nightly")) == 1
    assert b.metrics.fires_skipped.labels("nightly", "running")._value.get() == 1
    assert a.metrics.fires_skipped.labels("nightly", "running")._value.get() == 1
    # Once it finished, the next fire runs.
    clock.now += timedelta(minutes=1)
    harness.emulator.faults.clear()
    with harness.running(harness.service(owner="replica-c:3", clock=clock)) as c:
        record = c.run_scheduled("nightly")
    assert record is not None and record.status == "succeeded"


def test_missed_fires_coalesce_into_one_run(harness: Harness) -> None:
    write_policy(harness.policies, "nightly", mode="dry-run")
    service = harness.service()
    with harness.running(service):
        # As after a pause: the job's fire was due five minutes ago (five fires missed).
        service.scheduler.modify_job(
            policy_job_id("nightly"), next_run_time=datetime.now(UTC) - timedelta(minutes=5)
        )
        (run,) = harness.finished_runs("nightly")
        job = service.scheduler.get_job(policy_job_id("nightly"))
        assert job is not None and job.next_run_time > datetime.now(UTC)
    assert run.status == "succeeded"
    assert len(harness.store.list_runs(policy="nightly")) == 1
    for reason in ("claimed", "running"):
        assert service.metrics.fires_skipped.labels("nightly", reason)._value.get() == 0


def test_reload_keeps_the_old_policies_whatever_the_loader_raises(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A loader that raises something other than a policy error (a bug, a library's ValueError)
    is refused like an invalid set: the old policies stay, one log line, the service whole."""
    write_policy(harness.policies, "nightly")
    service = harness.service()
    caplog.set_level(logging.INFO, logger="janitor")

    def broken_loader() -> list[Any]:
        raise ValueError("day is out of range for month")

    with harness.running(service):
        service.load_policies = broken_loader
        assert service.reload() is False
        assert set(service.policies) == {"nightly"}
        assert service.scheduler.get_job(policy_job_id("nightly")) is not None
        refused = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
        assert refused == [
            "reload refused (the policies could not be read: ValueError: day is out of range "
            "for month): keeping the 1 policies loaded before"
        ]
        assert service.metrics.reload_failures._value.get() == 1
        assert service.health().healthy


def test_reload_keeps_the_old_policies_when_the_new_ones_are_invalid(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    write_policy(harness.policies, "nightly")
    service = harness.service()
    caplog.set_level(logging.INFO, logger="janitor")
    with harness.running(service):
        broken = harness.policies / "broken.yaml"
        broken.write_text(
            "name: broken\nnamespace: acme\nschedule: '61 * * * *'\nselect: []\nfrobnicate: 1\n",
            encoding="utf-8",
        )
        write_policy(harness.policies, "weekly", schedule="0 4 * * sun")
        assert service.reload() is False
        assert set(service.policies) == {"nightly"}
        assert {j.id for j in service.scheduler.get_jobs()} >= {policy_job_id("nightly")}
        assert service.scheduler.get_job(policy_job_id("weekly")) is None
        refused = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
        assert any("broken.yaml" in line and "frobnicate" in line for line in refused)
        assert any("broken.yaml" in line and "schedule" in line for line in refused)
        assert "keeping the 1 policies loaded before" in refused[-1]
        assert service.metrics.reload_failures._value.get() == 1

        broken.unlink()
        (harness.policies / "nightly.yaml").unlink()
        assert service.reload() is True
        assert set(service.policies) == {"weekly"}
        assert service.scheduler.get_job(policy_job_id("nightly")) is None
        job = service.scheduler.get_job(policy_job_id("weekly"))
        assert job is not None and job.next_run_time.weekday() == 6


def test_stop_mid_run_finishes_the_batch_and_records_the_run(harness: Harness) -> None:
    write_policy(harness.policies, "nightly", mode="delete")
    service = harness.service(batch_size=1)
    harness.emulator.faults.add(Fault("slow", path=DELETE_CALLS, delay=0.3, times=1000))
    service.start(load_policies(harness.policies))
    try:
        service.fire_now(policy_job_id("nightly"))
        (running,) = wait_until(
            lambda: [
                r for r in harness.store.list_runs(policy="nightly", status="running")
                if harness.store.outcome_counts(r.id).get("deleted", 0) >= 1
            ],
            what="a run with a first batch deleted",
        )  # fmt: skip
    finally:
        assert service.stop(30) is True
    record = harness.store.get_run(running.id)
    assert record is not None
    assert record.status == "interrupted" and record.finished_at is not None
    counts = harness.store.outcome_counts(record.id)
    assert counts.get("deleted", 0) >= 1
    assert counts.get("not_attempted", 0) >= 1
    assert counts.get("pending", 0) == counts.get("sending", 0) == 0
    assert counts["deleted"] == record.metrics.deleted
    assert harness.store.list_runs(status="running") == []
    assert not service.scheduler.running


def test_a_dead_replicas_run_is_marked_interrupted_before_its_policy_runs_again(
    harness: Harness,
) -> None:
    write_policy(harness.policies, "nightly", mode="dry-run")
    last_seen = datetime(2026, 3, 1, 3, 10, tzinfo=UTC)
    clock = Clock(last_seen + timedelta(minutes=5))
    survivor = harness.service(owner="replica-b:2", clock=clock)  # stale_after: 600 s
    with harness.running(survivor):
        # What a replica killed mid-run leaves: a run `running` whose heartbeat stopped at
        # last_seen, and its running lease, last renewed then and never again.
        dead_run = harness.store.start_run(
            policy="nightly", namespace=NAMESPACE, trigger="schedule", dry_run=True,
            started_at=last_seen, owner="replica-dead:9",
        )  # fmt: skip
        assert harness.store.try_acquire_lease(
            "running:nightly", "replica-dead:9/abc",
            ttl=running_lease_ttl(timedelta(seconds=600)), now=last_seen,
        )  # fmt: skip
        # Five minutes on: not stale yet, and the lease stands: the fire skips, nothing marked.
        assert survivor.run_scheduled("nightly") is None
        assert survivor.maintenance() == []
        # Past stale_after the maintenance job would mark it; the lease still stands a little
        # longer, so no new run can start beside a run that still says "running".
        clock.now = last_seen + timedelta(seconds=601)
        assert survivor.run_scheduled("nightly") is None
        # The next fire after the lease expired: the survivor takes over, and marks the dead
        # run interrupted before its own run starts.
        clock.now = last_seen + timedelta(minutes=11)
        record = survivor.run_scheduled("nightly")
    assert record is not None and record.status == "succeeded"
    dead = harness.store.get_run(dead_run)
    assert dead is not None and dead.status == "interrupted"
    assert "stopped before the run finished" in (dead.error or "")
    assert dead.finished_at is not None and dead.finished_at <= record.started_at


def test_start_cleans_up_runs_left_by_an_earlier_life_of_the_same_process(
    harness: Harness,
) -> None:
    write_policy(harness.policies, "nightly", mode="dry-run")
    now = datetime.now(UTC)
    left = harness.store.start_run(
        policy="nightly", namespace=NAMESPACE, trigger="schedule", dry_run=True,
        started_at=now - timedelta(seconds=5), owner="container:1",
    )  # fmt: skip
    with harness.running(harness.service(owner="container:1")):
        pass
    record = harness.store.get_run(left)
    assert record is not None and record.status == "interrupted"


def test_weekly_report_is_written_once_across_replicas(harness: Harness) -> None:
    write_policy(harness.policies, "nightly", mode="dry-run")
    clock = Clock(datetime(2026, 3, 2, 8, 0, 3, tzinfo=UTC))  # a Monday, 08:00:03
    mailer = RecordingMailer()
    a = harness.service(owner="replica-a:1", clock=clock, mailer=mailer,
                        report_to=("team@example.com",))  # fmt: skip
    b = harness.service(owner="replica-b:2", clock=clock, mailer=mailer,
                        report_to=("team@example.com",))  # fmt: skip
    with harness.running(a), harness.running(b):
        assert a.run_scheduled("nightly") is not None
        first = a.weekly_report()
        clock.now += timedelta(seconds=2)
        second = b.weekly_report()
    assert first is not None and first.is_file() and first.name.startswith("weekly-20260302")
    assert second is None
    weekly = [m for m in mailer.sent if "eekly" in str(m["Subject"])]
    assert len(weekly) == 1 and weekly[0]["To"] == "team@example.com"


def test_healthz_is_503_when_the_store_is_unreachable(harness: Harness) -> None:
    write_policy(harness.policies, "nightly")
    service = harness.service(http=True)
    with harness.running(service):
        assert service.http is not None
        with httpx.Client(base_url=service.http.url, timeout=10) as client:
            assert client.get("/healthz").status_code == 200
            good = service.store
            service.store = Store("postgresql+psycopg://nobody@127.0.0.1:1/janitor")
            try:
                answer = client.get("/healthz")
            finally:
                service.store.close()
                service.store = good
            assert answer.status_code == 503
            body = answer.json()
            assert body["store"] == "unreachable" and body["scheduler"] == "running"
            assert "127.0.0.1" in body["store_error"]
            assert client.get("/metrics").status_code == 200
            assert client.get("/healthz").status_code == 200


def test_a_run_that_outlasts_the_grace_time_is_marked_interrupted(harness: Harness) -> None:
    write_policy(harness.policies, "nightly", mode="delete")
    service = harness.service(batch_size=1)
    # Each Hub call takes 1.5 s: the batch in flight cannot finish within a 0.2 s grace.
    harness.emulator.faults.add(Fault("slow", path=DELETE_CALLS, delay=1.5, times=1000))
    service.start(load_policies(harness.policies))
    service.fire_now(policy_job_id("nightly"))
    (running,) = wait_until(
        lambda: harness.store.list_runs(policy="nightly", status="running"), what="a run"
    )
    wait_until(lambda: harness.emulator.log.count("POST", DELETE_CALLS) >= 1, what="a batch sent")
    assert service.stop(0.2) is False
    record = harness.store.get_run(running.id)
    assert record is not None and record.status == "interrupted"
    # The worker thread still ends by itself (the process would not wait for it: the CLI
    # leaves with os._exit), and its own record agrees.
    harness.emulator.faults.clear()
    final = wait_until(
        lambda: (
            r if (r := harness.store.get_run(running.id)) and r.metrics.images_scanned else None
        ),
        what="the run's own final record",
    )
    assert final.status == "interrupted"


def test_a_port_in_use_is_a_start_up_error(harness: Harness) -> None:
    import socket

    write_policy(harness.policies, "nightly")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        service = Service(
            settings=settings_for(harness.emulator.url, harness.root, "sqlite://"),
            store=harness.store,
            hub_factory=lambda: HubClient(harness.emulator.url),
            load_policies=lambda: load_policies(harness.policies),
            options=ServiceOptions(host="127.0.0.1", port=port),
        )
        with pytest.raises(JanitorError, match=f"cannot listen on 127.0.0.1:{port}"):
            service.start(load_policies(harness.policies))
    assert not service.scheduler.running
