"""Runs and leases left behind by a process that died: recorded as interrupted, released."""

from __future__ import annotations

import logging
from datetime import timedelta

from janitor.engine.context import RunContext
from janitor.engine.lease import lease_name
from janitor.engine.owners import owner_is_dead
from janitor.store import Store

log = logging.getLogger("janitor.engine")


def recover_stale_runs(ctx: RunContext, *, own_runs: bool = False) -> list[int]:
    """Mark runs left ``running`` by a process that died as ``interrupted``: runs whose heartbeat
    is older than ``stale_after``, and at once every run of a process of this host that no
    longer exists (``owner_is_dead``). ``own_runs``: also those of ``ctx.owner`` itself, for a
    one-shot process that starts with no run of its own in flight (a container's PID 1 comes
    back with the same ``host:pid``)."""
    store, now = ctx.store, ctx.clock()
    stale_after = timedelta(seconds=ctx.settings.stale_after_seconds)
    marked = set(
        store.mark_stale_runs_interrupted(
            now=now, stale_after=stale_after, owner=ctx.owner if own_runs else None
        )
    )
    running = store.list_runs(status="running", limit=None)
    dead = {r.owner for r in running if r.owner and owner_is_dead(r.owner, ctx.owner)}
    for owner in sorted(dead):
        marked.update(
            store.mark_stale_runs_interrupted(now=now, stale_after=stale_after, owner=owner)
        )
    for run_id in sorted(marked):
        log.warning("run %d was left running by a process that stopped: marked interrupted", run_id)
    return sorted(marked)


def release_dead_holder(store: Store, policy: str, me: str) -> bool:
    """The running lease of ``policy`` is held: when its holder is the owner of the policy's
    latest run and that process of this host no longer exists (a `janitor run` or a replica
    killed with -9), release its lease now rather than make the next run wait out its TTL. (Its
    runs were marked interrupted by ``recover_stale_runs`` already.)"""
    for run in store.list_runs(policy=policy, limit=1):
        if run.owner and run.status != "running" and owner_is_dead(run.owner, me):
            store.release_lease(lease_name("running", policy), run.owner)
            log.warning(
                "released the running lease of policy %s held by %s, a process that no longer "
                "exists",
                policy,
                run.owner,
            )
            return True
    return False
