"""Evaluation results: runs, cells (with lineage), per-example outputs, metrics.

Revision ID: 0003_evals
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_evals"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("suite", sa.Text(), nullable=False),
        sa.Column("suite_path", sa.String(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("packages", sa.Text(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("cache_hits", sa.Integer(), nullable=False),
        sa.Column("cache_misses", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_eval_runs_name", "eval_runs", ["name"])
    op.create_table(
        "eval_cells",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("eval_runs.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("prompt_ref", sa.String(), nullable=False),
        sa.Column("prompt_version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=True),
        sa.Column("prompt_hash", sa.String(64), nullable=False),
        sa.Column("adapter_ref", sa.String(), nullable=True),
        sa.Column("adapter_version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=True),
        sa.Column("adapter_hash", sa.String(64), nullable=True),
        sa.Column("model_ref", sa.String(), nullable=False),
        sa.Column("model_hash", sa.String(64), nullable=False),
        sa.Column("data_ref", sa.String(), nullable=False),
        sa.Column("data_fingerprint", sa.String(64), nullable=False),
        sa.Column("split", sa.String(20), nullable=False),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("scoring", sa.String(20), nullable=False),
        sa.Column("n_examples", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("lineage", sa.Text(), nullable=False),
    )
    op.create_index("ix_eval_cells_run", "eval_cells", ["run_id", "position"])
    op.create_index("ix_eval_cells_prompt_hash", "eval_cells", ["prompt_hash"])
    op.create_table(
        "eval_examples",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cell_id", sa.Integer(), sa.ForeignKey("eval_cells.id"), nullable=False),
        sa.Column("example_index", sa.Integer(), nullable=False),
        sa.Column("prompt_hash", sa.String(64), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("prediction", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("scores", sa.Text(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("render", sa.Text(), nullable=False),
    )
    op.create_index("ix_eval_examples_cell", "eval_examples", ["cell_id", "example_index"])
    op.create_table(
        "eval_metrics",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cell_id", sa.Integer(), sa.ForeignKey("eval_cells.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("higher_is_better", sa.Boolean(), nullable=False),
        sa.Column("scores", sa.Text(), nullable=False),
    )
    op.create_index("ix_eval_metrics_cell", "eval_metrics", ["cell_id", "name"])


def downgrade() -> None:
    for table in ("eval_metrics", "eval_examples", "eval_cells", "eval_runs"):
        op.drop_table(table)
