"""The notification outbox: chat and webhook notifications whose sending failed, for retrying.

Revision ID: 0003_dashboard
Revises: 0002_runpath
Create Date: 2026-12-06

Written out in full (no imports from janitor), like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_dashboard"
down_revision: str | None = "0002_runpath"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("run_failed", "run_deleted", "weekly")


def upgrade() -> None:
    op.create_table(
        "notify_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("target_shown", sa.String(length=300), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("given_up", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint(
            f"kind IN ({', '.join(repr(k) for k in KINDS)})", name=op.f("ck_notify_outbox_kind")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_notify_outbox_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_outbox")),
    )
    op.create_index(
        op.f("ix_notify_outbox_sent_at_given_up_created_at"),
        "notify_outbox",
        ["sent_at", "given_up", "created_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_notify_outbox_sent_at_given_up_created_at"), table_name="notify_outbox")
    op.drop_table("notify_outbox")
