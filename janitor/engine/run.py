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
import re
from array import array
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from janitor.backends import Backend
from janitor.backends.select import select_backend
from janitor.engine.context import RunContext
from janitor.errors import JanitorError
from janitor.execute import ExecutionTotals, Executor, ItemOutcome
from janitor.hub.client import HubClient
from janitor.hub.errors import HubError
from janitor.hub.models import Image, RepositoryInventory, TagRef
from janitor.plan import CurrentTagAction, Decision, LimitViolation
from janitor.planner import Planner, PolicyPlanner
from janitor.policy import Policy, check_limits
from janitor.records import (
    DecisionRecord,
    HubMetrics,
    Outcome,
    RunMetrics,
    RunRecord,
    RunStatus,
)
from janitor.store import Store, StoreError

log = logging.getLogger("janitor.engine")


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
    the run as interrupted. ``planner``: where the plan comes from (default: the policy's
    evaluation of the fresh listing; ``janitor apply``: a saved plan checked against it)."""
    store, settings = ctx.store, ctx.settings
    source: Planner = planner or PolicyPlanner(policy)
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
        plan_hash=source.plan_hash,
    )
    log.info(
        "run %d started: policy %s, namespace %s, %s",
        run_id,
        policy.name,
        policy.namespace,
        "dry run" if dry_run else "DELETING",
    )
    metrics = _Counters()
    planned: list[_Planned] = []
    entries = _Entries()
    totals = ExecutionTotals()
    status, error = "succeeded", None
    client: HubClient | None = None
    backend: Backend | None = None
    store_failure: StoreError | None = None
    try:
        unsettled = _unconfirmed_items(store, policy.namespace, run_id)
        client = ctx.hub_factory()
        factory = ctx.backend_factory or functools.partial(select_backend, settings=settings)
        backend = factory(client, policy.namespace)
        if backend.name != settings.delete_backend:
            store.set_backend(run_id, backend.name)
        counts: list[tuple[str, int, int]] = []
        for inventory in backend.inventory(
            policy.namespace,
            repositories=source.covers,
            concurrency=settings.concurrency,
        ):
            if ctx.stop.is_set():
                raise _Stopped()
            repo_plan = source.plan(inventory, started)
            store.add_decisions(
                run_id,
                (
                    _record(d, "pending" if d.verdict == "delete" else "kept")
                    for d in repo_plan.decisions
                ),
            )
            _settle(store, inventory, unsettled, run_id)
            deletes = repo_plan.to_delete
            if deletes:
                planned.append(
                    _Planned.of(policy.namespace, repo_plan.repository, deletes, entries)
                )
            counts.append((repo_plan.repository, len(repo_plan.decisions), len(deletes)))
            metrics.add_repository(repo_plan.decisions)
            store.heartbeat(run_id, ctx.clock())
            if ctx.progress:
                ctx.progress(
                    f"scanned {metrics.repositories} repositories, {metrics.images} images, "
                    f"{metrics.planned} to delete"
                )

        for repo_plan in source.unlisted():
            store.add_decisions(run_id, (_record(d, "kept") for d in repo_plan.decisions))

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
            protect=policy.protect,
        )
        if violations and not dry_run:
            error = _limit_message(violations)
            status = "failed"
            executor.skip_all(_expanded(planned, entries), "not attempted: " + error)
        else:
            executor.run(_expanded(planned, entries))
            if violations:
                status, error = "failed", _limit_message(violations) + " (dry run: nothing deleted)"
        if totals.failure and status == "succeeded":
            status, error = "failed", totals.failure
        elif totals.interrupted:
            status, error = "interrupted", "stopped on request before every batch was sent"
    except _Stopped:
        status, error = "interrupted", "stopped on request while listing the namespace"
        _skip_planned(store, run_id, planned, "not attempted: janitor was asked to stop")
    except StoreError as exc:
        # Every delete is recorded as "sending" before it is sent, so a store that fails stops
        # the run before any delete whose outcome could not be recorded.
        store_failure = exc
        status, error = "failed", f"the store failed, so the run stopped: {exc}"
    except (JanitorError, HubError) as exc:
        status, error = "failed", str(exc)
        _skip_planned(store, run_id, planned, f"not attempted: {exc}")
    except (KeyboardInterrupt, SystemExit):
        _finish(
            ctx, run_id, "interrupted", "interrupted by the user", metrics, totals, client, backend
        )
        raise
    except Exception as exc:  # a bug or an unexpected failure: still record it truthfully
        log.exception("run %d failed unexpectedly", run_id)
        status, error = "failed", f"unexpected {type(exc).__name__}: {exc}"
        _skip_planned(store, run_id, planned, "not attempted: the run failed")
    finally:
        close = getattr(backend, "close", None)
        if callable(close):
            close()  # the registry backend's own client
        if client is not None:
            client.close()
    if store_failure is None:
        return _finish(ctx, run_id, status, error, metrics, totals, client, backend)
    try:  # the failure may have been brief: record the end of the run if the store lets us
        _skip_planned(store, run_id, planned, f"not attempted: {error}")
        return _finish(ctx, run_id, status, error, metrics, totals, client, backend)
    except StoreError:
        log.error(
            "run %d: %s; it stays recorded as running until the next run marks it interrupted",
            run_id,
            error,
        )
        raise StoreError(
            f"run {run_id} stopped because the store failed ({store_failure}); no delete was "
            "sent after that; the next run records it as interrupted"
        ) from None


class _Stopped(Exception):
    pass


class _Entries:
    """The few distinct (select entry, current_tag, active_from) of a run's planned deletes,
    numbered, so that each planned image refers to its entry with one byte."""

    def __init__(self) -> None:
        self.index: dict[tuple[str | None, CurrentTagAction, datetime | None], int] = {}
        self.table: list[tuple[str | None, CurrentTagAction, datetime | None]] = []

    def number(self, decision: Decision) -> int:
        key = (decision.selected_by, decision.current_tag, decision.active_from)
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.table)
            self.table.append(key)
        return found


_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class _Planned:
    """One repository's planned deletes, kept compact until the executor gets to them.

    The plan of a million-image namespace holds hundreds of thousands of deletes. As whole
    ``Decision`` values (image, times, historical tags, reasons: all recorded already) they
    cost about 1 KB each; the executor needs only digest, size, current tags and the selecting
    entry: about 42 bytes each here (a sha256 digest packed in 32 bytes, the size in 8, one byte
    for the entry, one for whether the size is known; the current tags of the tagged ones).
    ``decisions()`` rebuilds the executor's values one repository at a time."""

    namespace: str
    repository: str
    digests: bytes | tuple[str, ...]  # 32 bytes per digest when all are sha256, else the text
    sizes: array[int]
    sized: bytes  # 1 where the size is known
    entry: bytes  # the number of the image's (entry, current_tag, active_from) in _Entries
    tags: dict[int, tuple[str, ...]]  # position -> current tags, for the tagged images only

    @classmethod
    def of(
        cls, namespace: str, repository: str, deletes: Sequence[Decision], entries: _Entries
    ) -> _Planned:
        numbers = [entries.number(d) for d in deletes]
        if max(numbers) > 255:  # more distinct entries than a byte counts: never in practice
            raise JanitorError("a policy with more than 256 select entries is not supported")
        texts = tuple(d.image.digest for d in deletes)
        packed = all(_SHA256.fullmatch(digest) for digest in texts)
        return cls(
            namespace=namespace,
            repository=repository,
            digests=b"".join(bytes.fromhex(t[7:]) for t in texts) if packed else texts,
            sizes=array("q", (d.image.size or 0 for d in deletes)),
            sized=bytes(d.image.size is not None for d in deletes),
            entry=bytes(numbers),
            tags={i: d.image.current_tags for i, d in enumerate(deletes) if d.image.current_tags},
        )

    def digest(self, i: int) -> str:
        if isinstance(self.digests, bytes):
            return "sha256:" + self.digests[32 * i : 32 * i + 32].hex()
        return self.digests[i]

    def decisions(self, entries: _Entries) -> tuple[Decision, ...]:
        out = []
        for i in range(len(self.entry)):
            selected_by, current_tag, active_from = entries.table[self.entry[i]]
            image = Image(
                namespace=self.namespace,
                repository=self.repository,
                digest=self.digest(i),
                tags=tuple(TagRef(t, True) for t in self.tags.get(i, ())),
                size=self.sizes[i] if self.sized[i] else None,
            )
            out.append(
                Decision(
                    image=image,
                    verdict="delete",
                    reasons=(),  # recorded with the decision; the executor never reads them
                    candidate=True,
                    selected_by=selected_by,
                    current_tag=current_tag,
                    active_from=active_from,
                )
            )
        return tuple(out)


def _expanded(
    planned: list[_Planned], entries: _Entries
) -> Iterator[tuple[str, tuple[Decision, ...]]]:
    for repository_plan in planned:
        yield repository_plan.repository, repository_plan.decisions(entries)


def _skip_planned(store: Store, run_id: int, planned: list[_Planned], reason: str) -> None:
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


def _traffic(client: HubClient | None, backend: Backend | None) -> tuple[int, int]:
    """Calls made and 429s met: the Hub client's, plus the registry client's where the backend
    has one (the registry backend)."""
    sources = [client.stats] if client is not None else []
    registry = getattr(backend, "registry", None)
    if registry is not None and hasattr(registry, "stats"):
        sources.append(registry.stats)
    return sum(s.calls for s in sources), sum(s.rate_limited for s in sources)


def _finish(
    ctx: RunContext,
    run_id: int,
    status: str,
    error: str | None,
    counters: _Counters,
    totals: ExecutionTotals,
    client: HubClient | None,
    backend: Backend | None,
) -> RunRecord:
    calls, rate_limited = _traffic(client, backend)
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
        hub_calls=calls,
        hub_rate_limited=rate_limited,
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


# -- settling deletes whose answer was never read ------------------------------------------------

SETTLE_LOOKBACK = 20
"""How many recent failed and interrupted runs of a namespace a run looks at for ``unconfirmed``
items to settle."""


Unsettled = dict[str, list[tuple[int, str]]]


def _unconfirmed_items(store: Store, namespace: str, run_id: int) -> Unsettled:
    """repository -> [(run id, digest)] of earlier runs' deletes that were sent but whose outcome
    is unknown (the process died, or Hub failed without an answer)."""
    found: Unsettled = defaultdict(list)
    statuses: tuple[RunStatus, ...] = ("interrupted", "failed")
    for status in statuses:
        for run in store.list_runs(namespace=namespace, status=status, limit=SETTLE_LOOKBACK):
            if run.id == run_id or run.dry_run:
                continue
            for item in store.decisions(run.id, outcome="unconfirmed"):
                found[item.repository].append((run.id, item.digest))
    return found


def _settle(
    store: Store,
    inventory: RepositoryInventory,
    unsettled: Unsettled,
    run_id: int,
) -> None:
    """Settle earlier runs' ``unconfirmed`` deletes in this repository against this run's
    listing of it (taken before this run deletes anything): a digest that is gone was deleted,
    one still listed was not."""
    waiting = unsettled.pop(inventory.repository.name, None)
    if not waiting:
        return
    present = {i.digest for i in inventory.images}
    present.update(child for i in inventory.images for child in i.children)
    repository = inventory.repository.name
    by_run: dict[int, list[tuple[str, str, Outcome, str | None]]] = defaultdict(list)
    for earlier, digest in waiting:
        if digest in present:
            by_run[earlier].append(
                (
                    repository,
                    digest,
                    "error",
                    f"not deleted: Hub did not apply the delete that was sent (run {run_id} "
                    "still found the image)",
                )
            )
        else:
            by_run[earlier].append(
                (
                    repository,
                    digest,
                    "deleted",
                    f"gone when run {run_id} listed the repository: the delete that was sent "
                    "took effect (or someone else deleted the image meanwhile)",
                )
            )
    for earlier, outcomes in sorted(by_run.items()):
        store.set_outcomes(earlier, outcomes)
        _recount_after_settling(store, earlier)
        gone = sum(o[2] == "deleted" for o in outcomes)
        log.info(
            "run %d settled %d unconfirmed delete(s) of run %d in %s: %d gone, %d still there",
            run_id,
            len(outcomes),
            earlier,
            repository,
            gone,
            len(outcomes) - gone,
        )


def _recount_after_settling(store: Store, run_id: int) -> None:
    """Settling changes what an earlier run deleted: its ``deleted``, ``errors`` (an unconfirmed
    item counts as an error) and ``bytes_reclaimed`` follow its items."""
    run = store.get_run(run_id)
    if run is None or run.status == "running":
        return
    counts = store.outcome_counts(run_id)
    sizes = [d.size for d in store.decisions(run_id, outcome="deleted") if d.size is not None]
    metrics = replace(
        run.metrics,
        deleted=counts["deleted"],
        errors=counts["error"] + counts["unconfirmed"],
        bytes_reclaimed=sum(sizes) if sizes else None,
    )
    store.finish_run(
        run_id,
        status=run.status,
        finished_at=run.finished_at or run.started_at,
        metrics=metrics,
        hub_metrics=run.hub_metrics,
        error=run.error,
    )
