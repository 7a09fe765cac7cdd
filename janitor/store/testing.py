"""A throw-away PostgreSQL database for tests, shared by every test folder.

The server is the one at 127.0.0.1:5432 (trust auth) unless ``JANITOR_TEST_POSTGRES_URL`` names
another (an admin URL to a maintenance database, e.g. ``postgresql://postgres@db:5432/postgres``).
Each ``temporary_postgres_database()`` creates a database with a unique name
(``janitor_test_<pid>_<random>``), so parallel test runs never collide, and drops it afterwards.

    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    with temporary_postgres_database() as url:
        store = Store(url)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import psycopg
from psycopg import sql
from sqlalchemy import make_url
from sqlalchemy.engine import URL

ENV_ADMIN_URL = "JANITOR_TEST_POSTGRES_URL"
DEFAULT_ADMIN_URLS = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/postgres",
)
CONNECT_TIMEOUT_SECONDS = 5


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server to test against; the message says why."""


def _conninfo(url: URL) -> dict[str, object]:
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username,
        "password": url.password,
        "dbname": url.database or "postgres",
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    }


def _connect(url: URL) -> psycopg.Connection:
    params = {k: v for k, v in _conninfo(url).items() if v is not None}
    return psycopg.connect(autocommit=True, **params)  # type: ignore[arg-type]


@cache
def _admin() -> tuple[URL | None, str | None]:
    """The first admin URL that can create databases, or the reason none can."""
    configured = os.environ.get(ENV_ADMIN_URL)
    candidates = (configured,) if configured else DEFAULT_ADMIN_URLS
    reasons = []
    for text in candidates:
        url = make_url(text)
        shown = url.render_as_string(hide_password=True)
        try:
            with _connect(url) as conn:
                row = conn.execute(
                    "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
                ).fetchone()
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if url.password:
                reason = reason.replace(str(url.password), "***")
            reasons.append(f"{shown}: {reason}")
            continue
        if not row or not row[0]:
            reasons.append(f"{shown}: the role may not create databases")
            continue
        return url, None
    hint = f"set {ENV_ADMIN_URL} to an admin URL" if not configured else f"check {ENV_ADMIN_URL}"
    return None, "no PostgreSQL server to test against (" + "; ".join(reasons) + f"); {hint}"


def postgres_available() -> str | None:
    """None when a PostgreSQL server can host test databases, else the reason (for a skip).
    Probed once per process, with a 5 s connect timeout."""
    return _admin()[1]


@contextmanager
def temporary_postgres_database(prefix: str = "janitor_test") -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL (``postgresql+psycopg://...``), drop
    it afterwards (disconnecting whatever still uses it). Raises ``PostgresUnavailable``."""
    admin, reason = _admin()
    if admin is None:
        raise PostgresUnavailable(reason)
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with _connect(admin) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with _connect(admin) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            force = sql.SQL(" WITH (FORCE)") if conn.info.server_version >= 130000 else sql.SQL("")
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force)
            )
