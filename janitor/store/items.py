"""Queries on ``run_items``: bulk writes that stream, and the per-run aggregates reports need."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import JSON, bindparam, case, func, select, update
from sqlalchemy.engine import Connection

from janitor.records import DecisionRecord, OutcomeRow
from janitor.store.models import OUTCOMES, VERDICTS, RunItem
from janitor.store.types import UTCDateTime

BATCH_SIZE = 2000
STREAM_PAGE = 1000
UNCONFIRMED_DETAIL = (
    "unconfirmed: the delete was sent but the run stopped before Hub's answer was read; "
    "a later run finds out whether the image is gone"
)
_OUTCOME_SET = frozenset(OUTCOMES)
_VERDICT_SET = frozenset(VERDICTS)


def _batches(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


_INSERT_COLUMNS: tuple[str, ...] = (
    "run_id",
    "repository",
    "digest",
    "tags",
    "last_pushed",
    "last_pulled",
    "size",
    "verdict",
    "reasons",
    "outcome",
    "detail",
    "selected_by",
    "hub_code",
)


def _values(run_id: int, d: DecisionRecord) -> tuple[Any, ...]:
    if d.outcome not in _OUTCOME_SET:
        raise ValueError(f"unknown outcome {d.outcome!r} for {d.repository}@{d.digest}")
    if d.verdict not in _VERDICT_SET:
        raise ValueError(f"unknown verdict {d.verdict!r} for {d.repository}@{d.digest}")
    if d.run_id is not None and d.run_id != run_id:
        raise ValueError(f"decision for {d.repository}@{d.digest} belongs to run {d.run_id}")
    return (
        run_id,
        d.repository,
        d.digest,
        list(d.tags),
        d.last_pushed,
        d.last_pulled,
        d.size,
        d.verdict,
        list(d.reasons),
        d.outcome,
        d.detail,
        d.selected_by,
        d.hub_code,
    )


def _bind_processors(conn: Connection) -> list[Callable[[Any], Any] | None]:
    """The column types' own bind processors for this dialect (JSON encoding, the UTC check and
    conversion of datetimes), so rows written around SQLAlchemy's statement layer are stored
    exactly as SQLAlchemy itself would store them."""
    dialect = conn.dialect
    table = RunItem.__table__
    return [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in _INSERT_COLUMNS
    ]


# -- the bind processors, faster ---------------------------------------------------------------
#
# A run of a million images inserts a million rows, each with two times and two JSON lists: the
# columns' own processors (a TypeDecorator around the dialect's) cost more than the insert. For
# the values janitor always has (aware UTC datetimes, lists of strings) a direct twin gives the
# same result; it is used only where it gave exactly what SQLAlchemy's processor gives on probe
# values of every shape, so another SQLAlchemy version or storage format falls back to the
# processor itself. Anything else (a naive datetime, an offset) goes to the processor as well,
# which refuses or converts it as always.

_dumps = json.dumps
_JSON_PROBES: tuple[tuple[str, ...], ...] = ((), ("latest",), ("pr-1", "v1.2.3"), ('q"u\\o', "ünï"))
_TIME_PROBES = (
    datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(999, 1, 1, 0, 0, 0, 7, tzinfo=UTC),
)


def _time_twin(slow: Callable[[Any], Any], dialect: str) -> Callable[[Any], Any]:
    if dialect == "sqlite":  # naive UTC text in SQLAlchemy's fixed-width storage format

        def fast(value: Any) -> Any:
            if type(value) is datetime and value.tzinfo is UTC:
                return value.replace(tzinfo=None).isoformat(" ", "microseconds")
            return slow(value)

        return fast

    def same(value: Any) -> Any:  # PostgreSQL takes the aware datetime itself
        if type(value) is datetime and value.tzinfo is UTC:
            return value
        return slow(value)

    return same


def _verified(
    fast: Callable[[Any], Any], slow: Callable[[Any], Any], probes: Iterable[Any]
) -> Callable[[Any], Any]:
    try:
        same = all(fast(p) == slow(list(p) if isinstance(p, tuple) else p) for p in probes)
    except Exception:  # a processor that refuses a probe: keep it, whatever it does
        same = False
    return fast if same else slow


def _fast_processors(
    conn: Connection, processors: list[Callable[[Any], Any] | None]
) -> list[Callable[[Any], Any] | None]:
    dialect = conn.dialect.name
    table = RunItem.__table__
    out: list[Callable[[Any], Any] | None] = []
    for name, slow in zip(_INSERT_COLUMNS, processors, strict=True):
        kind = table.c[name].type
        if slow is None:
            out.append(None)
        elif isinstance(kind, JSON):
            out.append(_verified(_dumps, slow, _JSON_PROBES))
        elif isinstance(kind, UTCDateTime):
            out.append(_verified(_time_twin(slow, dialect), slow, _TIME_PROBES))
        else:
            out.append(slow)
    return out


def _processed(
    rows: Iterable[tuple[Any, ...]], processors: list[Callable[[Any], Any] | None]
) -> Iterator[tuple[Any, ...]]:
    active = [(i, p) for i, p in enumerate(processors) if p is not None]
    for row in rows:
        values = list(row)
        for i, process in active:
            if values[i] is not None:
                values[i] = process(values[i])
        yield tuple(values)


def add_decisions(conn: Connection, run_id: int, decisions: Iterable[DecisionRecord]) -> int:
    """Insert the decisions as they come, never holding more than one batch.

    The per-row cost of SQLAlchemy's statement layer dominates at 100,000 rows, so rows go to the
    driver directly, with the columns' own bind processors applied (or their verified twins, see
    above): PostgreSQL gets them through ``COPY ... FROM STDIN`` (psycopg), SQLite through
    ``executemany`` in batches.
    """
    processors = _fast_processors(conn, _bind_processors(conn))
    rows = _processed((_values(run_id, d) for d in decisions), processors)
    if conn.dialect.name == "postgresql":
        return _copy(conn, rows)
    count = 0
    placeholders = ", ".join("?" for _ in _INSERT_COLUMNS)
    sql = f"INSERT INTO run_items ({', '.join(_INSERT_COLUMNS)}) VALUES ({placeholders})"
    for batch in _batches(rows, BATCH_SIZE):
        conn.exec_driver_sql(sql, batch)
        count += len(batch)
    return count


def _copy(conn: Connection, rows: Iterable[tuple[Any, ...]]) -> int:
    count = 0
    # The driver connection inside SQLAlchemy's transaction: COPY commits or rolls back with it.
    dbapi_connection = conn.connection.driver_connection
    with (
        dbapi_connection.cursor() as cursor,  # type: ignore[union-attr]
        cursor.copy(f"COPY run_items ({', '.join(_INSERT_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


_SET_OUTCOME = (
    update(RunItem)
    .where(
        RunItem.run_id == bindparam("b_run_id"),
        RunItem.repository == bindparam("b_repository"),
        RunItem.digest == bindparam("b_digest"),
    )
    .values(
        outcome=bindparam("b_outcome"),
        detail=bindparam("b_detail"),
        hub_code=bindparam("b_hub_code"),
    )
)


def set_outcomes(
    conn: Connection, run_id: int, outcomes: Iterable[OutcomeRow]
) -> list[tuple[str, str]]:
    """Update items in batches (the last outcome given for an image wins, with its hub_code or
    none); return the (repository, digest) pairs that matched no item of the run.

    An executemany of single-row UPDATEs, each an index lookup on (run_id, repository, digest);
    psycopg pipelines them. (A set-based ``UPDATE ... FROM (VALUES ...)`` was tried: right after a
    run's rows are inserted PostgreSQL's statistics are stale and it hash-joins the whole run for
    every batch, which is slower and grows with the run.)"""
    missing: list[tuple[str, str]] = []
    for batch in _batches(outcomes, BATCH_SIZE):
        latest: dict[tuple[str, str], tuple[str, str | None, str | None]] = {}
        for row in batch:
            repository, digest, outcome, detail = row[:4]
            if outcome not in _OUTCOME_SET:
                raise ValueError(f"unknown outcome {outcome!r} for {repository}@{digest}")
            latest[(repository, digest)] = (outcome, detail, row[4] if len(row) > 4 else None)
        params = [
            {
                "b_run_id": run_id,
                "b_repository": r,
                "b_digest": d,
                "b_outcome": o,
                "b_detail": t,
                "b_hub_code": c,
            }
            for (r, d), (o, t, c) in latest.items()
        ]
        result = conn.execute(_SET_OUTCOME, params)
        if conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(params):
            missing.extend(_missing(conn, run_id, list(latest)))
    return missing


def _missing(conn: Connection, run_id: int, keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    repositories = {repository for repository, _ in keys}
    rows = conn.execute(
        select(RunItem.repository, RunItem.digest).where(
            RunItem.run_id == run_id, RunItem.repository.in_(repositories)
        )
    )
    present = {(repository, digest) for repository, digest in rows}
    return [key for key in keys if key not in present]


def close_open_items(conn: Connection, run_id: int, *, reason: str) -> dict[str, int]:
    """The run stopped: ``pending`` items become ``not_attempted`` (detail ``reason``), ``sending``
    ones (a delete sent, its answer never read) ``unconfirmed``. Known outcomes stay."""
    not_attempted = conn.execute(
        update(RunItem)
        .where(RunItem.run_id == run_id, RunItem.outcome == "pending")
        .values(outcome="not_attempted", detail=reason, hub_code=None)
    ).rowcount
    unconfirmed = conn.execute(
        update(RunItem)
        .where(RunItem.run_id == run_id, RunItem.outcome == "sending")
        .values(outcome="unconfirmed", detail=UNCONFIRMED_DETAIL, hub_code=None)
    ).rowcount
    return {"not_attempted": not_attempted, "unconfirmed": unconfirmed}


_ITEM_COLUMNS = (
    RunItem.run_id,
    RunItem.repository,
    RunItem.digest,
    RunItem.tags,
    RunItem.last_pushed,
    RunItem.last_pulled,
    RunItem.verdict,
    RunItem.reasons,
    RunItem.outcome,
    RunItem.detail,
    RunItem.size,
    RunItem.selected_by,
    RunItem.hub_code,
)


def decisions(
    conn: Connection, run_id: int, *, outcome: str | None, verdict: str | None
) -> Iterator[DecisionRecord]:
    stmt = select(*_ITEM_COLUMNS).where(RunItem.run_id == run_id)
    if outcome is not None:
        stmt = stmt.where(RunItem.outcome == outcome)
    if verdict is not None:
        stmt = stmt.where(RunItem.verdict == verdict)
    stmt = stmt.order_by(RunItem.repository, RunItem.digest)
    result = conn.execution_options(yield_per=STREAM_PAGE).execute(stmt)
    for row in result:
        yield DecisionRecord(
            repository=row.repository,
            digest=row.digest,
            tags=tuple(row.tags),
            last_pushed=row.last_pushed,
            last_pulled=row.last_pulled,
            verdict=row.verdict,
            reasons=tuple(row.reasons),
            outcome=row.outcome,
            detail=row.detail,
            size=row.size,
            selected_by=row.selected_by,
            run_id=row.run_id,
            hub_code=row.hub_code,
        )


def outcome_counts(conn: Connection, run_id: int) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    rows = conn.execute(
        select(RunItem.outcome, func.count())
        .where(RunItem.run_id == run_id)
        .group_by(RunItem.outcome)
    )
    for outcome, count in rows:
        counts[outcome] = int(count)
    return counts


# Per-repository columns of the report's table: key -> outcomes counted under it.
SUMMARY_COUNTS: dict[str, tuple[str, ...]] = {
    "kept": ("kept",),
    "deleted": ("deleted",),
    "would_delete": ("would_delete",),
    "skipped_warning": ("skipped_warning",),
    "errors": ("error",),
    "pending": ("pending",),
    "not_attempted": ("not_attempted",),
    "unconfirmed": ("sending", "unconfirmed"),
}


def repository_summary(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    counted = [
        func.sum(case((RunItem.outcome.in_(outcomes), 1), else_=0)).label(key)
        for key, outcomes in SUMMARY_COUNTS.items()
    ]
    reclaimed = func.sum(
        case((RunItem.outcome.in_(("deleted", "would_delete")), RunItem.size))
    ).label("bytes")
    stmt = (
        select(RunItem.repository, func.count().label("images"), *counted, reclaimed)
        .where(RunItem.run_id == run_id)
        .group_by(RunItem.repository)
        .order_by(RunItem.repository)
    )
    summary = []
    for row in conn.execute(stmt):
        m = row._mapping
        entry: dict[str, Any] = {"repository": m["repository"], "images": int(m["images"])}
        entry.update({key: int(m[key] or 0) for key in SUMMARY_COUNTS})
        entry["bytes"] = None if m["bytes"] is None else int(m["bytes"])
        summary.append(entry)
    return summary
