"""``/api/v1/prompts``: list, show/resolve (ETag, 304), versions, log, labels, diff, render, commit,
label moves, rollback, archive and watch. Item names may hold ``/``, so actions follow ``/-/``."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

import promptyard.server.items as items
import promptyard.server.models as models
from promptyard.core.errors import RenderError, UsageError
from promptyard.core.refs import check_name, parse_ref
from promptyard.core.render import Rendered
from promptyard.core.render import render as render_template
from promptyard.registry.tokens import TokenInfo
from promptyard.server.auth import check_visible, context, require
from promptyard.server.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/prompts", tags=["prompts"], responses=ERROR_RESPONSES)
KIND = "prompt"
Read = Depends(require("read"))
Write = Depends(require("write"))


@router.get("", response_model=models.ItemPage, summary="List and search prompts")
async def list_prompts(
    request: Request,
    pattern: str | None = Query(None, description="name glob (team/*) or substring"),
    tag: str | None = None,
    kind: str | None = Query(None, description="template kind: single, multi, structured, dynamic"),
    task_type: str | None = None,
    label: str | None = None,
    archived: bool = False,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=500),
    token: TokenInfo = Read,
) -> dict:
    reg = context(request).registry()
    return items.list_items(reg, token, KIND, offset, limit, pattern=pattern, tag=tag, template_kind=kind,
                            task_type=task_type, label=label, archived=archived)


@router.get("/-/diff", response_model=models.Diff, summary="Diff the template text and contract of two references")
async def diff(request: Request, a: str, b: str, token: TokenInfo = Read) -> dict:
    reg = context(request).registry()
    for ref in (a, b):
        check_visible(token, parse_ref(ref).name, KIND)
    return reg.diff(a, b)


@router.get("/-/protected", response_model=list[str],
            summary="Labels that only an admin token moves (with force), registry-wide")
async def protected(request: Request, token: TokenInfo = Read) -> list:
    return list(context(request).registry().protected_labels)


@router.post("/-/watch", response_model=models.WatchResult,
             summary="Wait until any of the references resolves to something new (long-poll)")
async def watch_many(request: Request, body: models.WatchRequest, token: TokenInfo = Read) -> dict:
    limits = context(request).limits
    if len(body.refs) > limits.max_watch_refs:
        raise UsageError(f"at most {limits.max_watch_refs} references per watch", where="refs")
    return {"changed": await items.watch(request, token, body.refs, body.timeout, body.kind)}


@router.get("/{name:path}/-/versions", response_model=list[models.Version], summary="Every version, oldest first")
async def versions(request: Request, name: str, token: TokenInfo = Read) -> list:
    reg = context(request).registry()
    check_visible(token, name, KIND)
    return [items.version_dict(reg, v) for v in reg.versions(name)]


@router.post("/{name:path}/-/versions", response_model=models.CommitResult, status_code=201,
             summary="Commit a version (200 and created=false when it equals the latest)")
async def commit(request: Request, name: str, body: models.CommitRequest, token: TokenInfo = Write) -> Response:
    ctx = context(request)
    check_name(name)
    check_visible(token, name, KIND)
    author = token.name if ctx.auth else (body.author or token.name)

    def work() -> tuple[bool, dict]:
        reg = ctx.registry()
        info = reg.commit(name, body.template, body.message, author=author, task_type=body.task_type,
                          tags=body.tags, description=body.description)
        created = info is not None
        return created, items.version_dict(reg, info or reg.resolve(f"{name}@latest"))

    created, version = await run_in_threadpool(work)
    return JSONResponse({"created": created, "version": version}, status_code=201 if created else 200)


@router.get("/{name:path}/-/log", response_model=list[models.LogEvent],
            summary="Versions and label moves in time order")
async def log(request: Request, name: str, token: TokenInfo = Read) -> list:
    return items.log_events(context(request).registry(), token, name, KIND)


@router.get("/{name:path}/-/labels", response_model=models.Labels, summary="Current labels and their history")
async def labels(request: Request, name: str, token: TokenInfo = Read) -> dict:
    return items.labels_of(context(request).registry(), token, name, KIND)


@router.put("/{name:path}/-/labels/{label}", response_model=models.MoveResult,
            summary="Point a label at a version (protected labels: admin token and force)")
async def move_label(request: Request, name: str, label: str, body: models.LabelRequest,
                     token: TokenInfo = Write) -> dict:
    return await items.move_label(request, token, name, label, body, KIND)


@router.post("/{name:path}/-/rollback", response_model=models.MoveResult,
             summary="Move a label back to its previous version (or to version `to`)")
async def rollback(request: Request, name: str, body: models.RollbackRequest, token: TokenInfo = Write) -> dict:
    return await items.rollback(request, token, name, body, KIND)


@router.post("/{name:path}/-/archive", response_model=models.Archived, summary="Archive a prompt (undo: bring back)")
async def archive(request: Request, name: str, body: models.ArchiveRequest, token: TokenInfo = Write) -> dict:
    ctx = context(request)
    check_visible(token, name, KIND)
    changed = await run_in_threadpool(lambda: ctx.registry().archive(name, undo=body.undo))
    return {"name": name, "archived": not body.undo, "changed": changed}


@router.post("/{ref:path}/-/render", response_model=models.Rendered,
             summary="Resolve and render with variables (the CLI's sandbox, contract checks and errors)")
async def render(request: Request, ref: str, body: models.RenderRequest, token: TokenInfo = Read) -> Response:
    ctx = context(request)
    info = items.resolve_visible(ctx.registry(), token, ref, KIND)
    template = ctx.template(info)
    limits = ctx.render_limits

    def work() -> Rendered:
        return render_template(template, body.variables, seed=body.seed, limits=limits)

    try:
        # the sandbox stops the render at its deadline; this outer bound only guards the worker pool
        with anyio.fail_after(limits.deadline_s + 1.0):
            rendered = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except TimeoutError:
        raise RenderError(f"rendering took longer than {limits.deadline_s:g} s", where=info.ref,
                          hint="the server bounds render time (serve --render-timeout)") from None
    except RenderError as exc:
        exc.where = f"{info.ref}: {exc.where}" if exc.where else info.ref
        raise
    # built here rather than through response_model: this is the hot path, and the shape is the model's
    return JSONResponse({"ref": info.ref, "content_hash": info.content_hash, **rendered.to_json()})


@router.get("/{ref:path}/-/watch", response_model=models.Version,
            responses={304: {"description": "nothing changed before the timeout"}},
            summary="Long-poll: answer as soon as the reference resolves to something other than `etag`")
async def watch_one(request: Request, ref: str, etag: str | None = None,
                    timeout: float = Query(30.0, gt=0), token: TokenInfo = Read) -> Response:
    changed = await items.watch(request, token, [models.WatchEntry(ref=ref, etag=etag)], timeout, KIND)
    if not changed:
        return Response(status_code=304, headers={"ETag": etag} if etag else None)
    if changed[0]["version"] is None:
        err = changed[0]["error"]
        return JSONResponse(err, status_code=404)
    return JSONResponse(changed[0]["version"], headers={"ETag": changed[0]["etag"]})


@router.get("/{ref:path}", response_model=models.Version,
            responses={304: {"description": "If-None-Match still matches"}},
            summary="Resolve a reference (name, @N, @latest, @label, @sha:prefix): the version, with an ETag")
async def show(request: Request, ref: str, token: TokenInfo = Read) -> Response:
    return items.resolved_response(request, context(request).registry(), token, ref, KIND)
