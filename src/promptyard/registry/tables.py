"""The registry's own SQLModel tables: one generic versioned-item model for prompts and adapters.

Adding tables for another area: write ``registry/tables_<area>.py`` with SQLModel classes (``table=True``,
explicit ``__tablename__``, foreign keys to ``versions.id`` / ``items.id`` where they link to versions),
and ONE Alembic revision ``registry/migrations/versions/NNNN_<area>.py`` that creates them. Every module
named ``tables*.py`` in this package is imported by the migration environment (so autogenerate sees it)
and by :func:`promptyard.registry.engine.load_table_modules`. Nothing else needs to change: the schema
check compares the heads found in ``versions/`` with the database, whatever chain the revisions form.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Optional

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

ITEM_KINDS = ("prompt", "adapter")


def utcnow() -> datetime:
    """Aware UTC time (SQLModel refuses naive datetimes; every timestamp in the registry is UTC)."""
    return datetime.now(UTC)


class Item(SQLModel, table=True):
    """A named thing with versions: a prompt or an adapter."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("kind", "name", name="uq_items_kind_name"),)

    id: Optional[int] = Field(default=None, primary_key=True)  # noqa: UP045 - SQLModel reads Optional
    kind: str = Field(max_length=20, index=True)
    name: str = Field(max_length=200, index=True)
    task_type: Optional[str] = Field(default=None, max_length=100)  # noqa: UP045
    description: str = Field(default="")
    tags: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    archived: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)


class Artifact(SQLModel, table=True):
    """A directory in the content-addressed store (``artifacts/sha256/<hash>/``)."""

    __tablename__ = "artifacts"

    hash: str = Field(primary_key=True, max_length=64)
    path: str = Field(max_length=500)
    size: int = 0
    file_count: int = 0
    manifest: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Version(SQLModel, table=True):
    """One immutable version of an item. ``number`` counts 1, 2, 3 … per item."""

    __tablename__ = "versions"
    __table_args__ = (
        UniqueConstraint("item_id", "number", name="uq_versions_item_number"),
        Index("ix_versions_item_hash", "item_id", "content_hash"),
        Index("ix_versions_hash", "content_hash"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)  # noqa: UP045
    item_id: int = Field(foreign_key="items.id")
    number: int
    content_hash: str = Field(max_length=64)
    content: str = Field(sa_column=Column(Text, nullable=False))
    contract: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    message: str = Field(default="")
    author: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow)
    parent_id: Optional[int] = Field(default=None, foreign_key="versions.id")  # noqa: UP045
    lineage: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    artifact_hash: Optional[str] = Field(default=None, foreign_key="artifacts.hash")  # noqa: UP045


class Label(SQLModel, table=True):
    """Where a label points now; its history is in :class:`LabelMove`."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("item_id", "name", name="uq_labels_item_name"),)

    id: Optional[int] = Field(default=None, primary_key=True)  # noqa: UP045
    item_id: int = Field(foreign_key="items.id")
    name: str = Field(max_length=100)
    version_id: int = Field(foreign_key="versions.id")
    updated_at: datetime = Field(default_factory=utcnow)


class LabelMove(SQLModel, table=True):
    """Append-only history of label moves: who, when, from, to, why."""

    __tablename__ = "label_moves"
    __table_args__ = (Index("ix_label_moves_item_label", "item_id", "label"),)

    id: Optional[int] = Field(default=None, primary_key=True)  # noqa: UP045
    item_id: int = Field(foreign_key="items.id")
    label: str = Field(max_length=100)
    from_version_id: Optional[int] = Field(default=None, foreign_key="versions.id")  # noqa: UP045
    to_version_id: int = Field(foreign_key="versions.id")
    action: str = Field(default="move", max_length=20)  # move | rollback | import
    actor: str = Field(default="")
    reason: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow)


class Setting(SQLModel, table=True):
    """Registry-wide settings (JSON values), e.g. ``protected_labels``."""

    __tablename__ = "settings"

    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(default="null", sa_column=Column(Text, nullable=False))


__all__ = ["ITEM_KINDS", "Artifact", "Item", "Label", "LabelMove", "Setting", "SQLModel", "Version", "utcnow"]
