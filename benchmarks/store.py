"""Benchmark 5: recording a run of 100,000 decisions in bulk, into SQLite and PostgreSQL.

Two ways of writing, both through ``Store.add_decisions``: one call with all rows (bulk), and
the way ``run_once`` writes them, one call (one transaction) per repository of 1,000 images.
Then the executor's share: outcomes for half of the rows (``Store.set_outcomes``, 100 per
call, as batches come back from Hub). PostgreSQL is the server on 127.0.0.1:5432 (or
``JANITOR_TEST_POSTGRES_URL``); a throw-away database is created and dropped.

    python benchmarks/store.py [--rows 100000] [--repeat 3]
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import Report, arguments, measure

from janitor.records import DecisionRecord
from janitor.store import Store
from janitor.store.testing import postgres_available, temporary_postgres_database

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
PER_REPOSITORY = 1000


def decisions(rows: int, seed: int = 1) -> list[DecisionRecord]:
    """Rows shaped like a real run's: 1,000 images per repository, half planned for deletion,
    reasons as the evaluator writes them."""
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        repository = f"repo-{i // PER_REPOSITORY:04d}"
        pushed = NOW - timedelta(seconds=rng.randrange(400 * 86400))
        pulled = None if rng.random() < 0.25 else pushed + timedelta(hours=rng.randrange(2000))
        delete = rng.random() < 0.5
        tags = () if rng.random() < 0.7 else (f"pr-{rng.randrange(10_000)}",)
        reasons = (
            (
                "select 'untagged-and-cold': currently_tagged=false holds; last_pushed "
                f"{pushed:%Y-%m-%d} is older than 30d; last_pulled never (never: match)",
            )
            if delete
            else ("kept by keep[0] most_recent: 5 (rank 2)", "not selected: currently tagged")
        )
        out.append(
            DecisionRecord(
                repository=repository,
                digest=f"sha256:{rng.getrandbits(256):064x}",
                tags=tags,
                last_pushed=pushed,
                last_pulled=pulled,
                verdict="delete" if delete else "keep",
                reasons=reasons,
                outcome="pending" if delete else "kept",
                size=int(rng.lognormvariate(17.5, 1.0)),
                selected_by="untagged-and-cold" if delete else None,
            )
        )
    return out


def by_repository(rows: list[DecisionRecord]) -> Iterator[list[DecisionRecord]]:
    for start in range(0, len(rows), PER_REPOSITORY):
        yield rows[start : start + PER_REPOSITORY]


def one_round(url: str, rows: list[DecisionRecord]) -> dict[str, float]:
    """Times of one fresh database: bulk insert, per-repository inserts, outcomes."""
    store = Store(url)
    try:
        store.upgrade()
        times: dict[str, float] = {}
        run = store.start_run(
            policy="bench", namespace="bench", trigger="manual", dry_run=True,
            started_at=NOW, owner="bench",
        )  # fmt: skip
        with measure() as m:
            store.add_decisions(run, rows)
        times["bulk"] = m.wall
        run = store.start_run(
            policy="bench", namespace="bench", trigger="manual", dry_run=True,
            started_at=NOW, owner="bench",
        )  # fmt: skip
        with measure() as m:
            for chunk in by_repository(rows):
                store.add_decisions(run, chunk)
        times["per_repository"] = m.wall
        outcomes = [
            (d.repository, d.digest, "would_delete", "Hub's dry run accepts the delete")
            for d in rows
            if d.verdict == "delete"
        ]
        with measure() as m:
            for start in range(0, len(outcomes), 100):
                store.set_outcomes(run, outcomes[start : start + 100])  # type: ignore[arg-type]
        times["outcomes"] = m.wall
        times["outcome_rows"] = len(outcomes)
        return times
    finally:
        store.close()


def main() -> None:
    args = arguments(
        __doc__.splitlines()[0],
        lambda p: p.add_argument("--rows", type=int, default=100_000),
    )
    rows = decisions(args.rows)
    report = Report("store", {"rows": f"{args.rows:,}", "repeat": args.repeat})
    databases: list[str] = ["sqlite"]
    reason = postgres_available()
    if reason is None:
        databases.append("postgresql")
    else:
        report.note(f"PostgreSQL skipped: {reason}")
    for database in databases:
        rounds: list[dict[str, float]] = []
        for _ in range(args.repeat):
            if database == "sqlite":
                with tempfile.TemporaryDirectory(prefix="janitor-bench-") as folder:
                    rounds.append(one_round(f"sqlite:///{Path(folder) / 'janitor.db'}", rows))
            else:
                with temporary_postgres_database("janitor_bench") as url:
                    rounds.append(one_round(url, rows))
        bulk = [r["bulk"] for r in rounds]
        report.add(f"{database}: {args.rows:,} decisions, one bulk call", bulk, "s")
        report.add(
            f"{database}: bulk rows/s", [args.rows / t for t in bulk], "rows/s", better="higher"
        )
        per_repo = [r["per_repository"] for r in rounds]
        report.add(f"{database}: same rows, one call per 1,000 (as run_once)", per_repo, "s")
        report.add(
            f"{database}: per-repository rows/s",
            [args.rows / t for t in per_repo],
            "rows/s",
            better="higher",
        )
        n = int(rounds[0]["outcome_rows"])
        report.add(
            f"{database}: {n:,} outcomes, 100 per call",
            [r["outcomes"] for r in rounds],
            "s",
        )
    report.finish()


if __name__ == "__main__":
    main()
