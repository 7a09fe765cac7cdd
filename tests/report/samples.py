"""Realistic runs and decisions for the report tests, and a way to render them to files to look at:

python -m tests.report.samples OUT_DIR      (or: python tests/report/samples.py OUT_DIR)
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from janitor.records import DecisionRecord, HubMetrics, RunMetrics, RunRecord

NOW = datetime(2026, 5, 11, 8, 0, tzinfo=UTC)  # a Monday
MiB = 1024 * 1024

HOSTILE_TAG = "<script>alert(1)</script>"
HOSTILE_REPO = "evil\"'><img src=x onerror=alert(2)>"
UNICODE_TAG = "версия-1.0-ünïcødé-☃"
LONG_REPO = "a-very-long-repository-name-" + "x" * 180


def digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def decision(
    repository: str,
    seed: str,
    outcome: str,
    *,
    tags: tuple[str, ...] = (),
    verdict: str | None = None,
    reasons: tuple[str, ...] | None = None,
    detail: str | None = None,
    size: int | None = 42 * MiB,
    pushed_days: int = 200,
    pulled_days: int | None = 120,
    selected_by: str | None = None,
    run_id: int = 42,
) -> DecisionRecord:
    if verdict is None:
        verdict = "keep" if outcome == "kept" else "delete"
    if reasons is None:
        reasons = (
            (
                "select 'old-and-cold': last_pushed 2025-10-23 is older than 90d; "
                "last_pulled is older than 30d",
            )
            if verdict == "delete"
            else ("no select entry matched",)
        )
    return DecisionRecord(
        repository=repository,
        digest=digest(f"{repository}/{seed}"),
        tags=tags,
        last_pushed=NOW - timedelta(days=pushed_days),
        last_pulled=None if pulled_days is None else NOW - timedelta(days=pulled_days),
        verdict=verdict,  # type: ignore[arg-type]
        reasons=reasons,
        outcome=outcome,  # type: ignore[arg-type]
        detail=detail,
        size=size,
        selected_by=selected_by or ("old-and-cold" if verdict == "delete" else None),
        run_id=run_id,
    )


def sample_decisions(*, dry_run: bool, run_id: int = 42) -> list[DecisionRecord]:
    """Three ordinary repositories, a hostile one and a very long one; every outcome."""
    removed = "would_delete" if dry_run else "deleted"
    out: list[DecisionRecord] = []
    for i in range(6):
        out.append(
            decision(
                "api",
                f"old{i}",
                removed,
                tags=(f"1.{i}.0", f"build-{100 + i}"),
                size=(30 + i) * MiB,
                pulled_days=None if i % 2 else 60,
                run_id=run_id,
            )
        )
    for i in range(5):
        out.append(
            decision(
                "api",
                f"new{i}",
                "kept",
                tags=(f"2.{i}.0",),
                pushed_days=3 + i,
                pulled_days=1,
                run_id=run_id,
            )
        )
    out.append(
        decision(
            "api",
            "saved",
            "kept",
            tags=("stable",),
            verdict="keep",
            reasons=("select 'old-and-cold' matched", "kept by keep[0] tag: ^stable$"),
            selected_by="old-and-cold",
            run_id=run_id,
        )
    )
    out.append(
        decision(
            "web-frontend",
            "current",
            "skipped_warning",
            tags=("latest", "main"),
            detail="current_tag: the image is currently tagged latest, main; the policy says skip",
            run_id=run_id,
        )
    )
    for i in range(3):
        out.append(decision("web-frontend", f"old{i}", removed, size=None, run_id=run_id))
    out.append(
        decision(
            "worker",
            "gone",
            "error",
            tags=("0.9",),
            detail="not_found: Hub: manifest unknown (txnid 7f3a9c)",
            run_id=run_id,
        )
    )
    out.append(decision("worker", "kept", "kept", tags=("1.0",), run_id=run_id))
    out.append(
        decision(
            HOSTILE_REPO, "x", removed, tags=(HOSTILE_TAG, UNICODE_TAG, 'quote"tag'), run_id=run_id
        )
    )
    out.append(
        decision(LONG_REPO, "long", removed, tags=("t" * 120,), size=3 * 1024 * MiB, run_id=run_id)
    )
    return out


def metrics_for(decisions: list[DecisionRecord], *, dry_run: bool) -> RunMetrics:
    by = {o: [d for d in decisions if d.outcome == o] for o in {d.outcome for d in decisions}}
    removed = by.get("would_delete" if dry_run else "deleted", [])
    sizes = [d.size for d in removed if d.size is not None]
    planned = [d for d in decisions if d.verdict == "delete"]
    return RunMetrics(
        repositories_scanned=len({d.repository for d in decisions}),
        images_scanned=len(decisions),
        candidates=len(planned)
        + sum(1 for d in decisions if d.selected_by and d.verdict == "keep"),
        kept=len(by.get("kept", [])),
        planned_deletes=len(planned),
        skipped_by_warning=len(by.get("skipped_warning", [])),
        deleted=0 if dry_run else len(removed),
        would_delete=len(removed) if dry_run else 0,
        errors=len(by.get("error", [])) + len(by.get("unconfirmed", [])),
        bytes_reclaimed=None if dry_run or not sizes else sum(sizes),
        bytes_planned=(sum(sizes) if sizes else None) if dry_run else None,
        hub_calls=37,
        hub_rate_limited=2,
    )


def sample_run(
    *, dry_run: bool = False, status: str = "succeeded", error: str | None = None, run_id: int = 42
) -> tuple[RunRecord, list[DecisionRecord]]:
    decisions = sample_decisions(dry_run=dry_run, run_id=run_id)
    removed = sum(1 for d in decisions if d.outcome in ("deleted", "would_delete"))
    run = RunRecord(
        id=run_id,
        policy="nightly-cleanup",
        namespace="acme",
        trigger="schedule",
        dry_run=dry_run,
        status=status,  # type: ignore[arg-type]
        started_at=NOW - timedelta(minutes=7, seconds=12),
        finished_at=NOW,
        error=error,
        backend="delete-images",
        metrics=metrics_for(decisions, dry_run=dry_run),
        hub_metrics=HubMetrics(
            manifest_deletes=0 if dry_run else removed,
            manifest_errors=0,
            tag_deletes=0 if dry_run else 9,
            tag_errors=0,
        ),
        owner="janitor-1:4711",
    )
    return run, decisions


def many_decisions(count: int, *, outcome: str = "deleted") -> Iterator[DecisionRecord]:
    for i in range(count):
        yield decision(f"repo-{i % 7}", f"many{i}", outcome, tags=(f"v{i}",), size=MiB)


def weekly_runs() -> list[RunRecord]:
    """Eight weeks of runs of two policies (one delete, one dry run) and a few failures."""
    runs: list[RunRecord] = []
    run_id = 100
    for week in range(8):
        for day in range(0, 7, 2):
            started = NOW - timedelta(weeks=week, days=day, hours=2)
            run_id += 1
            deleted = 10 * (8 - week) + day
            runs.append(
                RunRecord(
                    id=run_id,
                    policy="nightly-cleanup",
                    namespace="acme",
                    trigger="schedule",
                    dry_run=False,
                    status="succeeded",
                    started_at=started,
                    finished_at=started + timedelta(minutes=4),
                    backend="delete-images",
                    metrics=RunMetrics(
                        images_scanned=900,
                        deleted=deleted,
                        bytes_reclaimed=deleted * 40 * MiB,
                        hub_calls=50,
                    ),
                )
            )
            run_id += 1
            runs.append(
                RunRecord(
                    id=run_id,
                    policy="staging-preview",
                    namespace="acme-staging",
                    trigger="schedule",
                    dry_run=True,
                    status="succeeded",
                    started_at=started,
                    finished_at=started + timedelta(minutes=2),
                    backend="delete-images",
                    metrics=RunMetrics(
                        images_scanned=400,
                        would_delete=120 + week,
                        bytes_planned=(120 + week) * 25 * MiB,
                    ),
                )
            )
    runs.append(
        RunRecord(
            id=999,
            policy="nightly-cleanup",
            namespace="acme",
            trigger="schedule",
            dry_run=False,
            status="failed",
            started_at=NOW - timedelta(days=3, hours=1),
            finished_at=NOW - timedelta(days=3),
            backend="delete-images",
            error="Hub answered 503 Service Unavailable for POST /v2/namespaces/acme/delete-images "
            "(txnid 1b2c3d); the run stopped",
            metrics=RunMetrics(images_scanned=300, deleted=5, bytes_reclaimed=5 * 40 * MiB),
        )
    )
    runs.append(
        RunRecord(
            id=1000,
            policy=HOSTILE_REPO,
            namespace="acme",
            trigger="cli",
            dry_run=True,
            status="interrupted",
            started_at=NOW - timedelta(days=1),
            finished_at=NOW - timedelta(hours=23),
            error="interrupted: the process stopped before the run finished",
        )
    )
    return runs


def write_samples(out: Path) -> list[Path]:
    from janitor.report import render_run_report, render_weekly_report
    from janitor.report.files import write_report

    paths = []
    run, decisions = sample_run()
    paths.append(write_report(render_run_report(run, decisions, generated_at=NOW), out, "run"))
    run, decisions = sample_run(dry_run=True)
    paths.append(write_report(render_run_report(run, decisions, generated_at=NOW), out, "dry"))
    run, decisions = sample_run(
        status="failed",
        error="Hub answered 503 Service Unavailable for POST /v2/namespaces/acme/delete-images "
        "(txnid 1b2c3d); the run stopped after 2 of 5 batches",
    )
    paths.append(write_report(render_run_report(run, decisions, generated_at=NOW), out, "failed"))
    big = list(many_decisions(620))
    run = replace(sample_run()[0], metrics=metrics_for(big, dry_run=False))
    paths.append(write_report(render_run_report(run, big, generated_at=NOW), out, "big"))
    weekly = render_weekly_report(
        weekly_runs(), since=NOW - timedelta(weeks=1), until=NOW, generated_at=NOW
    )
    paths.append(write_report(weekly, out, "weekly"))
    return paths


if __name__ == "__main__":
    for path in write_samples(Path(sys.argv[1])):
        sys.stdout.write(f"{path}\n")
