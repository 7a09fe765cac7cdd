"""Runs for the dashboard tests, written through the store as janitor writes them: ordinary ones,
hostile names (markup, quotes, unicode) in policy, repository, tag and error, and enough runs of
one policy to need paging."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from janitor.policy import Policy
from janitor.policy.load import policy_from_data
from janitor.records import HubMetrics, RunMetrics
from janitor.service.access import Access
from janitor.service.dashboard import DashboardSource
from janitor.service.http import Health, HttpServer, create_http_app
from janitor.service.metrics import ServiceMetrics
from janitor.store import Store
from tests.report.samples import HOSTILE_REPO, HOSTILE_TAG, UNICODE_TAG, sample_decisions

NOW = datetime(2026, 5, 11, 8, 0, tzinfo=UTC)
HOSTILE_POLICY = '<script>alert("policy")</script>'
HOSTILE_ERROR = "Hub said <b onmouseover=alert(3)>no</b> & 'quotes' \"here\" — ünïcødé"
PAGED_RUNS = 55
HOSTILE_STRINGS = (HOSTILE_POLICY, HOSTILE_REPO, HOSTILE_TAG, UNICODE_TAG, HOSTILE_ERROR)


@dataclass(frozen=True)
class Seeded:
    delete_run: int
    hostile_run: int
    failed_run: int
    running_run: int


def _run(
    store: Store,
    *,
    policy: str,
    started: datetime,
    dry_run: bool,
    status: str,
    deleted: int = 0,
    error: str | None = None,
    with_decisions: bool = False,
) -> int:
    run_id = store.start_run(
        policy=policy,
        namespace="acme",
        trigger="schedule",
        dry_run=dry_run,
        backend="delete-images",
        started_at=started,
        owner="seed",
    )
    if with_decisions:
        store.add_decisions(run_id, sample_decisions(dry_run=dry_run, run_id=run_id))
    if status != "running":
        metrics = RunMetrics(
            repositories_scanned=4,
            images_scanned=40,
            candidates=12,
            kept=20,
            planned_deletes=12,
            deleted=0 if dry_run else deleted,
            would_delete=deleted if dry_run else 0,
            errors=1 if error else 0,
            bytes_reclaimed=None if dry_run else deleted * 42 * 1024 * 1024,
            bytes_planned=deleted * 42 * 1024 * 1024,
            hub_calls=17,
        )
        store.finish_run(
            run_id,
            status=status,  # type: ignore[arg-type]
            finished_at=started + timedelta(seconds=95),
            metrics=metrics,
            hub_metrics=HubMetrics(manifest_deletes=deleted),
            error=error,
        )
    return run_id


def seed(store: Store, now: datetime = NOW) -> Seeded:
    """The runs of the dashboard tests, oldest first; returns the interesting ones' ids."""
    for i in range(PAGED_RUNS):
        _run(
            store,
            policy="nightly-dry",
            started=now - timedelta(days=20, hours=i),
            dry_run=True,
            status="succeeded",
            deleted=i % 7,
        )
    delete_run = _run(
        store,
        policy="nightly",
        started=now - timedelta(days=2),
        dry_run=False,
        status="succeeded",
        deleted=11,
        with_decisions=True,
    )
    hostile_run = _run(
        store,
        policy=HOSTILE_POLICY,
        started=now - timedelta(days=1),
        dry_run=True,
        status="succeeded",
        deleted=3,
        with_decisions=True,
    )
    failed_run = _run(
        store,
        policy="nightly",
        started=now - timedelta(hours=5),
        dry_run=False,
        status="failed",
        deleted=2,
        error=HOSTILE_ERROR,
    )
    running_run = _run(
        store, policy="nightly", started=now - timedelta(minutes=3), dry_run=False, status="running"
    )
    return Seeded(delete_run, hostile_run, failed_run, running_run)


def dashboard_policies() -> dict[str, Policy]:
    nightly = policy_from_data(
        {
            "name": "nightly",
            "namespace": "acme",
            "mode": "delete",
            "schedule": "30 2 * * *",
            "timezone": "Europe/Berlin",
            "select": [{"last_pushed": {"older_than": "30d"}}],
        }
    )
    manual = policy_from_data(
        {"name": "by-hand", "namespace": "acme", "select": [{"last_pushed": {"older_than": "9d"}}]}
    )
    return {p.name: p for p in (nightly, manual)}


def serve(
    store: Store, *, host: str = "127.0.0.1", access: Access | None = None
) -> Iterator[HttpServer]:
    source = dashboard_source(store)
    app = create_http_app(
        lambda: Health(True, {"ok": True}),
        ServiceMetrics(),
        access=access or Access.decide(host, None),
        dashboard=source,
    )
    server = HttpServer(app, host, 0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def dashboard_source(store: Store) -> DashboardSource:
    policies = dashboard_policies()
    return DashboardSource(
        store=store,
        policies=lambda: policies,
        report_schedule="0 8 * * mon",
        report_to=(),
        clock=lambda: NOW,
    )
