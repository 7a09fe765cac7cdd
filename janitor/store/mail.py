"""The outboxes: report mails and chat/webhook notifications whose sending failed wait here to
be retried."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

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


def _pending(
    conn: Connection, table: type[MailOutbox] | type[NotifyOutbox], *where: Any, limit: int
) -> list[dict[str, Any]]:
    """The oldest unsent entries of an outbox, as column mappings."""
    rows = conn.execute(
        select(table.__table__)
        .where(table.sent_at.is_(None), *where)
        .order_by(table.created_at, table.id)
        .limit(limit)
    )
    return [dict(row) for row in rows.mappings()]


def _mark(
    conn: Connection, table: type[MailOutbox] | type[NotifyOutbox], entry_id: int, **values: Any
) -> bool:
    """One more attempt at an outbox entry, with what came of it."""
    result = conn.execute(
        update(table).where(table.id == entry_id).values(attempts=table.attempts + 1, **values)
    )
    return result.rowcount == 1


def _clipped(error: str) -> str:
    return error if len(error) <= MAX_ERROR_LENGTH else error[: MAX_ERROR_LENGTH - 1] + "…"


def pending_mail(conn: Connection, *, limit: int) -> list[MailRecord]:
    return [
        MailRecord(**(m | {"recipients": tuple(m["recipients"])}))
        for m in _pending(conn, MailOutbox, limit=limit)
    ]


def mark_sent(conn: Connection, mail_id: int, sent_at: datetime) -> bool:
    return _mark(conn, MailOutbox, mail_id, sent_at=sent_at)


def mark_failed(conn: Connection, mail_id: int, error: str) -> bool:
    return _mark(conn, MailOutbox, mail_id, last_error=_clipped(error))


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
    found = _pending(
        conn,
        NotifyOutbox,
        NotifyOutbox.given_up.is_(False),
        NotifyOutbox.target.in_(list(targets)),
        limit=limit,
    )
    return [NotificationRecord(**n) for n in found]


def mark_notification_sent(conn: Connection, entry_id: int, sent_at: datetime) -> bool:
    return _mark(conn, NotifyOutbox, entry_id, sent_at=sent_at)


def mark_notification_failed(conn: Connection, entry_id: int, error: str, *, give_up: bool) -> bool:
    return _mark(conn, NotifyOutbox, entry_id, last_error=_clipped(error), given_up=give_up)
