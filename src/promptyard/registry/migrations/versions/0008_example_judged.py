"""Per-example judge scores of judged metrics (the ``judge`` metric) on eval examples.

Revision ID: 0008_example_judged
Revises: 0007_search_summary
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_example_judged"
down_revision = "0007_search_summary"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("eval_examples") as batch:
        batch.add_column(sa.Column("judged", sa.Text(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("eval_examples") as batch:
        batch.drop_column("judged")
