"""The running lease: one run of a policy at a time, across `janitor run` processes and service
replicas sharing a store (a row of the store's ``leases`` table; the service's fire claims are
in :mod:`janitor.service.claims`).

The lease (``running:<policy>``, owned by the process's ``host:pid``; the service keeps its
own runs apart in memory) is held while a policy's run lasts: renewed every few seconds by a
thread, which also heartbeats the run, and released at the end. It keeps a policy's runs from
overlapping (a run that outlasts its cron period makes the next fire skip). When its holder dies
the lease expires and another process may run the policy again; a holder of this host that is
gone is taken over at once (``janitor.engine.recovery``). Its TTL is a little longer than
``stale_after`` (see :func:`running_lease_ttl`), so by the time another replica can take the
policy over, the dead replica's run is stale and is marked interrupted first: the records never
show a new run beside a dead one still "running".
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

from janitor.store import Store, StoreError

log = logging.getLogger("janitor.engine.lease")

RUNNING_LEASE_TTL = timedelta(seconds=60)
RENEW_EVERY = 10.0  # seconds; also how often a run's heartbeat is refreshed
_MAX_NAME = 200  # the store's leases.name column


def running_lease_ttl(stale_after: timedelta) -> timedelta:
    """The running lease's TTL for a given ``stale_after``: a dead holder's last heartbeat is at
    most one renewal later than its last renewal, so its lease expires only after its run went
    stale (with a few seconds for clocks that disagree)."""
    return stale_after + timedelta(seconds=RENEW_EVERY + 5)


def lease_name(kind: str, key: str) -> str:
    """``kind:key``, shortened with a hash when it would not fit the store's column."""
    name = f"{kind}:{key}"
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"{kind}:{key[: _MAX_NAME - len(kind) - 35]}~{digest}"


class RunningLease:
    """The running lease of one policy, renewed by a daemon thread while held.

    ``acquire()`` returns False when another replica holds it (the same owner gets it back).
    While held, every ``interval`` the thread renews the lease and calls ``on_tick`` (the service
    heartbeats the run there); if the lease turns out to be someone else's, it calls ``on_lost``
    once and stops.
    A store that is briefly unreachable only logs: the lease survives as long as nobody else
    took it (``renew`` extends our own lease even past its expiry).
    """

    def __init__(
        self,
        store: Store,
        policy: str,
        owner: str,
        *,
        clock: Callable[[], datetime],
        ttl: timedelta = RUNNING_LEASE_TTL,
        interval: float | None = None,
        on_tick: Callable[[], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.name = lease_name("running", policy)
        # The replica's own name: a process restarted with the same host:pid (a container's
        # PID 1 keeps both) takes its dead predecessor's lease back at once, after its start-up
        # marked that predecessor's runs interrupted.
        self.token = owner
        self.clock = clock
        self.ttl = ttl
        self.interval = (
            interval if interval is not None else min(RENEW_EVERY, ttl.total_seconds() / 3)
        )
        self.on_tick = on_tick
        self.on_lost = on_lost
        self.lost = False
        self._held = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        if not self.store.try_acquire_lease(self.name, self.token, ttl=self.ttl, now=self.clock()):
            return False
        self._held = True
        self._thread = threading.Thread(
            target=self._renew_loop, name=f"lease-{self.policy}", daemon=True
        )
        self._thread.start()
        return True

    def _renew_loop(self) -> None:
        while not self._done.wait(self.interval):
            if self.renew() is False:
                return

    def renew(self) -> bool | None:
        """Renew once: True when still ours (then ``on_tick`` runs), False when someone else
        took it (then ``on_lost`` runs, once), None when the store could not be reached."""
        if self.lost:
            return False
        try:
            still_ours = self.store.renew_lease(
                self.name, self.token, ttl=self.ttl, now=self.clock()
            )
        except StoreError as exc:
            log.warning("could not renew the running lease of policy %s: %s", self.policy, exc)
            return None
        if not still_ours:
            self.lost = True
            log.error(
                "lost the running lease of policy %s (another replica took it over); "
                "stopping this run at its next batch",
                self.policy,
            )
            if self.on_lost is not None:
                self.on_lost()
            return False
        if self.on_tick is not None:
            try:
                self.on_tick()
            except Exception:  # a heartbeat failing must not stop the renewals
                log.warning("heartbeat of policy %s failed", self.policy, exc_info=True)
        return True

    def release(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.lost or not self._held:
            return
        self._held = False
        try:
            self.store.release_lease(self.name, self.token)
        except StoreError as exc:  # it expires by itself within its TTL
            log.warning("could not release the running lease of policy %s: %s", self.policy, exc)

    def __enter__(self) -> RunningLease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
