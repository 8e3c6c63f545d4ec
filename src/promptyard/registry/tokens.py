"""API tokens: create (the secret is returned once, only its sha256 is kept), list, revoke, look up.

Secrets are 32 random bytes, so a plain sha256 is enough to store them (a slow password hash guards
low-entropy secrets; these have none to guess). Look-ups read with the registry's stdlib connection on
every request, so a revoked token is refused by the very next request, from any process.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import select

from promptyard.core.errors import RegistryError, UnknownRefError, UsageError
from promptyard.core.records import as_time
from promptyard.registry.tables import utcnow
from promptyard.registry.tables_tokens import ApiToken

SCOPES = ("read", "write", "admin")
PREFIX = "pyd_"
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_PATTERN = re.compile(r"^[A-Za-z0-9._/*?\[\]-]{1,200}$")


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the secret."""

    name: str
    scope: str
    prompts: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, name: str) -> bool:
        """Whether the token may see item ``name`` at all (its ``prompts`` pattern)."""
        return self.prompts is None or fnmatch.fnmatchcase(name, self.prompts)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scope": self.scope, "prompts": self.prompts,
                "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _info(row: tuple) -> TokenInfo:
    name, scope, prompts, created, revoked = row
    return TokenInfo(name, scope, prompts, as_time(created), as_time(revoked) if revoked else None)


def create_token(registry: Any, name: str, scope: str, prompts: str | None = None) -> tuple[TokenInfo, str]:
    """Record a new token; returns it and its secret (shown once, never stored)."""
    if not isinstance(name, str) or not _TOKEN_NAME.match(name):
        raise UsageError(f"invalid token name {name!r}", where="token name",
                         hint="letters, digits, '.', '_', '@', '-' (it is recorded as the actor of label moves)")
    if scope not in SCOPES:
        raise UsageError(f"unknown scope {scope!r}", where="--scope", hint="read, write or admin")
    if prompts is not None and not _PATTERN.match(prompts):
        raise UsageError(f"invalid name pattern {prompts!r}", where="--prompts", hint="a glob such as 'team/*'")
    secret = PREFIX + secrets.token_urlsafe(32)
    with registry.write() as s:
        if s.connection().exec_driver_sql("SELECT 1 FROM api_tokens WHERE name = ?", (name,)).first():
            raise RegistryError(f"a token named {name!r} exists", where=name,
                                hint="revoke it first or pick another name")
        row = ApiToken(name=name, token_hash=hash_secret(secret), scope=scope, prompts=prompts)
        s.add(row)
        s.flush()
        info = TokenInfo(name, scope, prompts, as_time(row.created_at), None)
    return info, secret


_COLUMNS = "name, scope, prompts, created_at, revoked_at"


def list_tokens(registry: Any) -> list[TokenInfo]:
    """Every token, oldest first, revoked ones too."""
    rows = registry._reader().execute(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY id").fetchall()
    return [_info(r) for r in rows]


def revoke_token(registry: Any, name: str) -> bool:
    """Revoke token ``name``; False when it was already revoked. UnknownRefError when there is none."""
    with registry.write() as s:
        row = s.exec(select(ApiToken).where(ApiToken.name == name)).first()
        if row is None:
            raise UnknownRefError(f"no token named {name!r}", where=name, hint="`promptyard token list`")
        if row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
        s.add(row)
    return True


def find_token(registry: Any, secret: str) -> TokenInfo | None:
    """The active token whose secret is ``secret``, or None (unknown or revoked)."""
    row = registry._reader().execute(
        f"SELECT {_COLUMNS} FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL", (hash_secret(secret),)
    ).fetchone()
    return _info(row) if row else None
