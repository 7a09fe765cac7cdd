"""One run of one policy: inventory -> plan -> execute -> record.

``run_once`` is the run itself; ``janitor.engine.policy_run.run_policy`` wraps it in everything
around it (mode, recovery, lease, report) for the CLI and the service alike. The run is
recorded as ``running`` before the first Hub call, every repository's decisions are stored as
soon as they are evaluated, and every batch's outcomes as soon as Hub answers, so a crash at any
point leaves a record that says how far the run got.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from janitor.backends import Backend
from janitor.backends.select import select_backend
from janitor.engine.context import RunContext
from janitor.engine.planned import Entries, Planned, expanded
from janitor.engine.settle import Unconfirmed
from janitor.errors import JanitorError
from janitor.execute import ExecutionTotals, Executor, ItemOutcome
from janitor.hub.client import HubClient
from janitor.hub.errors import HubError
from janitor.hub.models import RepositoryInventory
from janitor.plan import Decision, LimitViolation
from janitor.planner import Planner, PolicyPlanner
from janitor.policy import Policy, check_limits
from janitor.policy.limits import RepositoryCounts
from janitor.records import DecisionRecord, OutcomeRow, RunMetrics, RunRecord, RunStatus
from janitor.store import StoreError
from janitor.untag import PlannedUntags, removal_of, run_untags, skip_untags

log = logging.getLogger("janitor.engine")


def run_once(
    ctx: RunContext,
    policy: Policy,
    *,
    trigger: str,
    dry_run: bool,
    planner: Planner | None = None,
) -> RunRecord:
    """Run ``policy`` once and return its finished record. Never raises for a failed run (the
    record says ``failed`` and why); re-raises only KeyboardInterrupt/SystemExit after recording
    the run as interrupted, and a StoreError when the store cannot even record the end.
    ``planner``: where the plan comes from (default: the policy's evaluation of the fresh
    listing; ``janitor apply``: a saved plan checked against it)."""
    if policy.namespace == "library":  # the loader refuses it too; belt and braces
        raise JanitorError("the 'library' namespace (Docker Official Images) is never cleaned")
    run = _Run.start(
        ctx, policy, trigger=trigger, dry_run=dry_run, planner=planner or PolicyPlanner(policy)
    )
    try:
        run.execute(run.plan())
    except _Stopped:
        run.end(
            "interrupted",
            "stopped on request while listing the namespace",
            skip="not attempted: janitor was asked to stop",
        )
    except StoreError as exc:
        # Every delete is recorded as "sending" before it is sent, so a store that fails stops
        # the run before any delete whose outcome could not be recorded.
        run.store_failure = exc
        run.status, run.error = "failed", f"the store failed, so the run stopped: {exc}"
    except (JanitorError, HubError) as exc:
        run.end("failed", str(exc), skip=f"not attempted: {exc}")
    except (KeyboardInterrupt, SystemExit):
        run.status, run.error = "interrupted", "interrupted by the user"
        run.close()
        run.finish()
        raise
    except Exception as exc:  # a bug or an unexpected failure: still record it truthfully
        log.exception("run %d failed unexpectedly", run.run_id)
        run.end(
            "failed",
            f"unexpected {type(exc).__name__}: {exc}",
            skip="not attempted: the run failed",
        )
    finally:
        run.close()
    return run.finish()


class _Stopped(Exception):
    pass


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


@dataclass
class _Run:
    """The state of one run between its start and its record's end."""

    ctx: RunContext
    policy: Policy
    run_id: int
    dry_run: bool
    started: datetime
    planner: Planner
    counters: _Counters = field(default_factory=_Counters)
    planned: list[Planned] = field(default_factory=list)
    untags: PlannedUntags = field(default_factory=list)
    entries: Entries = field(default_factory=Entries)
    totals: ExecutionTotals = field(default_factory=ExecutionTotals)
    status: RunStatus = "succeeded"
    error: str | None = None
    client: HubClient | None = None
    backend: Backend | None = None
    unconfirmed: Unconfirmed | None = None
    store_failure: StoreError | None = None
    traffic: tuple[int, int] = (0, 0)  # Hub calls made and 429s met, read when closing
    notes: list[str] = field(default_factory=list)  # what the run could not see, recorded
    refused: list[str] = field(default_factory=list)  # repositories not planned (listings)

    @classmethod
    def start(
        cls, ctx: RunContext, policy: Policy, *, trigger: str, dry_run: bool, planner: Planner
    ) -> _Run:
        started = ctx.clock()
        run_id = ctx.store.start_run(
            policy=policy.name,
            namespace=policy.namespace,
            trigger=trigger,
            dry_run=dry_run,
            backend=ctx.settings.delete_backend,
            started_at=started,
            owner=ctx.owner,
            plan_hash=planner.plan_hash,
        )
        log.info(
            "run %d started: policy %s, namespace %s, %s",
            run_id,
            policy.name,
            policy.namespace,
            "dry run" if dry_run else "DELETING",
        )
        return cls(ctx, policy, run_id, dry_run, started, planner)

    def _connect(self) -> Backend:
        settings = self.ctx.settings
        self.client = self.ctx.hub_factory()
        factory = self.ctx.backend_factory or functools.partial(select_backend, settings=settings)
        self.backend = factory(self.client, self.policy.namespace)
        if self.backend.name != settings.delete_backend:
            self.ctx.store.set_backend(self.run_id, self.backend.name)
        return self.backend

    def plan(self) -> list[RepositoryCounts]:
        """List and evaluate the namespace repository by repository, recording every decision
        and settling earlier runs' unconfirmed deletes; returns the counts the limits check."""
        ctx, store, policy = self.ctx, self.ctx.store, self.policy
        self.unconfirmed = unconfirmed = Unconfirmed.load(
            store,
            policy.namespace,
            self.run_id,
            now=self.started,
            grace=timedelta(seconds=ctx.settings.unconfirmed_grace_seconds),
        )
        backend = self._connect()
        counts: list[RepositoryCounts] = []
        for inventory in backend.inventory(
            policy.namespace,
            repositories=self.planner.covers,
            concurrency=ctx.settings.concurrency,
        ):
            if ctx.stop.is_set():
                raise _Stopped()
            if self._noted(inventory):
                continue  # refused: its listing did not add up, so nothing in it is planned
            repo_plan = self.planner.plan(inventory, self.started)
            store.add_decisions(self.run_id, (_record(d) for d in repo_plan.decisions))
            unconfirmed.settle_listing(inventory)
            deletes = repo_plan.to_delete
            if deletes:
                self.planned.append(
                    Planned.of(policy.namespace, repo_plan.repository, deletes, self.entries)
                )
            removals = [
                removal_of(d.image.digest, d.untag, d.image.current_tags)
                for d in repo_plan.decisions
                if d.untag
            ]
            if removals:
                self.untags.append((repo_plan.repository, removals))
            counts.append(
                (
                    repo_plan.repository,
                    len(repo_plan.decisions),
                    len(deletes),
                    sum(len(r.tags) for r in removals),
                )
            )
            self.counters.add_repository(repo_plan.decisions)
            store.heartbeat(self.run_id, ctx.clock())
            if ctx.progress:
                c = self.counters
                ctx.progress(
                    f"scanned {c.repositories} repositories, {c.images} images, "
                    f"{c.planned} to delete"
                )
        for repo_plan in self.planner.unlisted():  # planned, but Hub no longer lists them
            store.add_decisions(self.run_id, (_record(d) for d in repo_plan.decisions))
        return counts

    def _noted(self, inventory: RepositoryInventory) -> bool:
        """Record what the backend could not see in a repository, or why it refuses to plan
        it; True when refused."""
        where = f"{self.policy.namespace}/{inventory.repository.name}"
        found = list(inventory.notes)
        if inventory.refused:
            self.refused.append(where)
            found.append(f"{where} was not planned: {inventory.refused}; nothing in it was deleted")
        if found:
            self.notes.extend(found)
            self.ctx.store.set_notes(self.run_id, self.notes)
        return inventory.refused is not None

    def execute(self, counts: list[RepositoryCounts]) -> None:
        """Hub's dry run, then (unless a dry run, and within the limits) the deletes."""
        store = self.ctx.store
        violations = check_limits(counts, self.policy)

        def sink(outcomes: Sequence[ItemOutcome | OutcomeRow]) -> None:
            rows: list[OutcomeRow] = [
                (o.repository, o.digest, o.outcome, o.detail, o.hub_code)
                if isinstance(o, ItemOutcome)
                else o
                for o in outcomes
            ]
            store.set_outcomes(self.run_id, rows)
            if self.unconfirmed is not None and not self.dry_run:
                self.unconfirmed.deleted_here((r[0], r[1]) for r in rows if r[2] == "deleted")
            store.heartbeat(self.run_id, self.ctx.clock())

        assert self.backend is not None
        executor = Executor(
            backend=self.backend,
            namespace=self.policy.namespace,
            dry_run=self.dry_run,
            batch_size=self.ctx.settings.batch_size,
            sink=sink,
            stop=self.ctx.stop,
            totals=self.totals,
            protect=self.policy.protect,
            claim_gone=self.unconfirmed.claim_gone if self.unconfirmed else None,
        )
        if violations and not self.dry_run:
            self.status, self.error = "failed", _limit_message(violations)
            executor.skip_all(expanded(self.planned, self.entries), "not attempted: " + self.error)
            skip_untags(self.untags, self.error, sink)
            return
        self.backend.prepare(self.policy.namespace, [p.repository for p in self.planned])
        executor.run(expanded(self.planned, self.entries))
        if self.untags:
            if self.totals.failure is not None:
                skip_untags(self.untags, "the run stopped after an earlier failure", sink)
            else:
                self.totals.failure = run_untags(
                    self.backend,
                    self.policy.namespace,
                    self.untags,
                    dry_run=self.dry_run,
                    sink=sink,
                    stop=self.ctx.stop,
                )
        if violations:
            self.status = "failed"
            self.error = _limit_message(violations) + " (dry run: nothing deleted)"
        if self.totals.failure and self.status == "succeeded":
            self.status, self.error = "failed", self.totals.failure
        elif self.refused and self.status == "succeeded":
            self.status = "failed"
            self.error = (
                f"not planned, because their listings did not add up when read twice: "
                f"{', '.join(self.refused)}; nothing in them was planned or deleted, the rest "
                "of the namespace ran as usual; the next run reads them again"
            )
        elif self.totals.interrupted:
            self.status = "interrupted"
            self.error = "stopped on request before every batch was sent"

    def end(self, status: RunStatus, error: str, *, skip: str) -> None:
        """The run ends early: what it planned and did not reach is closed with ``skip``."""
        self.status, self.error = status, error
        self._skip_planned(skip)

    def _skip_planned(self, reason: str) -> None:
        """``pending`` items become ``not_attempted``, and ``sending`` ones (a delete sent, no
        answer read) ``unconfirmed``. Outcomes already known are never overwritten."""
        if self.planned:
            self.ctx.store.close_pending(self.run_id, reason=reason)

    def close(self) -> None:
        backend, client, self.backend, self.client = self.backend, self.client, None, None
        if backend is not None:
            backend.close()  # the registry backend's own client
        if client is not None:
            client.close()
            self.traffic = _traffic(client, backend)

    def finish(self) -> RunRecord:
        if self.store_failure is None:
            return self._record_end()
        try:  # the failure may have been brief: record the end of the run if the store lets us
            self._skip_planned(f"not attempted: {self.error}")
            return self._record_end()
        except StoreError:
            log.error(
                "run %d: %s; it stays recorded as running until the next run marks it interrupted",
                self.run_id,
                self.error,
            )
            raise StoreError(
                f"run {self.run_id} stopped because the store failed ({self.store_failure}); no "
                "delete was sent after that; the next run records it as interrupted"
            ) from None

    def _record_end(self) -> RunRecord:
        calls, rate_limited = self.traffic
        c, t = self.counters, self.totals
        metrics = RunMetrics(
            repositories_scanned=c.repositories,
            images_scanned=c.images,
            candidates=c.candidates,
            kept=c.kept,
            planned_deletes=c.planned,
            skipped_by_warning=t.skipped_by_warning,
            deleted=t.deleted,
            would_delete=t.would_delete,
            errors=t.errors,
            bytes_reclaimed=t.bytes_reclaimed,
            bytes_planned=t.bytes_planned,
            hub_calls=calls,
            hub_rate_limited=rate_limited,
        )
        record = self.ctx.store.finish_run(
            self.run_id,
            status=self.status,
            finished_at=self.ctx.clock(),
            metrics=metrics,
            hub_metrics=t.hub_metrics,
            error=self.error,
        )
        log.info(
            "run %d %s: %d images scanned, %d planned, %d deleted, %d would delete, %d skipped, "
            "%d errors, %d Hub calls%s",
            self.run_id,
            self.status,
            metrics.images_scanned,
            metrics.planned_deletes,
            metrics.deleted,
            metrics.would_delete,
            metrics.skipped_by_warning,
            metrics.errors,
            metrics.hub_calls,
            f": {self.error}" if self.error else "",
        )
        return record


def _record(decision: Decision) -> DecisionRecord:
    image = decision.image
    return DecisionRecord(
        repository=image.repository,
        digest=image.digest,
        tags=image.current_tags,
        last_pushed=image.last_pushed,
        last_pulled=image.last_pulled,
        verdict=decision.verdict,
        reasons=decision.reasons,
        outcome="pending" if decision.verdict == "delete" else "kept",
        size=image.size,
        selected_by=decision.selected_by,
    )


def _limit_message(violations: Sequence[LimitViolation]) -> str:
    return "limits refuse this run before any delete: " + "; ".join(v.message for v in violations)


def _traffic(client: HubClient | None, backend: Backend | None) -> tuple[int, int]:
    """Calls made and 429s met: the Hub client's, plus the registry client's where the backend
    has one (the registry backend)."""
    sources = [client.stats] if client is not None else []
    if backend is not None:
        sources.append(backend.own_calls())
    return sum(s.calls for s in sources), sum(s.rate_limited for s in sources)
