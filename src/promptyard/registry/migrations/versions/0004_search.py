"""Hyper-parameter searches and their trials (the ``ray`` area).

Revision ID: 0004_search
Revises: 0001_initial (the lead chains area revisions at merge time)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_search"
down_revision = "0003_evals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "searches",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("method", sa.String(100), nullable=False),
        sa.Column("adapter_name", sa.String(200), nullable=False),
        sa.Column("scheduler", sa.String(20), nullable=False),
        sa.Column("search_alg", sa.String(20), nullable=False),
        sa.Column("metric", sa.String(100), nullable=False),
        sa.Column("mode", sa.String(3), nullable=False),
        sa.Column("trials_requested", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("storage_path", sa.String(1000), nullable=False),
        sa.Column("plot_path", sa.String(1000), nullable=False),
        sa.Column("best_trial_id", sa.String(100), nullable=True),
        sa.Column("best_metric", sa.Float(), nullable=True),
        sa.Column("adapter_version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=True),
        sa.Column("error", sa.Text(), nullable=False, server_default=""),
        sa.Column("resumed", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_searches_status", "searches", ["status"])
    op.create_table(
        "search_trials",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("search_id", sa.String(40), sa.ForeignKey("searches.id"), nullable=False),
        sa.Column("trial_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("iterations", sa.Integer(), nullable=False),
        sa.Column("best_metric", sa.Float(), nullable=True),
        sa.Column("last_metric", sa.Float(), nullable=True),
        sa.Column("history", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False, server_default=""),
        sa.UniqueConstraint("search_id", "trial_id", name="uq_search_trials_search_trial"),
    )
    op.create_index("ix_search_trials_search_id", "search_trials", ["search_id"])


def downgrade() -> None:
    op.drop_index("ix_search_trials_search_id", table_name="search_trials")
    op.drop_table("search_trials")
    op.drop_index("ix_searches_status", table_name="searches")
    op.drop_table("searches")
