"""What the prompt and adapter routers share: resolving with visibility, ETags, pages, label moves, watch.

Everything goes through :class:`~promptyard.registry.api.Registry`; nothing here touches SQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

import promptyard.server.models as models
from promptyard.core.errors import PromptyardError, UsageError
from promptyard.core.records import VersionInfo
from promptyard.core.refs import parse_ref
from promptyard.registry.api import Registry
from promptyard.registry.tokens import TokenInfo
from promptyard.server.auth import check_protected, check_visible, context
from promptyard.server.errors import status_of


def etag_of(info: VersionInfo, item_labels: dict[str, int]) -> str:
    """The version (number and content hash) plus the item's whole label state: any move changes it."""
    labels = hashlib.sha256(json.dumps(item_labels, sort_keys=True).encode()).hexdigest()[:12]
    return f'"{info.kind[0]}{info.number}-{info.content_hash[:20]}-{labels}"'


def version_dict(reg: Registry, info: VersionInfo) -> dict[str, Any]:
    item_labels = reg.labels(info.name, kind=info.kind)
    data = info.to_dict()
    data["labels"] = sorted(label for label, n in item_labels.items() if n == info.number)
    data["item_labels"] = item_labels
    data["etag"] = etag_of(info, item_labels)
    return data


def resolve_visible(reg: Registry, token: TokenInfo, ref: str, kind: str) -> VersionInfo:
    if "/-/" in ref or ref.startswith("-/"):
        raise UsageError(f"no such endpoint under {kind}s: {ref!r}", where=ref, hint="see /openapi.json")
    check_visible(token, parse_ref(ref).name, kind)
    return reg.resolve(ref, kind=kind)


def resolved_response(request: Request, reg: Registry, token: TokenInfo, ref: str, kind: str) -> Response:
    """The version ``ref`` resolves to, with its ETag; 304 when the client's If-None-Match still holds."""
    data = version_dict(reg, resolve_visible(reg, token, ref, kind))
    headers = {"ETag": data["etag"], "Cache-Control": "no-cache"}
    match = request.headers.get("if-none-match")
    if match and data["etag"] in (m.strip() for m in match.split(",")):
        return Response(status_code=304, headers=headers)
    return JSONResponse(data, headers=headers)


def page_of(items: list[Any], offset: int, limit: int) -> dict[str, Any]:
    return {"total": len(items), "offset": offset, "limit": limit, "items": items[offset:offset + limit]}


def list_items(reg: Registry, token: TokenInfo, kind: str, offset: int, limit: int, **filters: Any) -> dict:
    items = [i.to_dict() for i in reg.list(filters.pop("pattern", None), kind=kind, **filters) if token.allows(i.name)]
    return page_of(items, offset, limit)


def log_events(reg: Registry, token: TokenInfo, name: str, kind: str) -> list[dict[str, Any]]:
    check_visible(token, name, kind)
    return [{**e, "time": e["time"].isoformat()} for e in reg.log(name, kind=kind)]


def labels_of(reg: Registry, token: TokenInfo, name: str, kind: str) -> dict[str, Any]:
    check_visible(token, name, kind)
    return {"labels": reg.labels(name, kind=kind), "protected": list(reg.protected_labels),
            "history": [m.to_dict() for m in reg.label_history(name, kind=kind)]}


def target_ref(name: str, body: models.LabelRequest) -> str:
    """``name@N`` from a version number, or the body's reference (which must name the same item)."""
    if (body.version is None) == (body.ref is None):
        raise UsageError("give exactly one of version and ref", where="body", hint='e.g. {"version": 3}')
    if body.version is not None:
        return f"{name}@{body.version}"
    ref = body.ref or ""
    if ref.startswith("@"):
        ref = name + ref
    if parse_ref(ref).name != name:
        raise UsageError(f"{ref!r} is not a version of {name!r}", where="ref", hint="e.g. @3 or @staging")
    return ref


async def move_label(ctx_request: Request, token: TokenInfo, name: str, label: str, body: models.LabelRequest,
                     kind: str) -> dict[str, Any]:
    ctx = context(ctx_request)
    check_visible(token, name, kind)

    def work() -> dict[str, Any]:
        reg = ctx.registry()
        ref = target_ref(name, body)
        check_protected(token, label, reg.protected_labels)
        move = reg.label(ref, label, force=body.force, reason=body.reason, actor=token.name, kind=kind)
        if move is None:  # already there: say so in the same shape, recording nothing
            number = reg.resolve(ref, kind=kind).number
            return {"kind": kind, "name": name, "label": label, "from_number": number, "to_number": number,
                    "action": "none", "actor": token.name, "reason": body.reason,
                    "created_at": datetime.now(UTC).isoformat(), "moved": False}
        return {**move.to_dict(), "moved": True}

    return await run_in_threadpool(work)


async def rollback(request: Request, token: TokenInfo, name: str, body: models.RollbackRequest,
                   kind: str) -> dict[str, Any]:
    ctx = context(request)
    check_visible(token, name, kind)

    def work() -> dict[str, Any]:
        reg = ctx.registry()
        check_protected(token, body.label, reg.protected_labels)
        move = reg.rollback(name, body.label, body.to, reason=body.reason, actor=token.name, kind=kind)
        return {**move.to_dict(), "moved": True}

    return await run_in_threadpool(work)


def _state(reg: Registry, token: TokenInfo, ref: str, kind: str) -> tuple[str | None, dict[str, Any]]:
    """(etag, version) of what ``ref`` resolves to now, or (None, error body) when it resolves to nothing."""
    try:
        data = version_dict(reg, resolve_visible(reg, token, ref, kind))
        return data["etag"], data
    except PromptyardError as exc:
        if status_of(exc) != 404:
            raise
        return None, {"message": exc.message, "where": exc.where, "hint": exc.hint}


async def watch(request: Request, token: TokenInfo, entries: list[models.WatchEntry], timeout: float,
                kind: str) -> list[dict[str, Any]]:
    """Wait (at most ``timeout`` s) until one of ``entries`` resolves to something other than its etag;
    return those that changed (empty on timeout). Runs on the event loop: resolving is a few cached reads."""
    ctx = context(request)
    reg = ctx.registry()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(timeout, ctx.limits.max_watch_s)
    while True:
        change_token = ctx.watcher.token()  # before resolving: a change after this wakes the wait below
        changed = []
        for entry in entries:
            etag, data = _state(reg, token, entry.ref, kind)
            if etag != entry.etag:
                changed.append({"ref": entry.ref, "etag": etag, "version": data if etag else None,
                                "error": None if etag else data})
        remaining = deadline - loop.time()
        if changed or remaining <= 0 or await request.is_disconnected():
            return changed
        await ctx.watcher.wait(change_token, min(remaining, 1.0))  # wakes each second to notice a gone client
