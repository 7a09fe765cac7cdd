"""Notifications through apprise to a real HTTP endpoint on loopback (apprise's ``json://``): what
a failed run, a deleting run and the weekly digest say, and that a failing endpoint queues the
notification in the store (SQLite and PostgreSQL) for a retry, with no secret anywhere."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from janitor import notify
from janitor.apprise_urls import parse_notify_urls
from janitor.config import Secret, Settings, load_settings
from janitor.errors import ConfigError
from janitor.notify import (
    fingerprint,
    known_targets,
    retry_notifications,
    run_notification,
    shown_url,
    targets_for,
)
from janitor.policy import PolicyLoadError
from janitor.policy.load import policy_from_data
from janitor.reporting import deliver, run_report, weekly_report
from janitor.store import Store
from janitor.store.testing import postgres_available, temporary_postgres_database
from tests.report.webhook import SECRET, Endpoint, endpoint_fixture  # noqa: F401 - the fixture
from tests.service.dashboard_seed import NOW, Seeded, seed

PUBLIC = "https://janitor.example.com"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'janitor.db'}"
        return
    reason = postgres_available()
    if reason is not None:
        pytest.skip(f"PostgreSQL not available: {reason}")
    with temporary_postgres_database("janitor_notify") as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store(store_url) as store:
        store.ensure_schema()
        yield store


@pytest.fixture
def seeded(store: Store) -> Seeded:
    return seed(store)


def _deliver_run(store: Store, run_id: int, urls: list[str], tmp_path: Path) -> None:
    _, report = run_report(store, run_id, now=NOW)
    deliver(
        store,
        None,
        report,
        [],
        kind="run",
        run_id=run_id,
        html_path=tmp_path / "run.html",
        now=NOW,
        notify=[Secret(u) for u in urls],
        public_url=PUBLIC,
    )


def _outbox_dump(url: str) -> str:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return repr(conn.execute(text("SELECT * FROM notify_outbox")).all())
    finally:
        engine.dispose()


# -- what is said -----------------------------------------------------------------------------


def test_a_deleting_run_reaches_the_endpoint_with_counts_bytes_and_a_link(
    store: Store, seeded: Seeded, endpoint: Endpoint, tmp_path: Path
) -> None:
    _deliver_run(store, seeded.delete_run, [endpoint.url()], tmp_path)
    assert endpoint.paths == [f"/hooks/{SECRET}"]
    (message,) = endpoint.received
    assert message["type"] == "success"
    assert message["title"] == "[janitor] nightly on acme: deleted 11 images (462.0 MiB)"
    assert message["message"] == (
        f"The run of policy nightly on acme (run #{seeded.delete_run}) deleted 11 images "
        "(462.0 MiB) of 40 scanned in 4 repositories.\n"
        f"{PUBLIC}/runs/{seeded.delete_run}"
    )
    assert store.pending_notifications([fingerprint(endpoint.url())]) == []


def test_a_failed_run_says_so_with_its_error(
    store: Store, seeded: Seeded, endpoint: Endpoint, tmp_path: Path
) -> None:
    _deliver_run(store, seeded.failed_run, [endpoint.url()], tmp_path)
    (message,) = endpoint.received
    assert message["type"] == "failure"
    assert message["title"].startswith("[janitor] FAILED nightly on acme")
    body = message["message"]
    assert body.startswith(f"The run of policy nightly on acme (run #{seeded.failed_run}) failed: ")
    assert "Before it failed it deleted 2 images (84.0 MiB)." in body
    assert body.endswith(f"{PUBLIC}/runs/{seeded.failed_run}")


def test_dry_runs_and_running_runs_stay_quiet(
    store: Store, seeded: Seeded, endpoint: Endpoint, tmp_path: Path
) -> None:
    _deliver_run(store, seeded.hostile_run, [endpoint.url()], tmp_path)
    _deliver_run(store, seeded.running_run, [endpoint.url()], tmp_path)
    assert endpoint.received == []


def test_the_weekly_digest(
    store: Store, seeded: Seeded, endpoint: Endpoint, tmp_path: Path
) -> None:
    report = weekly_report(store, since=NOW - timedelta(days=7), until=NOW, now=NOW)
    deliver(
        store,
        None,
        report,
        [],
        kind="weekly",
        run_id=None,
        html_path=tmp_path / "weekly.html",
        now=NOW,
        notify=[Secret(endpoint.url())],
        public_url=None,
    )
    (message,) = endpoint.received
    assert message["type"] == "info"
    assert message["title"] == report.subject
    assert "13 images removed" in message["message"]
    assert "http" not in message["message"]  # no public URL configured: no link


def test_hostile_names_are_one_line_in_a_notification(store: Store, seeded: Seeded) -> None:
    run = store.get_run(seeded.failed_run)
    assert run is not None
    forged = replace(run, error="boom\nThe run of policy other deleted 0 images.")
    notification = run_notification(forged, subject="s", public_url=None)
    assert notification is not None
    lines = notification.body.splitlines()
    assert len(lines) == 2  # the error, and what the run deleted before it failed
    assert lines[0].endswith("failed: boom\\x0aThe run of policy other deleted 0 images.")


# -- failing endpoints: queued, retried, given up -----------------------------------------------


def test_a_failing_endpoint_queues_the_notification_and_a_retry_sends_it(
    store: Store,
    store_url: str,
    seeded: Seeded,
    endpoint: Endpoint,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint.status = 500
    _deliver_run(store, seeded.delete_run, [endpoint.url()], tmp_path)  # does not raise
    assert endpoint.received == []
    (queued,) = store.pending_notifications([fingerprint(endpoint.url())])
    assert queued.kind == "run_deleted" and queued.run_id == seeded.delete_run
    assert queued.attempts == 1
    assert queued.target_shown == f"json://127.0.0.1:{endpoint.port}/…"
    assert queued.last_error and "500" in queued.last_error
    # The URL's token is nowhere: not in the store, not in a log line.
    assert SECRET not in _outbox_dump(store_url)
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("(queued for retry)" in w for w in warnings)

    # Still failing: one more attempt counted, nothing sent.
    assert retry_notifications(store, [Secret(endpoint.url())], now=NOW) == 0
    (again,) = store.pending_notifications([fingerprint(endpoint.url())])
    assert again.attempts == 2

    endpoint.status = 200
    assert retry_notifications(store, [Secret(endpoint.url())], now=NOW) == 1
    assert store.pending_notifications([fingerprint(endpoint.url())]) == []
    (message,) = endpoint.received
    assert message["message"].endswith(f"{PUBLIC}/runs/{seeded.delete_run}")


def test_an_unreachable_endpoint_queues_with_a_redacted_reason(
    store: Store, store_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"json://user:{SECRET}@127.0.0.1:{port}/hooks/{SECRET}?token={SECRET}"
    _deliver_run(store, seeded.delete_run, [url], tmp_path)
    (queued,) = store.pending_notifications([fingerprint(url)])
    assert queued.last_error
    assert SECRET not in _outbox_dump(store_url)
    assert queued.target_shown == f"json://127.0.0.1:{port}/…"


def test_the_next_delivery_retries_what_was_queued_first(
    store: Store, seeded: Seeded, endpoint: Endpoint, tmp_path: Path
) -> None:
    endpoint.status = 503
    _deliver_run(store, seeded.delete_run, [endpoint.url()], tmp_path)
    endpoint.status = 200
    _deliver_run(store, seeded.failed_run, [endpoint.url()], tmp_path)
    assert [m["type"] for m in endpoint.received] == ["success", "failure"]


def test_a_notification_failing_every_time_is_given_up(
    store: Store,
    seeded: Seeded,
    endpoint: Endpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(notify, "MAX_ATTEMPTS", 3)
    endpoint.status = 500
    _deliver_run(store, seeded.delete_run, [endpoint.url()], tmp_path)
    targets = [Secret(endpoint.url())]
    retry_notifications(store, targets, now=NOW)
    retry_notifications(store, targets, now=NOW)
    assert store.pending_notifications([fingerprint(endpoint.url())]) == []
    assert any("gave up a notification" in r.getMessage() for r in caplog.records)


def test_queued_notifications_of_other_urls_wait_untouched(
    store: Store, seeded: Seeded, endpoint: Endpoint, tmp_path: Path
) -> None:
    endpoint.status = 500
    gone = endpoint.url("an-old-hook-0000")
    _deliver_run(store, seeded.delete_run, [gone], tmp_path)
    endpoint.status = 200
    assert retry_notifications(store, [Secret(endpoint.url())], now=NOW) == 0
    (waiting,) = store.pending_notifications([fingerprint(gone)])
    assert waiting.attempts == 1
    assert retry_notifications(store, [Secret(gone)], now=NOW) == 1


# -- configuration --------------------------------------------------------------------------------


def test_urls_are_split_on_commas_and_white_space_without_repeats() -> None:
    text_value = "json://a.example/x, json://b.example/y\n json://a.example/x\tjson://c.example"
    assert parse_notify_urls(text_value) == (
        "json://a.example/x",
        "json://b.example/y",
        "json://c.example",
    )
    assert parse_notify_urls("  ") == ()


@pytest.mark.parametrize("bad", [f"nosuch://{SECRET}", SECRET, f"slack://{SECRET}"])
def test_a_url_apprise_cannot_use_is_refused_without_showing_it(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JANITOR_NOTIFY: ") as caught:
        load_settings({"JANITOR_DATA_DIR": str(tmp_path), "JANITOR_NOTIFY": f"json://ok {bad}"})
    assert SECRET not in str(caught.value)


def test_notify_urls_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    path.write_text("json://hooks.example.com/a\njson://hooks.example.com/b\n", encoding="utf-8")
    settings = load_settings({"JANITOR_DATA_DIR": str(tmp_path), "JANITOR_NOTIFY_FILE": str(path)})
    assert [u.reveal() for u in settings.notify] == [
        "json://hooks.example.com/a",
        "json://hooks.example.com/b",
    ]
    assert "hooks.example.com" not in repr(settings)


def test_shown_urls_keep_no_token() -> None:
    slack = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#ops"
    assert shown_url(slack) == "slack://T...2/…"
    assert shown_url(f"json://u:{SECRET}@hooks.example.com:8443/{SECRET}") == (
        "json://hooks.example.com:8443/…"
    )
    assert shown_url("json://hooks.example.com") == "json://hooks.example.com"
    assert SECRET not in shown_url(f"mailto://user:{SECRET}@example.com")


def _policy(notify_urls: list[str]) -> dict[str, Any]:
    return {
        "name": "p",
        "namespace": "acme",
        "select": [{"last_pushed": {"older_than": "9d"}}],
        "report": {"notify": notify_urls},
    }


def test_a_policy_names_its_own_targets_instead_of_the_default(tmp_path: Path) -> None:
    settings = Settings(notify=(Secret("json://default.example/hook"),))
    own = policy_from_data(_policy(["json://team.example/hook"]))
    plain = policy_from_data(_policy([]))
    assert [t.reveal() for t in targets_for(own, settings)] == ["json://team.example/hook"]
    assert [t.reveal() for t in targets_for(plain, settings)] == ["json://default.example/hook"]
    assert {t.reveal() for t in known_targets([own, plain], settings)} == {
        "json://team.example/hook",
        "json://default.example/hook",
    }


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        ([f"nosuch://{SECRET}"], "a nosuch:// URL that apprise cannot use"),
        ([SECRET], "not an apprise URL"),
        (["json://a.example/x", "json://a.example/x"], "lists the same URL twice"),
        ("json://a.example/x", "list"),
    ],
)
def test_a_bad_policy_notify_list_is_refused_without_showing_the_url(
    urls: Any, message: str
) -> None:
    with pytest.raises(PolicyLoadError) as caught:
        policy_from_data(_policy(urls))
    assert message in str(caught.value)
    assert SECRET not in str(caught.value)
