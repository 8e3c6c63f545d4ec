"""Search summary: objectives, Pareto front, best trial per method and extensions of a search.

Revision ID: 0007_search_summary
Revises: 0006_optimizations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_search_summary"
down_revision = "0006_optimizations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("searches") as batch:
        batch.add_column(sa.Column("summary", sa.Text(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("searches") as batch:
        batch.drop_column("summary")
