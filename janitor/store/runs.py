"""Queries on ``runs``: one function per operation, each over an open connection."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from janitor.records import HubMetrics, RunMetrics, RunRecord, RunStatus
from janitor.store.items import close_open_items
from janitor.store.models import Run, RunItem

FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "interrupted", "skipped"})
RUN_METRIC_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RunMetrics))
# HubMetrics fields are stored with a ``hub_`` prefix (``tag_deletes`` alone would read as ours).
HUB_METRIC_COLUMNS: dict[str, str] = {f.name: f"hub_{f.name}" for f in fields(HubMetrics)}
STALE_NOT_ATTEMPTED = "not attempted: the process stopped before the run finished"


def format_utc(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def start_run(
    conn: Connection,
    *,
    policy: str,
    namespace: str,
    trigger: str,
    dry_run: bool,
    backend: str | None,
    started_at: datetime,
    owner: str | None,
    plan_hash: str | None = None,
) -> int:
    result = conn.execute(
        insert(Run).values(
            policy=policy,
            namespace=namespace,
            trigger=trigger,
            dry_run=dry_run,
            backend=backend,
            status="running",
            started_at=started_at,
            heartbeat_at=started_at,
            owner=owner,
            plan_hash=plan_hash,
        )
    )
    (run_id,) = result.inserted_primary_key or (None,)
    if run_id is None:  # pragma: no cover - every supported database returns the key
        raise RuntimeError("the database did not return the new run's id")
    return int(run_id)


def run_exists(conn: Connection, run_id: int) -> bool:
    return conn.execute(select(Run.id).where(Run.id == run_id)).first() is not None


def update_run(conn: Connection, run_id: int, **values: Any) -> bool:
    """Set ``values`` on run ``run_id``; False when there is no such run."""
    return conn.execute(update(Run).where(Run.id == run_id).values(**values)).rowcount == 1


def finish_values(
    *,
    status: RunStatus,
    finished_at: datetime,
    metrics: RunMetrics,
    hub_metrics: HubMetrics,
    error: str | None,
    report_path: str | None,
) -> dict[str, Any]:
    if status not in FINAL_STATUSES:
        raise ValueError(
            f"a finished run's status is one of {sorted(FINAL_STATUSES)}, not {status!r}"
        )
    values: dict[str, Any] = {
        "status": status,
        "finished_at": finished_at,
        "error": error,
        **{name: getattr(metrics, name) for name in RUN_METRIC_COLUMNS},
        **{column: getattr(hub_metrics, name) for name, column in HUB_METRIC_COLUMNS.items()},
    }
    if report_path is not None:
        values["report_path"] = report_path
    return values


def get_run(conn: Connection, run_id: int) -> RunRecord | None:
    row = conn.execute(select(Run.__table__).where(Run.id == run_id)).first()
    return None if row is None else to_record(row)


def list_runs(
    conn: Connection,
    *,
    policy: str | None,
    namespace: str | None,
    since: datetime | None,
    until: datetime | None,
    status: str | None,
    limit: int | None,
    offset: int = 0,
) -> list[RunRecord]:
    stmt = select(Run.__table__)
    if policy is not None:
        stmt = stmt.where(Run.policy == policy)
    if namespace is not None:
        stmt = stmt.where(Run.namespace == namespace)
    if since is not None:
        stmt = stmt.where(Run.started_at >= since)
    if until is not None:
        stmt = stmt.where(Run.started_at < until)
    if status is not None:
        stmt = stmt.where(Run.status == status)
    stmt = stmt.order_by(Run.started_at.desc(), Run.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    if offset:
        stmt = stmt.offset(offset)
    return [to_record(row) for row in conn.execute(stmt)]


def policy_names(conn: Connection) -> list[str]:
    return list(conn.execute(select(Run.policy).distinct().order_by(Run.policy)).scalars())


def mark_stale_runs_interrupted(
    conn: Connection, *, now: datetime, stale_after: timedelta, owner: str | None
) -> list[int]:
    last_seen = func.coalesce(Run.heartbeat_at, Run.started_at)
    stale = last_seen < now - stale_after
    condition = stale if owner is None else or_(stale, Run.owner == owner)
    candidates = conn.execute(
        select(Run.id, last_seen.label("last_seen"))
        .where(Run.status == "running", condition)
        .order_by(Run.id)
    ).all()
    marked: list[int] = []
    for run_id, seen in candidates:
        error = (
            "interrupted: the process stopped before the run finished "
            f"(last heartbeat {format_utc(seen)})"
        )
        # Guarded by status: another replica cleaning up at the same moment marks each run once.
        updated = conn.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == "running")
            .values(status="interrupted", finished_at=now, error=error)
        ).rowcount
        if updated == 1:
            close_open_items(conn, run_id, reason=STALE_NOT_ATTEMPTED)
            conn.execute(
                update(Run).where(Run.id == run_id).values(**metrics_from_items(conn, run_id))
            )
            marked.append(run_id)
    return marked


def metrics_from_items(conn: Connection, run_id: int) -> dict[str, int | None]:
    """A dead process never wrote its run's metrics: count them from the items it recorded, so
    an interrupted run's record (and its report) says what really happened."""
    outcome, verdict, size = RunItem.outcome, RunItem.verdict, RunItem.size

    def count(condition: Any) -> Any:
        return func.count().filter(condition)

    def total(condition: Any) -> Any:
        return func.sum(size).filter(condition)

    row = conn.execute(
        select(
            func.count(func.distinct(RunItem.repository)).label("repositories_scanned"),
            func.count().label("images_scanned"),
            count(RunItem.selected_by.is_not(None)).label("candidates"),
            count(verdict == "keep").label("kept"),
            count(verdict == "delete").label("planned_deletes"),
            count(outcome == "skipped_warning").label("skipped_by_warning"),
            count(outcome == "deleted").label("deleted"),
            count(outcome == "would_delete").label("would_delete"),
            count(outcome.in_(("error", "unconfirmed"))).label("errors"),
            total(outcome == "deleted").label("bytes_reclaimed"),
            total(outcome == "would_delete").label("bytes_planned"),
        ).where(RunItem.run_id == run_id)
    ).one()
    return {key: (int(value) if value is not None else None) for key, value in row._mapping.items()}


def to_record(row: Row[Any]) -> RunRecord:
    m = row._mapping
    return RunRecord(
        id=m["id"],
        policy=m["policy"],
        namespace=m["namespace"],
        trigger=m["trigger"],
        dry_run=bool(m["dry_run"]),
        status=m["status"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        error=m["error"],
        backend=m["backend"],
        metrics=RunMetrics(**{name: m[name] for name in RUN_METRIC_COLUMNS}),
        hub_metrics=HubMetrics(**{name: m[col] for name, col in HUB_METRIC_COLUMNS.items()}),
        owner=m["owner"],
        heartbeat_at=m["heartbeat_at"],
        report_path=m["report_path"],
        plan_hash=m["plan_hash"],
        notes=tuple(m["notes"].splitlines()) if m["notes"] else (),
    )
