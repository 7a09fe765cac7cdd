"""Turning a database URL into a configured SQLAlchemy engine (SQLite or PostgreSQL)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from janitor.store.errors import StoreError

SQLITE_BUSY_TIMEOUT_SECONDS = 30
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
URL_HINT = "check JANITOR_DATABASE_URL"


def parse_url(url: str | URL) -> URL:
    """Parse ``url`` and pick the driver janitor ships with.

    ``postgresql://`` and ``postgres://`` become ``postgresql+psycopg://`` (psycopg 3). The error
    for a malformed URL never repeats the URL: it may hold a password.
    """
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise StoreError(f"the database URL cannot be parsed; {URL_HINT}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    check_url(parsed)
    return parsed


def check_url(url: URL) -> None:
    """Refuse, with a StoreError, a URL no connection could be made from: a NUL character in it
    (the OS and the drivers refuse it deep inside), or a driver that is not installed
    (``postgresql+asyncpg://`` without asyncpg). Never repeats the URL's password."""
    parts = (url.drivername, url.username, url.password, url.host, url.database)
    if any("\x00" in str(part) for part in parts if part is not None) or any(
        "\x00" in f"{key}{value}" for key, value in url.query.items()
    ):
        raise StoreError(f"the database URL contains a NUL character; {URL_HINT}")
    try:
        dialect = url.get_dialect()
    except (ArgumentError, ImportError):  # sqlalchemy's NoSuchModuleError is an ArgumentError
        dialect = None
    if dialect is None or url.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(_unsupported(url))
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        missing = exc.name or url.get_driver_name()
        raise StoreError(
            f"the database driver {missing!r} for {url.drivername}:// is not installed; use "
            f"postgresql:// (psycopg, which janitor ships with) or sqlite://, or install "
            f"{missing}; {URL_HINT}"
        ) from None


def is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def make_engine(url: URL, *, echo: bool = False, poolclass: Any = None) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with foreign keys and a busy timeout, PostgreSQL
    with a connect timeout; pre-ping on both so a long-lived service survives database restarts."""
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
    if poolclass is not None:
        kwargs["poolclass"] = poolclass
    if backend == "sqlite":
        connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        if is_sqlite_memory(url):
            # One in-memory database shared by every thread of this engine.
            connect_args["check_same_thread"] = False
            kwargs["poolclass"] = StaticPool
        elif url.database:
            folder = Path(url.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the folder {folder} for the SQLite database: "
                    f"{exc.strerror or exc}; {URL_HINT}"
                ) from None
        kwargs["connect_args"] = connect_args
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    if backend == "postgresql":
        if "connect_timeout" not in url.query:
            kwargs["connect_args"] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
        return create_engine(url, **kwargs)
    raise StoreError(_unsupported(url))


def _unsupported(url: URL) -> str:
    return (
        f"unsupported database {url.drivername}://: janitor speaks SQLite "
        f"(sqlite:///path/janitor.db) and PostgreSQL (postgresql://...); {URL_HINT}"
    )


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL`` on a brand-new file needs an exclusive lock and does not wait
    on the busy handler: two processes creating the database at once would see "database is
    locked". Retry for as long as the busy timeout would have waited."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    delay = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        _switch_to_wal(cursor)
        # Safe with WAL (no corruption on power loss, at worst the last commits are lost) and
        # much faster for the bulk inserts of large runs.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
