"""Tables of the ``server`` area: API tokens for ``promptyard serve`` (only their hashes are stored)."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlmodel import Field, SQLModel

from promptyard.registry.tables import utcnow


class ApiToken(SQLModel, table=True):
    """One API token: a name (the actor in label histories), a scope and an optional name pattern."""

    __tablename__ = "api_tokens"

    id: Optional[int] = Field(default=None, primary_key=True)  # noqa: UP045 - SQLModel reads Optional
    name: str = Field(max_length=100, unique=True)
    token_hash: str = Field(max_length=64, unique=True)  # sha256 hex of the secret; the secret is never stored
    scope: str = Field(max_length=10)  # read | write | admin
    prompts: Optional[str] = Field(default=None, max_length=200)  # noqa: UP045 - glob of visible names
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: Optional[datetime] = Field(default=None)  # noqa: UP045


__all__ = ["ApiToken"]
