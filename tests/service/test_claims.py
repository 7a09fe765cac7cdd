"""Leases in the shared store: one claim per fire, one running lease per policy."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from janitor.engine import RunningLease
from janitor.service.claims import claim_fire
from janitor.store import Store

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def wait_for(condition: threading.Event, timeout: float = 10.0) -> bool:
    return condition.wait(timeout)


def test_a_fire_is_claimed_once_even_by_the_same_process(any_store: Store) -> None:
    key = "policy:nightly@2026-03-01T03:00:00Z"
    assert claim_fire(any_store, key, "host-a:1", now=T0)
    assert not claim_fire(any_store, key, "host-a:1", now=T0 + timedelta(seconds=1))
    assert not claim_fire(any_store, key, "host-b:7", now=T0 + timedelta(hours=3))
    assert claim_fire(any_store, "policy:nightly@2026-03-02T03:00:00Z", "host-b:7", now=T0)
    # The claim outlives any late replica, then expires so the table does not grow forever.
    assert claim_fire(any_store, key, "host-b:7", now=T0 + timedelta(days=1, seconds=1))


def test_concurrent_claims_have_exactly_one_winner(any_store: Store) -> None:
    key = "policy:race@2026-03-01T03:00:00Z"
    barrier = threading.Barrier(6)

    def attempt(i: int) -> bool:
        barrier.wait(timeout=10)
        return claim_fire(any_store, key, f"host-{i}:1", now=T0)

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(attempt, range(6)))
    assert results.count(True) == 1


def test_running_lease_excludes_other_replicas_until_released(any_store: Store) -> None:
    clock = Clock(T0)
    first = RunningLease(any_store, "nightly", "host-a:1", clock=clock)
    other = RunningLease(any_store, "nightly", "host-b:1", clock=clock)
    other_policy = RunningLease(any_store, "weekly", "host-b:1", clock=clock)
    assert first.acquire()
    try:
        assert not other.acquire()
        other.release()  # never held: must not touch first's lease
        assert not other.acquire()
        assert other_policy.acquire()
    finally:
        first.release()
        other_policy.release()
    assert other.acquire()
    other.release()


def test_a_restarted_process_with_the_same_name_takes_its_lease_back(any_store: Store) -> None:
    # A container restarted keeps its hostname and PID 1: the dead predecessor's lease is its own.
    clock = Clock(T0)
    assert RunningLease(any_store, "nightly", "container:1", clock=clock).acquire()
    clock.now += timedelta(seconds=5)
    again = RunningLease(any_store, "nightly", "container:1", clock=clock)
    assert again.acquire()
    again.release()
    assert RunningLease(any_store, "nightly", "elsewhere:1", clock=clock).acquire()


def test_renewals_tick_while_held_and_stop_on_release(any_store: Store) -> None:
    ticks: list[float] = []
    enough = threading.Event()

    def tick() -> None:
        ticks.append(time.monotonic())
        if len(ticks) >= 3:
            enough.set()

    lease = RunningLease(
        any_store, "nightly", "host-a:1", clock=lambda: datetime.now(UTC), interval=0.02,
        on_tick=tick,
    )  # fmt: skip
    assert lease.acquire()
    assert wait_for(enough)
    lease.release()
    count = len(ticks)
    time.sleep(0.1)
    assert len(ticks) == count
    assert not lease.lost


def test_a_lease_taken_over_after_expiry_stops_the_old_holder(any_store: Store) -> None:
    clock = Clock(T0)
    lost = threading.Event()
    # A holder whose renewals stall (a frozen process, a network partition): interval of an hour.
    frozen = RunningLease(
        any_store, "nightly", "host-a:1", clock=clock, ttl=timedelta(seconds=60), interval=3600,
        on_lost=lost.set,
    )  # fmt: skip
    assert frozen.acquire()
    survivor = RunningLease(any_store, "nightly", "host-b:1", clock=clock)
    try:
        assert not survivor.acquire()
        clock.now = T0 + timedelta(seconds=30)
        assert frozen.renew() is True  # renewing pushes the expiry to T0+90s
        clock.now = T0 + timedelta(seconds=89)
        assert not survivor.acquire()
        clock.now = T0 + timedelta(seconds=91)
        assert survivor.acquire()
        # When the frozen holder wakes up, its next renewal finds the lease gone: it stops.
        assert frozen.renew() is False
        assert lost.is_set() and frozen.lost
        frozen.release()  # must not release the survivor's lease
        third = RunningLease(any_store, "nightly", "host-c:1", clock=clock)
        assert not third.acquire()
    finally:
        survivor.release()
