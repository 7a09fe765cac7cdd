"""Alembic environment for janitor's store.

Two ways in:
- ``janitor.store.Store.upgrade()`` passes an open connection in ``config.attributes["connection"]``
  (inside its own transaction); nothing here opens another.
- A developer running ``alembic`` by hand (``alembic.ini`` at the top of the repository): the URL
  comes from ``sqlalchemy.url`` in the config, else from ``JANITOR_DATABASE_URL``.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from janitor.store.database import make_engine, parse_url
from janitor.store.errors import StoreError
from janitor.store.migrate import lock_for_migration, sqlite_foreign_keys_off
from janitor.store.models import metadata
from janitor.store.types import UTCDateTime

config = context.config

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("JANITOR_DATABASE_URL")
    if not url:
        raise StoreError(
            "no database to migrate: set sqlalchemy.url in alembic.ini or JANITOR_DATABASE_URL"
        )
    return url


def _render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Autogenerate writes the store's own column types as plain SQLAlchemy ones, so revisions
    never import janitor (they must keep working whatever janitor's code becomes)."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
    )


def run_migrations_offline() -> None:
    """``alembic upgrade --sql``: print the SQL instead of running it."""
    url = parse_url(_url())
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
        render_as_batch=url.get_backend_name() == "sqlite",
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(parse_url(_url()), poolclass=NullPool)
    try:
        # The same shape as Store.upgrade(): one transaction, other migrators locked out.
        with (
            engine.connect() as connection,
            sqlite_foreign_keys_off(connection),
            connection.begin(),
        ):
            lock_for_migration(connection)
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
