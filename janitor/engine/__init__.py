"""The run path. ``run_policy`` (``policy_run``) is what `janitor run` and the service call: mode,
recovery, the running lease, ``run_once`` (``run``: inventory -> plan -> execute -> record), the
report. The other modules each hold one job of it: ``context`` (what a run needs from outside),
``mode`` (the two-key rule), ``lease`` (one run of a policy at a time), ``owners`` (whether a
run's process is alive), ``recovery`` (what dead processes left behind), ``planned`` (planned
deletes held compactly), ``settle`` (earlier runs' unconfirmed deletes)."""

from janitor.engine.context import Clock, Progress, RunContext, utcnow
from janitor.engine.lease import RunningLease, lease_name, running_lease_ttl
from janitor.engine.mode import RunMode, decide_mode
from janitor.engine.owners import owner_id, owner_is_dead
from janitor.engine.policy_run import PolicyBusy, PolicyRun, run_policy
from janitor.engine.recovery import recover_stale_runs, release_dead_holder
from janitor.engine.run import run_once

__all__ = [
    "Clock",
    "PolicyBusy",
    "PolicyRun",
    "Progress",
    "RunContext",
    "RunMode",
    "RunningLease",
    "decide_mode",
    "lease_name",
    "owner_id",
    "owner_is_dead",
    "recover_stale_runs",
    "release_dead_holder",
    "run_once",
    "run_policy",
    "running_lease_ttl",
    "utcnow",
]
