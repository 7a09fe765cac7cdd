"""The outboxes: report mails and chat/webhook notifications whose sending failed wait here to
be retried."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from janitor.records import MailRecord, NotificationRecord
from janitor.store.models import MAIL_KINDS, NOTIFICATION_KINDS, MailOutbox, NotifyOutbox

MAX_ERROR_LENGTH = 2000


def add_mail(
    conn: Connection,
    *,
    kind: str,
    run_id: int | None,
    recipients: Sequence[str],
    subject: str,
    html_path: str,
    created_at: datetime,
) -> int:
    if kind not in MAIL_KINDS:
        raise ValueError(f"a mail's kind is one of {list(MAIL_KINDS)}, not {kind!r}")
    if isinstance(recipients, str):
        raise TypeError("recipients must be a sequence of addresses, not one string")
    result = conn.execute(
        insert(MailOutbox).values(
            kind=kind,
            run_id=run_id,
            recipients=list(recipients),
            subject=subject,
            html_path=html_path,
            created_at=created_at,
        )
    )
    (mail_id,) = result.inserted_primary_key or (None,)
    return int(mail_id)  # type: ignore[arg-type]


def pending_mail(conn: Connection, *, limit: int) -> list[MailRecord]:
    rows = conn.execute(
        select(MailOutbox.__table__)
        .where(MailOutbox.sent_at.is_(None))
        .order_by(MailOutbox.created_at, MailOutbox.id)
        .limit(limit)
    )
    return [
        MailRecord(
            id=m["id"],
            kind=m["kind"],
            run_id=m["run_id"],
            recipients=tuple(m["recipients"]),
            subject=m["subject"],
            html_path=m["html_path"],
            created_at=m["created_at"],
            sent_at=m["sent_at"],
            attempts=m["attempts"],
            last_error=m["last_error"],
        )
        for m in rows.mappings()
    ]


def mark_sent(conn: Connection, mail_id: int, sent_at: datetime) -> bool:
    result = conn.execute(
        update(MailOutbox)
        .where(MailOutbox.id == mail_id)
        .values(sent_at=sent_at, attempts=MailOutbox.attempts + 1)
    )
    return result.rowcount == 1


def _clipped(error: str) -> str:
    return error if len(error) <= MAX_ERROR_LENGTH else error[: MAX_ERROR_LENGTH - 1] + "…"


def mark_failed(conn: Connection, mail_id: int, error: str) -> bool:
    error = _clipped(error)
    result = conn.execute(
        update(MailOutbox)
        .where(MailOutbox.id == mail_id)
        .values(attempts=MailOutbox.attempts + 1, last_error=error)
    )
    return result.rowcount == 1


def add_notification(
    conn: Connection,
    *,
    kind: str,
    run_id: int | None,
    target: str,
    target_shown: str,
    title: str,
    body: str,
    created_at: datetime,
) -> int:
    if kind not in NOTIFICATION_KINDS:
        raise ValueError(
            f"a notification's kind is one of {list(NOTIFICATION_KINDS)}, not {kind!r}"
        )
    result = conn.execute(
        insert(NotifyOutbox).values(
            kind=kind,
            run_id=run_id,
            target=target,
            target_shown=target_shown,
            title=title,
            body=body,
            created_at=created_at,
        )
    )
    (entry_id,) = result.inserted_primary_key or (None,)
    return int(entry_id)  # type: ignore[arg-type]


def pending_notifications(
    conn: Connection, *, targets: Sequence[str], limit: int
) -> list[NotificationRecord]:
    rows = conn.execute(
        select(NotifyOutbox.__table__)
        .where(
            NotifyOutbox.sent_at.is_(None),
            NotifyOutbox.given_up.is_(False),
            NotifyOutbox.target.in_(list(targets)),
        )
        .order_by(NotifyOutbox.created_at, NotifyOutbox.id)
        .limit(limit)
    )
    return [
        NotificationRecord(
            id=n["id"],
            kind=n["kind"],
            run_id=n["run_id"],
            target=n["target"],
            target_shown=n["target_shown"],
            title=n["title"],
            body=n["body"],
            created_at=n["created_at"],
            sent_at=n["sent_at"],
            attempts=n["attempts"],
            last_error=n["last_error"],
            given_up=n["given_up"],
        )
        for n in rows.mappings()
    ]


def mark_notification_sent(conn: Connection, entry_id: int, sent_at: datetime) -> bool:
    result = conn.execute(
        update(NotifyOutbox)
        .where(NotifyOutbox.id == entry_id)
        .values(sent_at=sent_at, attempts=NotifyOutbox.attempts + 1)
    )
    return result.rowcount == 1


def mark_notification_failed(conn: Connection, entry_id: int, error: str, *, give_up: bool) -> bool:
    result = conn.execute(
        update(NotifyOutbox)
        .where(NotifyOutbox.id == entry_id)
        .values(attempts=NotifyOutbox.attempts + 1, last_error=_clipped(error), given_up=give_up)
    )
    return result.rowcount == 1
