"""runs.notes: what a run could not see (untagged images on a Hub whose manifests listing janitor
does not understand) or refused to plan (a repository whose listing did not add up).

Revision ID: 0005_lead
Revises: 0004_plans
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_lead"
down_revision: str | None = "0004_plans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("notes")
