"""Two `janitor serve` processes on one PostgreSQL database against one emulator: each
scheduled fire runs once, runs of a policy never overlap, and when one replica is killed in the
middle of a run the other marks that run interrupted and keeps serving.

The replicas fire every few seconds through the service's hidden ``--fire-every`` seam (fires
aligned to the epoch, so both name them alike), instead of waiting for cron minutes."""

from __future__ import annotations

import itertools
import logging
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from janitor.emulator.faults import Fault
from janitor.emulator.seed import load_seed
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.records import RunRecord
from janitor.store import Store
from tests.service.helpers import service_env, wait_until, write_policy
from tests.service.process import ServeProcess

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
log = logging.getLogger(__name__)

CLAIMED = re.compile(r"^policy nightly: fire (\S+) claimed by this replica$")
LOST = re.compile(r"^skipped: another replica runs policy nightly \(fire (\S+)\)$")
BUSY = re.compile(r"^skipped: policy nightly is still running .*; fire (\S+)$")


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    from tests.service.helpers import seed

    with start_emulator(load_seed(seed())) as emu:
        yield emu


def fires(process: ServeProcess, pattern: re.Pattern[str]) -> list[str]:
    return [m.group(1) for m in map(pattern.match, process.messages()) if m]


def replicas(
    tmp_path: Path, emulator: RunningEmulator, pg_url: str, args: list[str], **env: str
) -> list[ServeProcess]:
    policies = tmp_path / "policies"
    write_policy(policies, "nightly", mode="dry-run", schedule="* * * * *")
    started = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        environment = service_env(emulator.url, root, pg_url, JANITOR_POLICIES=str(policies), **env)
        started.append(ServeProcess(args, environment, root, f"replica {name}"))
    return started


def owner_of(process: ServeProcess) -> str:
    return f"{socket.gethostname()}:{process.pid}"


def test_each_fire_runs_once_and_runs_never_overlap(
    tmp_path: Path, emulator: RunningEmulator, pg_url: str
) -> None:
    a, b = replicas(tmp_path, emulator, pg_url, ["--fire-every", "2"])
    store = Store(pg_url)
    try:
        a.wait_listening()
        b.wait_listening()
        wait_until(
            lambda: len(store.list_runs(policy="nightly", status="succeeded")) >= 4,
            timeout=60,
            what="four runs",
        )
        for replica in (a, b):
            replica.signal(signal.SIGTERM)
        assert a.wait(70) == 0, a.output()
        assert b.wait(70) == 0, b.output()
        runs = store.list_runs(policy="nightly", limit=None)
    finally:
        a.close()
        b.close()
        store.close()

    claimed_a, claimed_b = set(fires(a, CLAIMED)), set(fires(b, CLAIMED))
    assert claimed_a.isdisjoint(claimed_b), "a fire was claimed by both replicas"
    # Whoever lost a fire, lost it to the other replica.
    assert set(fires(a, LOST)) <= claimed_b
    assert set(fires(b, LOST)) <= claimed_a
    busy = len(fires(a, BUSY)) + len(fires(b, BUSY))
    assert len(runs) == len(claimed_a) + len(claimed_b) - busy >= 4
    assert {r.owner for r in runs} <= {owner_of(a), owner_of(b)}
    assert all(r.trigger == "schedule" and r.status != "running" for r in runs)
    # One run of the policy at a time, across both replicas.
    ordered = sorted(runs, key=lambda r: r.started_at)
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.finished_at is not None and earlier.finished_at <= later.started_at
    log.info(
        "replica a claimed %d fires, b %d; %d runs; %d fires skipped as still running",
        len(claimed_a), len(claimed_b), len(runs), busy,
    )  # fmt: skip


def test_a_replica_killed_mid_run_is_marked_interrupted_by_the_other(
    tmp_path: Path, emulator: RunningEmulator, pg_url: str
) -> None:
    # Slow Hub dry runs (one image per batch): a run lasts ~10 s, long enough to be killed in.
    emulator.faults.add(Fault("slow", path=r"/delete-images$", delay=1.0, times=100_000))
    a, b = replicas(
        tmp_path, emulator, pg_url, ["--fire-every", "3", "--maintenance-every", "2"],
        JANITOR_STALE_AFTER_SECONDS="30", JANITOR_BATCH_SIZE="1",
    )  # fmt: skip
    store = Store(pg_url)
    t0 = time.monotonic()

    def at() -> str:
        return f"t+{time.monotonic() - t0:5.1f}s"

    try:
        a.wait_listening()
        b.wait_listening()
        victim_run: RunRecord = wait_until(
            lambda: next(iter(store.list_runs(policy="nightly", status="running")), None),
            timeout=30,
            what="a run in flight",
        )
        victim, survivor = (a, b) if victim_run.owner == owner_of(a) else (b, a)
        assert victim_run.owner == owner_of(victim)
        wait_until(
            lambda: store.outcome_counts(victim_run.id).get("would_delete", 0) >= 1,
            what="the victim's first batch",
        )
        victim.proc.kill()  # SIGKILL: no clean-up of any kind
        victim.wait(10)
        log.info("%s killed %s in run %d", at(), victim.name, victim_run.id)
        emulator.faults.clear()  # the survivor's runs are quick

        # The victim was a process of this host that no longer exists: the survivor marks its
        # run interrupted and takes its running lease over at once, rather than wait out the
        # lease's TTL (stale_after + 15 s), as `janitor run` does.
        dead = wait_until(
            lambda: r if (r := store.get_run(victim_run.id)) and r.status != "running" else None,
            timeout=60,
            what="the killed run marked interrupted",
        )
        log.info("%s run %d marked %s: %s", at(), dead.id, dead.status, dead.error)
        survivor.wait_for(
            lambda m: "released the running lease of policy nightly" in m,
            what="the dead replica's lease taken over",
        )
        wait_until(
            lambda: any(
                r.status == "succeeded" and r.owner == owner_of(survivor)
                for r in store.list_runs(policy="nightly")
            ),
            timeout=30,
            what="a run of the survivor after the takeover",
        )
        log.info("%s %s took the policy over", at(), survivor.name)
        assert not store.list_runs(policy="nightly", status="running")
        assert survivor.get("/healthz").status_code == 200
        survivor.signal(signal.SIGTERM)
        assert survivor.wait(70) == 0, survivor.output()
        counts = store.outcome_counts(victim_run.id)
        others = [r for r in store.list_runs(policy="nightly") if r.id != victim_run.id]
    finally:
        a.close()
        b.close()
        store.close()

    assert dead.status == "interrupted"
    assert "stopped before the run finished" in (dead.error or "")
    assert counts.get("would_delete", 0) >= 1  # what it did before it died is kept
    assert counts.get("pending", 0) == 0 and counts.get("not_attempted", 0) >= 1
    marked = [m for m in survivor.messages() if f"run {victim_run.id} was left running" in m]
    assert marked, survivor.output()
    # No run of the policy started while the dead one still said "running".
    assert dead.finished_at is not None
    assert all(r.started_at >= dead.finished_at for r in others)
