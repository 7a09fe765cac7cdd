"""JSON shapes of runs and decisions (``--json`` output): ISO 8601 UTC times, never-pulled null."""

from __future__ import annotations

from dataclasses import asdict

from janitor.records import DecisionRecord, RunRecord
from janitor.units import iso


def run_to_json(run: RunRecord) -> dict[str, object]:
    return {
        "run_id": run.id,
        "policy": run.policy,
        "namespace": run.namespace,
        "trigger": run.trigger,
        "dry_run": run.dry_run,
        "backend": run.backend,
        "status": run.status,
        "error": run.error,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "duration_seconds": run.duration_seconds,
        "metrics": asdict(run.metrics),
        "hub_metrics": asdict(run.hub_metrics),
        "report": run.report_path,
        "plan_hash": run.plan_hash,
        "notes": list(run.notes),
    }


def decision_to_json(item: DecisionRecord) -> dict[str, object]:
    return {
        "repository": item.repository,
        "digest": item.digest,
        "tags": list(item.tags),
        "last_pushed": iso(item.last_pushed),
        "last_pulled": iso(item.last_pulled),
        "size": item.size,
        "verdict": item.verdict,
        "reasons": list(item.reasons),
        "selected_by": item.selected_by,
        "outcome": item.outcome,
        "detail": item.detail,
        "hub_code": item.hub_code,
    }
