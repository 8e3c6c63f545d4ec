"""The first registry schema: items, versions, labels, label moves, artifacts, settings.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("task_type", sa.String(100), nullable=True),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("kind", "name", name="uq_items_kind_name"),
    )
    op.create_index("ix_items_kind", "items", ["kind"])
    op.create_index("ix_items_name", "items", ["name"])
    op.create_table(
        "artifacts",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("contract", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=True),
        sa.Column("lineage", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("artifact_hash", sa.String(64), sa.ForeignKey("artifacts.hash"), nullable=True),
        sa.UniqueConstraint("item_id", "number", name="uq_versions_item_number"),
    )
    op.create_index("ix_versions_item_hash", "versions", ["item_id", "content_hash"])
    op.create_index("ix_versions_hash", "versions", ["content_hash"])
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("item_id", "name", name="uq_labels_item_name"),
    )
    op.create_table(
        "label_moves",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("from_version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=True),
        sa.Column("to_version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_label_moves_item_label", "label_moves", ["item_id", "label"])
    op.create_table(
        "settings",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in ("settings", "label_moves", "labels", "versions", "artifacts", "items"):
        op.drop_table(table)
