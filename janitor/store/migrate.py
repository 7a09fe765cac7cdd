"""Alembic, driven from code: where the migrations live, the config, and running them safely.

The migrations ship inside the wheel as the package ``janitor._migrations``; in a source checkout
they are the top-level ``migrations/`` folder next to the ``janitor`` package.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from janitor.store.errors import StoreError

# pg_advisory_xact_lock key serialising concurrent upgrades ("janitor" in ASCII).
MIGRATION_LOCK_KEY = int.from_bytes(b"janitor", "big")


@cache
def migrations_dir() -> Path:
    """The folder holding ``env.py`` and ``versions/``."""
    candidates: list[Path] = []
    try:
        packaged = importlib.resources.files("janitor._migrations")
    except ModuleNotFoundError:
        pass
    else:
        candidates.append(Path(str(packaged)))
    # janitor/store/migrate.py -> the checkout's top level, where migrations/ sits next to janitor/
    candidates.append(Path(__file__).resolve().parents[2] / "migrations")
    for candidate in candidates:
        if (candidate / "env.py").is_file() and (candidate / "versions").is_dir():
            return candidate
    raise StoreError(
        "the database migrations are missing from this installation "
        "(neither the janitor._migrations package nor ./migrations next to janitor)"
    )


def alembic_config(connection: Connection | None = None) -> Config:
    """A file-less Alembic config for the packaged migrations.

    With ``connection``, ``env.py`` migrates over it (inside the caller's transaction) instead of
    opening its own from a URL: the password of the URL then never passes through Alembic.
    """
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes["configure_logger"] = False
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - the package always ships its revisions
        raise StoreError("no database migration found in this installation")
    return head


def known_revisions() -> set[str]:
    return {script.revision for script in _script().walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def lock_for_migration(connection: Connection) -> None:
    """Wait for any other process migrating the same database; call it first thing in the
    migration's transaction, which releases the lock when it ends.

    PostgreSQL: a transaction-level advisory lock. SQLite: ``BEGIN IMMEDIATE`` takes the database's
    write lock now (the driver would otherwise start the transaction only at the first INSERT and
    run the DDL before it outside any transaction), which also makes the migration atomic.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """Switch SQLite's foreign keys off around a migration, as Alembic's batch mode needs: batch
    mode rebuilds a table by copy-and-drop, and dropping ``runs`` with foreign keys on would
    cascade-delete every ``run_items`` row. The pragma only works outside a transaction, so it is
    set before the migration's transaction begins and restored after it ends."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
    finally:
        try:
            if connection.in_transaction():
                connection.rollback()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
        except Exception:
            # Never hand a connection with foreign keys off back to the pool.
            connection.invalidate()
            raise
