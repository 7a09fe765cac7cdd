"""Settling earlier runs' deletes whose answer was never read (``unconfirmed``): a later run's
listing of the repository, taken before it deletes anything, tells whether each is gone."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace

from janitor.hub.models import RepositoryInventory
from janitor.records import Outcome, RunStatus
from janitor.store import Store

log = logging.getLogger("janitor.engine")

SETTLE_LOOKBACK = 20
"""How many recent failed and interrupted runs of a namespace a run looks at for ``unconfirmed``
items to settle."""


Unsettled = dict[str, list[tuple[int, str]]]


def unconfirmed_items(store: Store, namespace: str, run_id: int) -> Unsettled:
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


def settle(
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
        recount_after_settling(store, earlier)
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


def recount_after_settling(store: Store, run_id: int) -> None:
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
