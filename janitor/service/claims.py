"""Several replicas, one fire: a **fire claim** (``fire:<job>@<scheduled time>``, a row of the
store's ``leases`` table) names one scheduled fire. The first replica to take it runs that fire;
the others skip it. It is never released and lives a day, far longer than any replica could be
late for the same fire, so a slow replica cannot run a fire again after the winner finished.
Each attempt uses its own token as the owner, so even the same process cannot claim one fire
twice. (A policy's runs never overlap thanks to the running lease: ``janitor.engine.lease``.)
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from janitor.engine.lease import lease_name
from janitor.store import Store

FIRE_CLAIM_TTL = timedelta(days=1)


def attempt_token(owner: str) -> str:
    """A lease owner unique to one attempt of this process (``host:pid/<random>``)."""
    return f"{owner}/{uuid.uuid4().hex[:12]}"


def claim_fire(store: Store, key: str, owner: str, *, now: datetime) -> bool:
    """Claim the scheduled fire ``key`` (see ``firetimes.fire_key``); True when this attempt
    won it."""
    return store.try_acquire_lease(
        lease_name("fire", key), attempt_token(owner), ttl=FIRE_CLAIM_TTL, now=now
    )
