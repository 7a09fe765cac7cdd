"""Settling earlier runs' deletes whose answer was never read (``unconfirmed``): a later run's
listing of the repository, taken before it deletes anything, or Hub's ``not_found`` when the
later run asks again, tells whether each is gone."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from janitor.hub.models import RepositoryInventory
from janitor.records import Outcome, OutcomeRow, RunStatus
from janitor.store import Store

log = logging.getLogger("janitor.engine")

SETTLE_LOOKBACK = 20
"""How many recent failed and interrupted runs of a namespace a run looks at for ``unconfirmed``
items to settle."""


class Unconfirmed:
    """Earlier runs' real deletes whose answer was never read (the process died, or Hub failed
    without an answer), and how this run settles them:

    * its listing no longer shows the image: the delete took effect (``deleted``);
    * its listing still shows it, and the delete was sent longer than the grace period ago:
      Hub did not apply it (``error``); within the grace period it stays ``unconfirmed``, as Hub
      may apply a delete late (a proxy held it; its sender died before the answer);
    * Hub answers ``not_found`` when this run asks to delete the image again: the earlier
      delete took effect (``deleted``), and this run claims no error for it (``claim_gone``).
    """

    def __init__(self, store: Store, run_id: int, *, now: datetime, grace: timedelta) -> None:
        self.store = store
        self.run_id = run_id
        self.now = now
        self.grace = grace
        # repository -> digest -> (earlier run, the time its delete was sent at the latest)
        self.sent: dict[str, dict[str, tuple[int, datetime]]] = defaultdict(dict)

    @classmethod
    def load(
        cls, store: Store, namespace: str, run_id: int, *, now: datetime, grace: timedelta
    ) -> Unconfirmed:
        found = cls(store, run_id, now=now, grace=grace)
        statuses: tuple[RunStatus, ...] = ("interrupted", "failed")
        for status in statuses:
            for run in store.list_runs(namespace=namespace, status=status, limit=SETTLE_LOOKBACK):
                if run.id == run_id or run.dry_run:
                    continue
                # Items are marked "sending" and the run heartbeaten before the call goes out.
                sent_by = run.heartbeat_at or run.finished_at or run.started_at
                for outcome in _OPEN:
                    for item in store.decisions(run.id, outcome=outcome):
                        found.sent[item.repository][item.digest] = (run.id, sent_by)
        return found

    def settle_listing(self, inventory: RepositoryInventory) -> None:
        """Settle what this run's listing of a repository (taken before it deletes anything)
        tells about earlier runs' unconfirmed deletes in it."""
        repository = inventory.repository.name
        waiting = self.sent.get(repository)
        if not waiting:
            return
        present = {i.digest for i in inventory.images}
        present.update(child for i in inventory.images for child in i.children)
        by_run: dict[int, list[OutcomeRow]] = defaultdict(list)
        young = 0
        for digest, (earlier, sent_by) in list(waiting.items()):
            if digest not in present:
                del waiting[digest]
                by_run[earlier].append(
                    (
                        repository,
                        digest,
                        "deleted",
                        f"gone when run {self.run_id} listed the repository: the delete that "
                        "was sent took effect (or someone else deleted the image meanwhile)",
                    )
                )
            elif self.now - sent_by >= self.grace:
                by_run[earlier].append(
                    (
                        repository,
                        digest,
                        "error",
                        f"not deleted: Hub did not apply the delete that was sent (run "
                        f"{self.run_id} still found the image {_age(self.now - sent_by)} later)",
                    )
                )
            else:
                young += 1
        for earlier, outcomes in sorted(by_run.items()):
            self._settle(earlier, outcomes)
            gone = sum(o[2] == "deleted" for o in outcomes)
            log.info(
                "run %d settled %d unconfirmed delete(s) of run %d in %s: %d gone, %d still there",
                self.run_id,
                len(outcomes),
                earlier,
                repository,
                gone,
                len(outcomes) - gone,
            )
        if young:
            log.info(
                "run %d: %d delete(s) of earlier runs in %s still listed, sent less than %s "
                "ago: left unconfirmed (Hub may still apply them)",
                self.run_id,
                young,
                repository,
                _age(self.grace),
            )

    def claim_gone(self, repository: str, digest: str) -> str | None:
        """Hub answered ``not_found`` for an image this run meant to delete. When an earlier run
        sent a delete for it, that delete took effect: settle it ``deleted`` and return what this
        run records instead of an error; None when no earlier run of janitor sent one."""
        found = self.sent.get(repository, {}).pop(digest, None)
        if found is None:
            return None
        earlier, _ = found
        self._settle(
            earlier,
            [
                (
                    repository,
                    digest,
                    "deleted",
                    f"Hub applied the delete that was sent: run {self.run_id} found the image "
                    "gone (not_found)",
                    "not_found",
                )
            ],
        )
        log.info(
            "run %d: %s@%s is gone (not_found): run %d's unconfirmed delete took effect",
            self.run_id,
            repository,
            digest,
            earlier,
        )
        return f"not attempted: already gone, the delete run {earlier} sent took effect"

    def deleted_here(self, deleted: Iterable[tuple[str, str]]) -> None:
        """This run deleted these (repository, digest) itself (Hub confirmed it): an earlier
        run's unconfirmed delete of one of them was not applied (else this run's delete would
        have found it gone), and that run is settled as not having deleted it."""
        by_run: dict[int, list[OutcomeRow]] = defaultdict(list)
        for repository, digest in deleted:
            found = self.sent.get(repository, {}).pop(digest, None)
            if found is not None:
                by_run[found[0]].append(
                    (
                        repository,
                        digest,
                        "error",
                        "not deleted: Hub did not apply the delete that was sent; run "
                        f"{self.run_id} found the image still there and deleted it",
                    )
                )
        for earlier, outcomes in sorted(by_run.items()):
            self._settle(earlier, outcomes)

    def _settle(self, earlier: int, outcomes: list[OutcomeRow]) -> None:
        self.store.set_outcomes(earlier, outcomes)
        recount_after_settling(self.store, earlier)


_OPEN: tuple[Outcome, ...] = ("unconfirmed", "sending")


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60} min" if seconds >= 120 else f"{seconds} s"


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
