"""Everything around one run of a policy, for `janitor run` and the service alike: decide the
mode, take the policy's running lease (taking over a dead holder's), record what dead processes
left running, run it (the lease's thread heartbeats the run), then write and deliver its report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from janitor.engine.context import RunContext
from janitor.engine.lease import RunningLease, running_lease_ttl
from janitor.engine.mode import RunMode, decide_mode
from janitor.engine.recovery import recover_stale_runs, release_dead_holder
from janitor.engine.run import run_once
from janitor.errors import JanitorError
from janitor.planner import Planner
from janitor.policy import Policy
from janitor.records import RunRecord
from janitor.report.mail import Mailer
from janitor.reporting import report_run

log = logging.getLogger("janitor.engine")


class PolicyBusy(JanitorError):
    """Another janitor process runs this policy right now (it holds the running lease)."""

    exit_code = 1


@dataclass(frozen=True)
class PolicyRun:
    """A finished run of a policy: its record (as stored after the report) and report file."""

    record: RunRecord
    report: Path | None
    mode: RunMode


def run_policy(
    ctx: RunContext,
    policy: Policy,
    *,
    trigger: str,
    mailer: Mailer | None,
    service: bool = False,
    dry_run_flag: bool = False,
    apply_flag: bool = False,
    on_note: Callable[[str], None] | None = None,
    planner: Planner | None = None,
) -> PolicyRun:
    """Run ``policy`` once and report it. ``service``: the deployment is the second key of the
    two-key rule, and other runs of this process may be in flight (so they are not recovered).
    Raises PolicyBusy, having done nothing, when another process holds the policy's lease, and
    ConfigError when the run may delete but the store would not keep its records.
    The run itself never raises for a failed run (see ``run_once``); a report that cannot be
    written or delivered is logged and leaves ``report`` None. ``planner``: where the plan comes
    from (default: the policy's evaluation; `janitor apply`: a saved plan)."""
    mode = decide_mode(
        policy,
        dry_run_flag=dry_run_flag,
        apply_flag=apply_flag,
        service=service,
        settings=ctx.settings,
    )
    if mode.note and on_note is not None:
        on_note(mode.note)
    if not mode.dry_run:
        ctx.store.check_for_deletes()  # records that vanish with the process: never for deletes
    with _hold_lease(ctx, policy.name, own_runs=not service):
        record = run_once(ctx, policy, trigger=trigger, dry_run=mode.dry_run, planner=planner)
    report = report_run(
        ctx.store, mailer, policy, record.id, settings=ctx.settings, now=ctx.clock()
    )
    return PolicyRun(ctx.store.get_run(record.id) or record, report, mode)


def _hold_lease(ctx: RunContext, policy: str, *, own_runs: bool) -> RunningLease:
    """The policy's running lease, held (release it when the run is over). Before the run starts,
    runs of dead processes are recorded interrupted, so the records never show a new run beside
    a dead one still "running". ``own_runs``: also runs under this process's own name (a
    one-shot process has none in flight; a restarted container comes back with the same one)."""
    lease = RunningLease(
        ctx.store,
        policy,
        ctx.owner,
        clock=ctx.clock,
        ttl=ctx.lease_ttl or running_lease_ttl(timedelta(seconds=ctx.settings.stale_after_seconds)),
        on_tick=lambda: _heartbeat(ctx, policy),
        on_lost=ctx.stop.set,
    )
    if not lease.acquire():
        recover_stale_runs(ctx, own_runs=own_runs)
        if not (release_dead_holder(ctx.store, policy, ctx.owner) and lease.acquire()):
            raise PolicyBusy(
                f"policy {policy!r} is being run right now by another janitor process "
                "(a service replica or another `janitor run`); nothing was done for it, try "
                "again later"
            )
    try:
        recover_stale_runs(ctx, own_runs=own_runs)
    except BaseException:
        lease.release()
        raise
    return lease


def _heartbeat(ctx: RunContext, policy: str) -> None:
    """Keep this process's running run of ``policy`` fresh while its lease is held, so that a long
    listing of one repository is not taken for a dead process."""
    now = ctx.clock()
    for run in ctx.store.list_runs(policy=policy, status="running", limit=10):
        if run.owner == ctx.owner:
            ctx.store.heartbeat(run.id, now)
