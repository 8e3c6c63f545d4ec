"""Prompt optimisations and their candidates (the ``optimize`` area).

Revision ID: 0006_optimizations
Revises: 0005_tokens
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_optimizations"
down_revision = "0005_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "optimizations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("optimizer", sa.String(100), nullable=False),
        sa.Column("prompt", sa.String(300), nullable=False),
        sa.Column("prompt_version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=True),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("data", sa.String(1000), nullable=False),
        sa.Column("metric", sa.String(100), nullable=False),
        sa.Column("budget_calls", sa.Integer(), nullable=True),
        sa.Column("budget_seconds", sa.Float(), nullable=True),
        sa.Column("calls_spent", sa.Integer(), nullable=False),
        sa.Column("test_calls", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("history", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("best_candidate", sa.Integer(), nullable=True),
        sa.Column("committed_version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=True),
        sa.Column("eval_run_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_optimizations_status", "optimizations", ["status"])
    op.create_table(
        "optimization_candidates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("optimization_id", sa.String(40), sa.ForeignKey("optimizations.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("origin", sa.String(40), nullable=False),
        sa.Column("parent", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("scores", sa.Text(), nullable=False),
        sa.Column("rewards", sa.Text(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.UniqueConstraint("optimization_id", "number", name="uq_optimization_candidates_number"),
    )
    op.create_index("ix_optimization_candidates_optimization_id", "optimization_candidates", ["optimization_id"])


def downgrade() -> None:
    op.drop_index("ix_optimization_candidates_optimization_id", table_name="optimization_candidates")
    op.drop_table("optimization_candidates")
    op.drop_index("ix_optimizations_status", table_name="optimizations")
    op.drop_table("optimizations")
