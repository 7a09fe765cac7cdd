"""Failures are one readable line, and a database password never shows anywhere."""

from __future__ import annotations

import traceback
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import make_url

from janitor.errors import JanitorError
from janitor.records import HubMetrics, RunMetrics
from janitor.store import Store, StoreError

from .factories import at, decision, start

SECRET = "s3cr3t-Pa55"
UNREACHABLE = f"postgresql+psycopg://nobody:{SECRET}@127.0.0.1:1/x"


def _assert_clean(exc: BaseException) -> str:
    """The error's message and its whole printed traceback hold no password."""
    printed = "".join(traceback.format_exception(exc))
    assert SECRET not in printed
    assert SECRET.replace("5", "%35") not in printed
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__
    return str(exc)


def test_unreachable_database_is_a_readable_store_error() -> None:
    store = Store(UNREACHABLE)
    with pytest.raises(StoreError) as caught:
        store.ping()
    message = _assert_clean(caught.value)
    assert message.startswith(
        "cannot reach the database postgresql+psycopg://nobody:***@127.0.0.1:1/x: "
    )
    assert "connection refused" in message.lower()
    assert message.endswith("; check JANITOR_DATABASE_URL")
    assert "\n" not in message
    assert isinstance(caught.value, JanitorError)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.upgrade(),
        lambda s: s.ensure_schema(),
        lambda s: s.current_revision(),
        lambda s: start(s),
        lambda s: s.get_run(1),
        lambda s: list(s.decisions(1)),
        lambda s: s.add_decisions(1, [decision()]),
        lambda s: s.try_acquire_lease("l", "a", ttl=timedelta(seconds=60), now=at(0)),
        lambda s: s.pending_mail(),
        lambda s: s.mark_stale_runs_interrupted(now=at(0), stale_after=timedelta(minutes=1)),
    ],
    ids=[
        "upgrade",
        "ensure_schema",
        "current_revision",
        "start_run",
        "get_run",
        "decisions",
        "add_decisions",
        "lease",
        "pending_mail",
        "stale",
    ],
)
def test_every_call_reports_an_unreachable_database_the_same_way(call: object) -> None:
    with Store(UNREACHABLE) as store, pytest.raises(StoreError) as caught:
        call(store)  # type: ignore[operator]
    assert _assert_clean(caught.value).startswith("cannot reach the database ")


def test_repr_and_str_hide_the_password() -> None:
    store = Store(f"postgresql://janitor:{SECRET}@db.example/janitor")
    for shown in (repr(store), str(store), store.display_url, f"{store}", repr(vars(store))):
        assert SECRET not in shown
    assert repr(store) == "Store('postgresql+psycopg://janitor:***@db.example/janitor')"
    assert store.dialect == "postgresql"
    store.close()


def test_postgres_scheme_aliases_use_psycopg_3() -> None:
    for url in ("postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"):
        with Store(url) as store:
            assert store.display_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://janitor:{SECRET}@db:notaport/janitor",
        f"::janitor:{SECRET}@db/janitor",
        f"mysql://janitor:{SECRET}@db/janitor",
        f"nosuchdb+driver://janitor:{SECRET}@db/janitor",
    ],
    ids=["bad-port", "unparseable", "unsupported", "unknown-driver"],
)
def test_bad_urls_are_refused_without_repeating_the_password(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        Store(url)
    message = _assert_clean(caught.value)
    assert "JANITOR_DATABASE_URL" in message


@pytest.mark.postgres
def test_a_server_side_error_names_the_cause_but_not_the_password(postgres_url: str) -> None:
    """A real server: the password (ignored by trust auth) must not come back in the error."""
    missing = make_url(postgres_url).set(password=SECRET, database="janitor_no_such_db")
    with (
        Store(missing.render_as_string(hide_password=False)) as store,
        pytest.raises(StoreError) as caught,
    ):
        store.ping()
    message = _assert_clean(caught.value)
    assert 'database "janitor_no_such_db" does not exist' in message
    assert ":***@" in message


def test_a_failure_mid_operation_says_what_the_store_was_doing(store: Store) -> None:
    run_id = start(store)
    store.add_decisions(run_id, [decision(n=1)])
    with pytest.raises(StoreError) as caught:
        store.add_decisions(run_id, [decision(n=1)])  # the same image again
    message = _assert_clean(caught.value)
    assert f"database error while storing run {run_id}'s decisions" in message
    assert "unique" in message.lower()
    # the failed call left nothing half-done and the store still works
    assert len(list(store.decisions(run_id))) == 1
    record = store.finish_run(
        run_id, status="failed", finished_at=at(1), metrics=RunMetrics(), hub_metrics=HubMetrics()
    )
    assert record.status == "failed"


def test_an_sqlite_file_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match=r"cannot create the folder .* for the SQLite database"):
        Store(f"sqlite:///{blocker}/sub/janitor.db")
    blocked = tmp_path / "folder.db"
    blocked.mkdir()  # a folder where the database file should be: refused before any use
    with pytest.raises(StoreError, match=f"{blocked} is a folder") as caught:
        Store(f"sqlite:///{blocked}")
    assert caught.value.exit_code == 2


def test_the_store_can_be_used_again_after_close(store: Store) -> None:
    run_id = start(store)
    store.close()
    assert store.get_run(run_id) is not None
