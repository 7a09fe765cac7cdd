"""One run of one policy: inventory -> plan -> execute -> record (-> report).

``run_once`` is the single run path: the CLI and the scheduled service both call it. The run is
recorded as ``running`` before the first Hub call, every repository's decisions are stored as
soon as they are evaluated, and every batch's outcomes as soon as Hub answers, so a crash at any
point leaves a record that says how far the run got.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from janitor.backends import Backend
from janitor.backends.select import select_backend
from janitor.config import Settings
from janitor.errors import JanitorError
from janitor.execute import ExecutionTotals, Executor, ItemOutcome
from janitor.hub.client import HubClient
from janitor.hub.errors import HubError
from janitor.plan import Decision, LimitViolation
from janitor.policy import Policy, check_limits, evaluate_repository
from janitor.records import DecisionRecord, HubMetrics, RunMetrics, RunRecord
from janitor.store import Store

log = logging.getLogger("janitor.engine")

Clock = Callable[[], datetime]
Progress = Callable[[str], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class RunMode:
    """Whether a run may delete, and why: the two-key rule of DESIGN.md."""

    dry_run: bool
    note: str | None = None


def decide_mode(
    policy: Policy, *, dry_run_flag: bool, apply_flag: bool, service: bool, settings: Settings
) -> RunMode:
    """``--dry-run`` never deletes. A one-shot run deletes only with ``--apply`` and a policy whose
    mode is ``delete`` (``require_apply = false`` drops the ``--apply`` key for cron-driven
    one-shot runs). The service deletes for ``mode: delete`` policies."""
    if dry_run_flag:
        return RunMode(True)
    if policy.mode != "delete":
        note = None
        if apply_flag:
            note = (
                f"policy {policy.name!r} has mode: dry-run, so --apply still makes a dry run; "
                "set mode: delete in the policy file to let it delete"
            )
        return RunMode(True, note)
    if service or apply_flag or not settings.require_apply:
        return RunMode(False)
    return RunMode(
        True,
        f"policy {policy.name!r} has mode: delete; this was a dry run: "
        "run `janitor run --apply` to delete",
    )


@dataclass
class RunContext:
    """What a run needs from the outside world, injected so tests use real things on loopback."""

    settings: Settings
    store: Store
    hub_factory: Callable[[], HubClient]
    backend_factory: Callable[[HubClient, str], Backend] | None = None
    """Chooses the backend for a namespace; default: ``select_backend`` (config + probe)."""
    clock: Clock = utcnow
    stop: threading.Event = field(default_factory=threading.Event)
    progress: Progress | None = None
    owner: str = field(default_factory=owner_id)


def _record(decision: Decision, outcome: str) -> DecisionRecord:
    image = decision.image
    return DecisionRecord(
        repository=image.repository,
        digest=image.digest,
        tags=image.current_tags,
        last_pushed=image.last_pushed,
        last_pulled=image.last_pulled,
        verdict=decision.verdict,
        reasons=decision.reasons,
        outcome=outcome,  # type: ignore[arg-type]
        size=image.size,
        selected_by=decision.selected_by,
    )


def _limit_message(violations: Sequence[LimitViolation]) -> str:
    return "limits refuse this run before any delete: " + "; ".join(v.message for v in violations)


def run_once(ctx: RunContext, policy: Policy, *, trigger: str, dry_run: bool) -> RunRecord:
    """Run ``policy`` once and return its finished record. Never raises for a failed run (the
    record says ``failed`` and why); re-raises only KeyboardInterrupt/SystemExit after recording
    the run as interrupted."""
    store, settings = ctx.store, ctx.settings
    started = ctx.clock()
    if policy.namespace == "library":  # the loader refuses it too; belt and braces
        raise JanitorError("the 'library' namespace (Docker Official Images) is never cleaned")
    run_id = store.start_run(
        policy=policy.name,
        namespace=policy.namespace,
        trigger=trigger,
        dry_run=dry_run,
        backend=settings.delete_backend,
        started_at=started,
        owner=ctx.owner,
    )
    log.info(
        "run %d started: policy %s, namespace %s, %s",
        run_id,
        policy.name,
        policy.namespace,
        "dry run" if dry_run else "DELETING",
    )
    metrics = _Counters()
    planned: list[tuple[str, tuple[Decision, ...]]] = []
    totals = ExecutionTotals()
    status, error = "succeeded", None
    client: HubClient | None = None
    try:
        client = ctx.hub_factory()
        factory = ctx.backend_factory or functools.partial(select_backend, settings=settings)
        backend = factory(client, policy.namespace)
        if backend.name != settings.delete_backend:
            store.set_backend(run_id, backend.name)
        counts: list[tuple[str, int, int]] = []
        for inventory in backend.inventory(
            policy.namespace,
            repositories=policy.covers,
            concurrency=settings.concurrency,
        ):
            if ctx.stop.is_set():
                raise _Stopped()
            repo_plan = evaluate_repository(inventory, policy, started)
            store.add_decisions(
                run_id,
                (
                    _record(d, "pending" if d.verdict == "delete" else "kept")
                    for d in repo_plan.decisions
                ),
            )
            deletes = repo_plan.to_delete
            if deletes:
                planned.append((repo_plan.repository, deletes))
            counts.append((repo_plan.repository, len(repo_plan.decisions), len(deletes)))
            metrics.add_repository(repo_plan.decisions)
            store.heartbeat(run_id, ctx.clock())
            if ctx.progress:
                ctx.progress(
                    f"scanned {metrics.repositories} repositories, {metrics.images} images, "
                    f"{metrics.planned} to delete"
                )

        violations = check_limits(counts, policy)

        def sink(outcomes: Sequence[ItemOutcome]) -> None:
            store.set_outcomes(
                run_id, [(o.repository, o.digest, o.outcome, o.detail) for o in outcomes]
            )
            store.heartbeat(run_id, ctx.clock())

        executor = Executor(
            backend=backend,
            namespace=policy.namespace,
            dry_run=dry_run,
            batch_size=settings.batch_size,
            sink=sink,
            stop=ctx.stop,
            totals=totals,
        )
        if violations and not dry_run:
            error = _limit_message(violations)
            status = "failed"
            executor.skip_all(planned, "not attempted: " + error)
        else:
            executor.run(planned)
            if violations:
                status, error = "failed", _limit_message(violations) + " (dry run: nothing deleted)"
        if totals.failure and status == "succeeded":
            status, error = "failed", totals.failure
        elif totals.interrupted:
            status, error = "interrupted", "stopped on request before every batch was sent"
    except _Stopped:
        status, error = "interrupted", "stopped on request while listing the namespace"
        _skip_planned(store, run_id, planned, "not attempted: janitor was asked to stop")
    except (JanitorError, HubError) as exc:
        status, error = "failed", str(exc)
        _skip_planned(store, run_id, planned, f"not attempted: {exc}")
    except (KeyboardInterrupt, SystemExit):
        _finish(ctx, run_id, "interrupted", "interrupted by the user", metrics, totals, client)
        raise
    except Exception as exc:  # a bug or an unexpected failure: still record it truthfully
        log.exception("run %d failed unexpectedly", run_id)
        status, error = "failed", f"unexpected {type(exc).__name__}: {exc}"
        _skip_planned(store, run_id, planned, "not attempted: the run failed")
    finally:
        if client is not None:
            client.close()
    return _finish(ctx, run_id, status, error, metrics, totals, client)


class _Stopped(Exception):
    pass


def _skip_planned(
    store: Store, run_id: int, planned: list[tuple[str, tuple[Decision, ...]]], reason: str
) -> None:
    """Close what the run did not get to: ``pending`` items become ``not_attempted``, and
    ``sending`` ones (a delete sent, no answer read) ``unconfirmed``. Outcomes already known
    (deleted, skipped, errors) are never overwritten."""
    if planned:
        store.close_pending(run_id, reason=reason)


@dataclass
class _Counters:
    repositories: int = 0
    images: int = 0
    candidates: int = 0
    kept: int = 0
    planned: int = 0

    def add_repository(self, decisions: Sequence[Decision]) -> None:
        self.repositories += 1
        self.images += len(decisions)
        for d in decisions:
            self.candidates += d.candidate
            if d.verdict == "delete":
                self.planned += 1
            else:
                self.kept += 1


def _finish(
    ctx: RunContext,
    run_id: int,
    status: str,
    error: str | None,
    counters: _Counters,
    totals: ExecutionTotals,
    client: HubClient | None,
) -> RunRecord:
    stats = client.stats if client is not None else None
    metrics = RunMetrics(
        repositories_scanned=counters.repositories,
        images_scanned=counters.images,
        candidates=counters.candidates,
        kept=counters.kept,
        planned_deletes=counters.planned,
        skipped_by_warning=totals.skipped_by_warning,
        deleted=totals.deleted,
        would_delete=totals.would_delete,
        errors=totals.errors,
        bytes_reclaimed=totals.bytes_reclaimed,
        bytes_planned=totals.bytes_planned,
        hub_calls=stats.calls if stats else 0,
        hub_rate_limited=stats.rate_limited if stats else 0,
    )
    hub_metrics: HubMetrics = totals.hub_metrics
    record = ctx.store.finish_run(
        run_id,
        status=status,  # type: ignore[arg-type]
        finished_at=ctx.clock(),
        metrics=metrics,
        hub_metrics=hub_metrics,
        error=error,
    )
    log.info(
        "run %d %s: %d images scanned, %d planned, %d deleted, %d would delete, %d skipped, "
        "%d errors, %d Hub calls%s",
        run_id,
        status,
        metrics.images_scanned,
        metrics.planned_deletes,
        metrics.deleted,
        metrics.would_delete,
        metrics.skipped_by_warning,
        metrics.errors,
        metrics.hub_calls,
        f": {error}" if error else "",
    )
    return record


def recover_stale_runs(ctx: RunContext) -> list[int]:
    """Mark runs left ``running`` by a process that died as ``interrupted``."""
    stale = ctx.store.mark_stale_runs_interrupted(
        now=ctx.clock(), stale_after=timedelta(seconds=ctx.settings.stale_after_seconds)
    )
    for run_id in stale:
        log.warning("run %d was left running by a process that stopped: marked interrupted", run_id)
    return stale
