"""Fixtures of the service tests: stores on SQLite and PostgreSQL (a database of its own per
test, dropped after), and a tiny Hub seed for the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from janitor.store import Store
from janitor.store.testing import postgres_available, temporary_postgres_database


def sqlite_store(path: Path) -> Store:
    store = Store(f"sqlite:///{path}")
    store.ensure_schema()
    return store


@pytest.fixture
def pg_url() -> Iterator[str]:
    reason = postgres_available()
    if reason is not None:
        pytest.skip(f"PostgreSQL not available: {reason}")
    with temporary_postgres_database("janitor_svc") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same test on an SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        store = sqlite_store(tmp_path / "janitor.db")
    else:
        url = request.getfixturevalue("pg_url")
        store = Store(url)
        store.ensure_schema()
    try:
        yield store
    finally:
        store.close()
