"""The store's tables, as SQLAlchemy 2.0 typed models. Nothing outside ``janitor.store`` uses them:
the rest of janitor sees the ORM-free values of ``janitor.records``.

The Alembic migrations in ``migrations/versions`` create exactly these tables; ``alembic check``
(run by the tests on SQLite and PostgreSQL) fails when the two drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import get_args

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from janitor.records import Outcome, RunStatus
from janitor.store.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
OUTCOMES: tuple[str, ...] = get_args(Outcome)
VERDICTS: tuple[str, ...] = ("keep", "delete")
MAIL_KINDS: tuple[str, ...] = ("run", "weekly")
NOTIFICATION_KINDS: tuple[str, ...] = ("run_failed", "run_deleted", "weekly")

# Item ids may pass 2**31 over the years (100,000 images a run); SQLite's rowid is 64-bit already
# and only ``INTEGER PRIMARY KEY`` (not BIGINT) makes it the rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Run(Base):
    """One run of one policy against one namespace, with its metrics."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy: Mapped[str] = mapped_column(String(200))
    namespace: Mapped[str] = mapped_column(String(255))
    trigger: Mapped[str] = mapped_column(String(32))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    backend: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    owner: Mapped[str | None] = mapped_column(String(255))
    report_path: Mapped[str | None] = mapped_column(Text)
    plan_hash: Mapped[str | None] = mapped_column(String(80))
    """The sha256 of the saved plan a ``janitor apply`` run applied."""
    notes: Mapped[str | None] = mapped_column(Text)
    """What the run could not see or refused to plan, one line each (None: nothing)."""

    # RunMetrics, one column per field
    repositories_scanned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    images_scanned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    candidates: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    kept: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    planned_deletes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped_by_warning: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    deleted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    would_delete: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bytes_reclaimed: Mapped[int | None] = mapped_column(BigInteger)
    bytes_planned: Mapped[int | None] = mapped_column(BigInteger)
    hub_calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    hub_rate_limited: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    # HubMetrics, prefixed: Hub's own counts as its delete-images answers gave them
    hub_manifest_deletes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    hub_manifest_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    hub_tag_deletes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    hub_tag_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        CheckConstraint(_one_of("status", RUN_STATUSES), name="status"),
        Index(None, "policy", "started_at"),
        Index(None, "namespace", "started_at"),
        Index(None, "started_at"),
        Index(None, "status"),
    )


class RunItem(Base):
    """One image's decision in one run and what became of it."""

    __tablename__ = "run_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    repository: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSON)
    last_pushed: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_pulled: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: never pulled
    size: Mapped[int | None] = mapped_column(BigInteger)
    verdict: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    selected_by: Mapped[str | None] = mapped_column(String(200))
    hub_code: Mapped[str | None] = mapped_column(String(64))
    """The name of Hub's warning or error behind the outcome (current_tag, not_found, ...)."""

    # The unique constraint's index (run_id, repository, digest) also serves lookups and ordering
    # by (run_id, repository): a separate (run_id, repository) index would only slow bulk inserts.
    __table_args__ = (
        UniqueConstraint("run_id", "repository", "digest"),
        Index(None, "run_id", "outcome"),
        CheckConstraint(_one_of("verdict", VERDICTS), name="verdict"),
        CheckConstraint(_one_of("outcome", OUTCOMES), name="outcome"),
    )


class MailOutbox(Base):
    """A report mail, kept until it was sent (failed sends are retried)."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    html_path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(_one_of("kind", MAIL_KINDS), name="kind"),
        Index(None, "sent_at", "created_at"),
    )


class NotifyOutbox(Base):
    """A chat or webhook notification whose sending failed, kept until it went or was given up.
    ``target`` is the URL's SHA-256 fingerprint: the URL carries tokens and is never stored."""

    __tablename__ = "notify_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    target: Mapped[str] = mapped_column(String(64))
    target_shown: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    given_up: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        CheckConstraint(_one_of("kind", NOTIFICATION_KINDS), name="kind"),
        Index(None, "sent_at", "given_up", "created_at"),
    )


class Lease(Base):
    """A named, expiring lock held by one process ("several replicas, one run")."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())


metadata = Base.metadata
