"""The one run path around ``run_once``: ``run_policy``, as `janitor run` and the service call
it. Both take over the running lease of a process of this host that died, and both heartbeat
their run from the lease's thread."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from janitor.engine import PolicyBusy, lease_name, run_policy
from janitor.hub.models import ManifestRef
from tests.runs.conftest import World


def dead_owner() -> str:
    """``host:pid`` of a process of this host that has ended (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()}:{child.pid}"


@pytest.mark.parametrize("service", [False, True], ids=["janitor-run", "service"])
def test_a_dead_holders_lease_is_taken_over_by_either_caller(world: World, service: bool) -> None:
    policy = world.policy(mode="dry-run")
    dead = dead_owner()
    now = datetime.now(UTC)
    left = world.store.start_run(
        policy=policy.name,
        namespace="acme",
        trigger="cli",
        dry_run=False,
        started_at=now - timedelta(seconds=5),
        owner=dead,
    )
    assert world.store.try_acquire_lease(
        lease_name("running", policy.name), dead, ttl=timedelta(hours=1), now=now
    )

    done = run_policy(world.context(), policy, trigger="cli", mailer=None, service=service)

    assert done.record.status == "succeeded", done.record.error
    before = world.store.get_run(left)
    assert before is not None and before.status == "interrupted"
    assert before.finished_at is not None and before.finished_at <= done.record.started_at
    assert done.report is not None and done.report.exists()


@pytest.mark.parametrize("service", [False, True], ids=["janitor-run", "service"])
def test_a_live_holder_keeps_its_lease_and_nothing_is_done(world: World, service: bool) -> None:
    policy = world.policy(mode="dry-run")
    assert world.store.try_acquire_lease(
        lease_name("running", policy.name),
        "another-host:1",
        ttl=timedelta(hours=1),
        now=datetime.now(UTC),
    )
    with pytest.raises(PolicyBusy, match="being run right now"):
        run_policy(world.context(), policy, trigger="cli", mailer=None, service=service)
    assert world.store.list_runs() == []


@pytest.mark.parametrize("service", [False, True], ids=["janitor-run", "service"])
def test_the_lease_thread_heartbeats_the_run(world: World, service: bool) -> None:
    """While Hub's dry run of a batch hangs, nothing in the run's own thread heartbeats it:
    only the lease's thread keeps it from looking dead."""
    seen = threading.Event()

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if when != "before" or seen.is_set():
            return
        (run,) = world.store.list_runs(status="running")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = world.store.get_run(run.id)
            assert now is not None
            if now.heartbeat_at != run.heartbeat_at:
                seen.set()
                return
            time.sleep(0.05)

    ctx = world.hooked(hook, lease_ttl=timedelta(seconds=0.6))  # renewed every 0.2 s
    done = run_policy(
        ctx, world.policy(mode="dry-run"), trigger="cli", mailer=None, service=service
    )
    assert done.record.status == "succeeded", done.record.error
    assert seen.is_set(), "the run was not heartbeaten while a Hub call hung"
