"""Initial schema: runs, run_items, mail_outbox, leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written out in full (no imports from janitor) so that it keeps creating the same schema whatever
the models become later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERDICTS = ("keep", "delete")
RUN_STATUSES = ("running", "succeeded", "failed", "interrupted", "skipped")
OUTCOMES = (
    "kept",
    "pending",
    "would_delete",
    "deleted",
    "skipped_warning",
    "error",
    "not_attempted",
    "sending",
    "unconfirmed",
)


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(length=200), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("heartbeat_at", _utc(), nullable=True),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("report_path", sa.Text(), nullable=True),
        _count("repositories_scanned"),
        _count("images_scanned"),
        _count("candidates"),
        _count("kept"),
        _count("planned_deletes"),
        _count("skipped_by_warning"),
        _count("deleted"),
        _count("would_delete"),
        _count("errors"),
        sa.Column("bytes_reclaimed", sa.BigInteger(), nullable=True),
        sa.Column("bytes_planned", sa.BigInteger(), nullable=True),
        _count("hub_calls"),
        _count("hub_rate_limited"),
        _count("hub_manifest_deletes"),
        _count("hub_manifest_errors"),
        _count("hub_tag_deletes"),
        _count("hub_tag_errors"),
        sa.CheckConstraint(_one_of("status", RUN_STATUSES), name=op.f("ck_runs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_policy_started_at"), "runs", ["policy", "started_at"])
    op.create_index(op.f("ix_runs_namespace_started_at"), "runs", ["namespace", "started_at"])
    op.create_index(op.f("ix_runs_started_at"), "runs", ["started_at"])
    op.create_index(op.f("ix_runs_status"), "runs", ["status"])

    op.create_table(
        "run_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=200), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("last_pushed", _utc(), nullable=True),
        sa.Column("last_pulled", _utc(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("selected_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint(_one_of("verdict", VERDICTS), name=op.f("ck_run_items_verdict")),
        sa.CheckConstraint(_one_of("outcome", OUTCOMES), name=op.f("ck_run_items_outcome")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_items_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_items")),
        sa.UniqueConstraint(
            "run_id", "repository", "digest", name=op.f("uq_run_items_run_id_repository_digest")
        ),
    )
    op.create_index(op.f("ix_run_items_run_id_outcome"), "run_items", ["run_id", "outcome"])

    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("html_path", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("sent_at", _utc(), nullable=True),
        _count("attempts"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(_one_of("kind", ("run", "weekly")), name=op.f("ck_mail_outbox_kind")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_mail_outbox_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    op.create_index(
        op.f("ix_mail_outbox_sent_at_created_at"), "mail_outbox", ["sent_at", "created_at"]
    )

    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("acquired_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index(op.f("ix_mail_outbox_sent_at_created_at"), table_name="mail_outbox")
    op.drop_table("mail_outbox")
    op.drop_index(op.f("ix_run_items_run_id_outcome"), table_name="run_items")
    op.drop_table("run_items")
    op.drop_index(op.f("ix_runs_status"), table_name="runs")
    op.drop_index(op.f("ix_runs_started_at"), table_name="runs")
    op.drop_index(op.f("ix_runs_namespace_started_at"), table_name="runs")
    op.drop_index(op.f("ix_runs_policy_started_at"), table_name="runs")
    op.drop_table("runs")
