"""The mail outbox: failed report mails wait to be retried."""

from __future__ import annotations

import pytest

from janitor.store import Store, StoreError

from .factories import at, start


def test_outbox_lifecycle(store: Store) -> None:
    run_id = start(store)
    first = store.add_mail(
        kind="run",
        run_id=run_id,
        recipients=["ops@example.com", "dev@example.com"],
        subject="janitor: nightly deleted 12 images",
        html_path="/reports/run-1.html",
        created_at=at(1),
    )
    weekly = store.add_mail(
        kind="weekly",
        run_id=None,
        recipients=("ops@example.com",),
        subject="janitor weekly",
        html_path="/reports/weekly.html",
        created_at=at(0),
    )
    pending = store.pending_mail()
    assert [m.id for m in pending] == [weekly, first]  # oldest first
    mail = pending[1]
    assert mail.kind == "run" and mail.run_id == run_id
    assert mail.recipients == ("ops@example.com", "dev@example.com")
    assert mail.subject == "janitor: nightly deleted 12 images"
    assert mail.html_path == "/reports/run-1.html"
    assert mail.created_at == at(1) and mail.created_at.tzinfo is not None
    assert (mail.sent_at, mail.attempts, mail.last_error) == (None, 0, None)

    store.mark_mail_failed(first, "SMTP 451: try again later")
    store.mark_mail_failed(first, "connection refused by 127.0.0.1:2525")
    (_, retried) = store.pending_mail()
    assert retried.attempts == 2
    assert retried.last_error == "connection refused by 127.0.0.1:2525"

    store.mark_mail_sent(first, at(30))
    assert [m.id for m in store.pending_mail()] == [weekly]
    assert store.pending_mail(limit=0) == []


def test_limit_and_long_errors(store: Store) -> None:
    ids = [
        store.add_mail(
            kind="weekly",
            run_id=None,
            recipients=["a@example.com"],
            subject=f"week {i}",
            html_path=f"/w{i}.html",
            created_at=at(i),
        )
        for i in range(5)
    ]
    assert [m.id for m in store.pending_mail(limit=2)] == ids[:2]
    store.mark_mail_failed(ids[0], "x" * 10_000)
    (failed,) = store.pending_mail(limit=1)
    assert failed.last_error is not None and len(failed.last_error) == 2000


def test_bad_input_and_unknown_ids(store: Store) -> None:
    with pytest.raises(ValueError, match="kind"):
        store.add_mail(
            kind="daily",  # type: ignore[arg-type]
            run_id=None,
            recipients=["a@example.com"],
            subject="s",
            html_path="/x.html",
            created_at=at(0),
        )
    with pytest.raises(TypeError, match="recipients"):
        store.add_mail(
            kind="run",
            run_id=None,
            recipients="a@example.com",
            subject="s",
            html_path="/x.html",
            created_at=at(0),
        )
    with pytest.raises(StoreError, match="mail 99 is not in the outbox"):
        store.mark_mail_sent(99, at(0))
    with pytest.raises(StoreError, match="mail 99"):
        store.mark_mail_failed(99, "boom")
