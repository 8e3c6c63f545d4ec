"""``/api/v1/searches``: hyper-parameter searches and their trials."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

import promptyard.server.models as models
from promptyard.core.errors import UnknownRefError
from promptyard.registry import search_records as searches
from promptyard.registry.tokens import TokenInfo
from promptyard.server.auth import context, require
from promptyard.server.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/searches", tags=["searches"], responses=ERROR_RESPONSES)
Read = Depends(require("read"))


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


@router.get("", response_model=list[models.SearchSummary], summary="Searches, newest first")
async def list_searches(request: Request, token: TokenInfo = Read) -> list:
    rows = await run_in_threadpool(lambda: searches.list_searches(context(request).registry()))
    return [_plain(r) for r in rows if token.allows(r["adapter_name"])]


@router.get("/{search_id}", response_model=models.Search, summary="One search with its trials")
async def show(request: Request, search_id: str, token: TokenInfo = Read) -> dict:
    row = await run_in_threadpool(lambda: searches.get_search(context(request).registry(), search_id))
    if not token.allows(row["adapter_name"]):
        raise UnknownRefError(f"no search '{search_id}'", where=search_id, hint="see `promptyard tune searches`")
    return _plain(row)
