"""Who is asking: the bearer token of each request, its scope, and which names it may see.

``Depends(require("write"))`` in a route's signature gives the route the caller's
:class:`~promptyard.registry.tokens.TokenInfo` (or refuses: 401 without a valid token, 403 when the scope
is too small). Scopes are ordered read < write < admin. A token limited to a name pattern (``team/*``)
sees other prompts and adapters as if they did not exist (404, never 403), so names do not leak.
With auth off (``--no-auth``, loopback only) every request acts as an admin named after the server's user.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from promptyard.core.errors import AuthError, ForbiddenError, UnknownRefError
from promptyard.registry.actors import default_author
from promptyard.registry.tokens import SCOPES, TokenInfo
from promptyard.server.context import ServerContext

_RANK = {scope: i for i, scope in enumerate(SCOPES)}


def context(request: Request) -> ServerContext:
    return request.app.state.ctx


def caller(request: Request) -> TokenInfo:
    """The token of this request (checked once per request, against the registry file)."""
    found = getattr(request.state, "token", None)
    if found is not None:
        return found
    ctx = context(request)
    if not ctx.auth:
        found = TokenInfo(default_author(), "admin", None, datetime.now(UTC), None)
    else:
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AuthError("a token is required", where="Authorization",
                            hint="send `Authorization: Bearer TOKEN`; `promptyard token create` makes one")
        found = ctx.tokens.find(ctx.registry(), secret.strip())
        if found is None:
            raise AuthError("unknown or revoked token", where="Authorization",
                            hint="ask an admin for a token (`promptyard token create`)")
    request.state.token = found
    return found


def require(scope: str) -> Callable[[Request], Coroutine[Any, Any, TokenInfo]]:
    """A dependency: the caller's token if its scope is at least ``scope``."""
    needed = _RANK[scope]

    async def dependency(request: Request) -> TokenInfo:
        token = caller(request)
        if _RANK[token.scope] < needed:
            raise ForbiddenError(f"token {token.name!r} has scope {token.scope!r}; this needs {scope!r}",
                                 where=f"{request.method} {request.url.path}",
                                 hint=f"use a token created with --scope {scope}")
        return token

    dependency.__name__ = f"require_{scope}"
    return dependency


def check_visible(token: TokenInfo, name: str, kind: str = "prompt") -> None:
    """404, exactly as for a name that does not exist, when the token may not see ``name``."""
    if not token.allows(name):
        raise UnknownRefError(f"unknown {kind} {name!r}", hint=f"`promptyard {kind} list` shows what exists")


def check_protected(token: TokenInfo, label: str, protected: tuple[str, ...]) -> None:
    """Protected labels (``production``) move only with an admin token."""
    if label in protected and _RANK[token.scope] < _RANK["admin"]:
        raise ForbiddenError(f"label {label!r} is protected; moving it needs an admin token",
                             where=label, hint="ask an admin, or move an unprotected label such as staging")
