"""``/api/v1/tokens``: create, list and revoke API tokens (admin tokens only; a secret is shown once)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

import promptyard.server.models as models
from promptyard.core.errors import ForbiddenError
from promptyard.registry import tokens
from promptyard.registry.tokens import TokenInfo
from promptyard.server.auth import context, require
from promptyard.server.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"], responses=ERROR_RESPONSES)
Admin = Depends(require("admin"))


def _unrestricted(token: TokenInfo) -> None:
    # an admin limited to team/* must not mint a token that sees everything
    if token.prompts is not None:
        raise ForbiddenError(f"token {token.name!r} is limited to {token.prompts!r}; managing tokens needs an "
                             "unrestricted admin token", where="tokens")


@router.get("", response_model=list[models.Token], summary="Every token (never the secrets)")
async def list_tokens(request: Request, token: TokenInfo = Admin) -> list:
    _unrestricted(token)
    return [t.to_dict() for t in tokens.list_tokens(context(request).registry())]


@router.post("", response_model=models.NewToken, status_code=201, summary="Create a token; its secret is shown once")
async def create(request: Request, body: models.TokenRequest, token: TokenInfo = Admin) -> dict:
    _unrestricted(token)
    info, secret = await run_in_threadpool(
        lambda: tokens.create_token(context(request).registry(), body.name, body.scope, body.prompts))
    return {**info.to_dict(), "token": secret}


@router.delete("/{name}", response_model=models.Token, summary="Revoke a token (refused from its next request on)")
async def revoke(request: Request, name: str, token: TokenInfo = Admin) -> dict:
    _unrestricted(token)
    ctx = context(request)
    await run_in_threadpool(lambda: tokens.revoke_token(ctx.registry(), name))
    return next(t.to_dict() for t in tokens.list_tokens(ctx.registry()) if t.name == name)
