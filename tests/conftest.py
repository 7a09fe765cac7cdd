"""Shared fixtures. Databases: a test that asks for `store` or `db_url` runs on SQLite (a file under
tmp_path) and on PostgreSQL (a database created for this test session, dropped at its end;
skipped with the reason when no server can be reached)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from janitor.store import Store
from janitor.store.testing import postgres_available, temporary_postgres_database

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]
TABLES = ("run_items", "mail_outbox", "leases", "runs")


def _require_postgres() -> None:
    reason = postgres_available()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    """A migrated PostgreSQL database shared by this session's tests (emptied before each)."""
    _require_postgres()
    with temporary_postgres_database() as url:
        with Store(url) as store:
            store.upgrade()
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (cheaper than migrating each time)."""
    path = tmp_path_factory.mktemp("store-template") / "janitor.db"
    with Store(f"sqlite:///{path}") as store:
        store.upgrade()
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of a migrated, empty database."""
    if backend == "sqlite":
        path = tmp_path / "janitor.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def postgres_url(postgres_session_url: str) -> str:
    """The session's PostgreSQL database, migrated and emptied for this test."""
    engine = create_engine(
        postgres_session_url, poolclass=NullPool, connect_args={"connect_timeout": 5}
    )
    try:
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
    return postgres_session_url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url) as store:
        yield store


@pytest.fixture
def empty_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with nothing in it (not even Alembic's version table)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    _require_postgres()
    with temporary_postgres_database() as url:
        yield url
