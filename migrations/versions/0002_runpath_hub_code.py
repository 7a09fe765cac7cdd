"""run_items.hub_code: the name of Hub's warning or error behind an item's outcome.

Revision ID: 0002_runpath
Revises: 0001
Create Date: 2026-12-06

``current_tag``, ``is_active``, ``not_found``, ``child_manifest``, ...: machine-readable beside
the sentence for people in ``detail``. Nullable: items without a Hub warning or error, and every
item recorded before this column existed, have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_runpath"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run_items") as batch:
        batch.add_column(sa.Column("hub_code", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_items") as batch:
        batch.drop_column("hub_code")
