"""Leases: "several replicas, one run". Acquire is atomic on both databases."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from janitor.store import Store

from .factories import at

TTL = timedelta(minutes=5)


def test_two_owners_one_wins_until_expiry(store: Store) -> None:
    assert store.try_acquire_lease("policy:nightly", "a", ttl=TTL, now=at(0))
    assert not store.try_acquire_lease("policy:nightly", "b", ttl=TTL, now=at(1))
    assert not store.try_acquire_lease("policy:nightly", "b", ttl=TTL, now=at(4.99))
    # another name is another lease
    assert store.try_acquire_lease("policy:weekly", "b", ttl=TTL, now=at(1))
    # expired (expires_at <= now): the other owner gets in, and the first one is out
    assert store.try_acquire_lease("policy:nightly", "b", ttl=TTL, now=at(5))
    assert not store.try_acquire_lease("policy:nightly", "a", ttl=TTL, now=at(6))
    assert not store.renew_lease("policy:nightly", "a", ttl=TTL, now=at(6))


def test_acquiring_again_extends_ones_own_lease(store: Store) -> None:
    assert store.try_acquire_lease("l", "a", ttl=TTL, now=at(0))
    assert store.try_acquire_lease("l", "a", ttl=TTL, now=at(4))  # now held until at(9)
    assert not store.try_acquire_lease("l", "b", ttl=TTL, now=at(8))
    assert store.try_acquire_lease("l", "b", ttl=TTL, now=at(9))


def test_renew_extends_and_fails_once_someone_else_holds_it(store: Store) -> None:
    assert not store.renew_lease("l", "a", ttl=TTL, now=at(0))  # nothing to renew
    assert store.try_acquire_lease("l", "a", ttl=TTL, now=at(0))
    assert store.renew_lease("l", "a", ttl=TTL, now=at(4))
    assert not store.try_acquire_lease("l", "b", ttl=TTL, now=at(8))
    # expired but nobody took it: still ours to renew
    assert store.renew_lease("l", "a", ttl=TTL, now=at(20))
    assert not store.try_acquire_lease("l", "b", ttl=TTL, now=at(21))


def test_release_frees_only_ones_own_lease(store: Store) -> None:
    assert store.try_acquire_lease("l", "a", ttl=TTL, now=at(0))
    store.release_lease("l", "b")  # not b's: nothing happens
    assert not store.try_acquire_lease("l", "b", ttl=TTL, now=at(1))
    store.release_lease("l", "a")
    assert store.try_acquire_lease("l", "b", ttl=TTL, now=at(1))
    store.release_lease("never-taken", "a")


def test_a_non_positive_ttl_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="ttl"):
        store.try_acquire_lease("l", "a", ttl=timedelta(0), now=at(0))
    with pytest.raises(ValueError, match="ttl"):
        store.renew_lease("l", "a", ttl=timedelta(seconds=-1), now=at(0))


@pytest.mark.parametrize("held_before", [False, True], ids=["free", "expired"])
def test_concurrent_acquire_from_threads_has_exactly_one_winner(
    db_url: str, held_before: bool
) -> None:
    """Replicas racing for one lease, each through its own engine (its own connections)."""
    contenders = 8
    if held_before:
        with Store(db_url) as store:
            assert store.try_acquire_lease("race", "old", ttl=TTL, now=at(-10))
    barrier = threading.Barrier(contenders, timeout=30)
    results: dict[str, bool] = {}
    errors: list[BaseException] = []

    def contend(owner: str) -> None:
        try:
            with Store(db_url) as store:
                store.ping()  # connect before the race
                barrier.wait()
                results[owner] = store.try_acquire_lease("race", owner, ttl=TTL, now=at(0))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=contend, args=(f"replica-{i}",)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    winners = [owner for owner, won in results.items() if won]
    assert len(results) == contenders and len(winners) == 1
    with Store(db_url) as store:
        # the winner holds it: it can renew, nobody else can
        assert store.renew_lease("race", winners[0], ttl=TTL, now=at(1))
        losers = [owner for owner in results if owner != winners[0]]
        assert not any(store.renew_lease("race", o, ttl=TTL, now=at(1)) for o in losers)
