"""janitor's run store: runs, per-image decisions, the mail outbox and leases, in SQLite or
PostgreSQL through SQLAlchemy, with Alembic migrations."""

from janitor.store.errors import StoreError
from janitor.store.store import Store

__all__ = ["Store", "StoreError"]
