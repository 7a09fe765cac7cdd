"""Named, expiring leases: "several replicas, one run".

Acquiring is one atomic statement on both databases, ``INSERT ... ON CONFLICT (name) DO UPDATE
... WHERE <the lease is ours or expired>``: the row is written only when the lease is free, so of
several processes racing for it exactly one changes the row (PostgreSQL row-locks the conflicting
row and re-checks the WHERE; SQLite runs one writer at a time).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from janitor.store.models import Lease


def _check_ttl(ttl: timedelta) -> None:
    if ttl <= timedelta(0):
        raise ValueError(f"a lease's ttl must be positive, not {ttl}")


def try_acquire(conn: Connection, name: str, owner: str, *, ttl: timedelta, now: datetime) -> bool:
    _check_ttl(ttl)
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(Lease).values(
        name=name, owner=owner, expires_at=now + ttl, acquired_at=now
    )
    ours = Lease.owner == stmt.excluded.owner
    stmt = stmt.on_conflict_do_update(
        index_elements=[Lease.name],
        set_={
            "owner": stmt.excluded.owner,
            "expires_at": stmt.excluded.expires_at,
            # Renewing keeps the original acquisition time; taking over starts a new one.
            "acquired_at": case((ours, Lease.acquired_at), else_=stmt.excluded.acquired_at),
        },
        where=or_(ours, Lease.expires_at <= stmt.excluded.acquired_at),
    )
    if conn.dialect.name == "postgresql":
        # psycopg leaves rowcount unset here; RETURNING says whether the row was written.
        return conn.execute(stmt.returning(Lease.name)).first() is not None
    return conn.execute(stmt).rowcount == 1


def renew(conn: Connection, name: str, owner: str, *, ttl: timedelta, now: datetime) -> bool:
    """Extend the lease if ``owner`` still holds it (even past its expiry, as long as nobody else
    took it meanwhile)."""
    _check_ttl(ttl)
    result = conn.execute(
        update(Lease).where(Lease.name == name, Lease.owner == owner).values(expires_at=now + ttl)
    )
    return result.rowcount == 1


def release(conn: Connection, name: str, owner: str) -> None:
    conn.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner))
