"""``/api/v1/adapters``: list, show with lineage and file manifest, log, labels, label moves, rollback, and
download of a version as a tar of its PEFT folder (every file checked against its recorded hash first)."""

from __future__ import annotations

import os
import tarfile
import tempfile

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

import promptyard.server.items as items
import promptyard.server.models as models
from promptyard.core.errors import IntegrityError
from promptyard.registry.tokens import TokenInfo
from promptyard.server.auth import context, require
from promptyard.server.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/adapters", tags=["adapters"], responses=ERROR_RESPONSES)
KIND = "adapter"
Read = Depends(require("read"))
Write = Depends(require("write"))


@router.get("", response_model=models.ItemPage, summary="List adapters")
async def list_adapters(request: Request, pattern: str | None = None, tag: str | None = None,
                        task_type: str | None = None, label: str | None = None, archived: bool = False,
                        offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=500),
                        token: TokenInfo = Read) -> dict:
    reg = context(request).registry()
    return items.list_items(reg, token, KIND, offset, limit, pattern=pattern, tag=tag, task_type=task_type,
                            label=label, archived=archived)


@router.get("/{name:path}/-/log", response_model=list[models.LogEvent], summary="Versions and label moves")
async def log(request: Request, name: str, token: TokenInfo = Read) -> list:
    return items.log_events(context(request).registry(), token, name, KIND)


@router.get("/{name:path}/-/labels", response_model=models.Labels, summary="Current labels and their history")
async def labels(request: Request, name: str, token: TokenInfo = Read) -> dict:
    return items.labels_of(context(request).registry(), token, name, KIND)


@router.put("/{name:path}/-/labels/{label}", response_model=models.MoveResult,
            summary="Point a label at an adapter version (protected labels: admin token and force)")
async def move_label(request: Request, name: str, label: str, body: models.LabelRequest,
                     token: TokenInfo = Write) -> dict:
    return await items.move_label(request, token, name, label, body, KIND)


@router.post("/{name:path}/-/rollback", response_model=models.MoveResult, summary="Move a label back")
async def rollback(request: Request, name: str, body: models.RollbackRequest, token: TokenInfo = Write) -> dict:
    return await items.rollback(request, token, name, body, KIND)


@router.get("/{ref:path}/-/manifest", response_model=dict[str, str],
            summary="Relative path -> sha256 of each file, as recorded at registration")
async def manifest(request: Request, ref: str, token: TokenInfo = Read) -> dict:
    reg = context(request).registry()
    info = items.resolve_visible(reg, token, ref, KIND)
    return reg.adapter_manifest(info.ref)


@router.get("/{ref:path}/-/download", response_class=FileResponse,
            responses={200: {"content": {"application/x-tar": {}}, "description": "the PEFT folder as a tar"}},
            summary="Download a version's PEFT folder (verified against its hashes before it is sent)")
async def download(request: Request, ref: str, token: TokenInfo = Read) -> Response:
    ctx = context(request)
    info = items.resolve_visible(ctx.registry(), token, ref, KIND)

    def pack() -> str:
        try:
            folder = ctx.registry().adapter_path(info.ref, verify=True)
        except IntegrityError as exc:  # 409, naming the version, not the server's folders
            raise IntegrityError(exc.message, where=info.ref, hint="an admin should run `promptyard registry "
                                 "check` on the server and re-register the adapter") from None
        fd, path = tempfile.mkstemp(prefix="promptyard-adapter-", suffix=".tar")
        os.close(fd)
        with tarfile.open(path, "w") as tar:
            for file in sorted(p for p in folder.rglob("*") if p.is_file()):
                tar.add(file, arcname=file.relative_to(folder).as_posix(), recursive=False)
        return path

    path = await run_in_threadpool(pack)
    filename = f"{info.name.replace('/', '_')}-{info.number}.tar"
    return FileResponse(path, media_type="application/x-tar", filename=filename,
                        headers={"X-Promptyard-Ref": info.ref, "X-Promptyard-Artifact-Hash": info.artifact_hash or ""},
                        background=BackgroundTask(os.unlink, path))


@router.get("/{ref:path}", response_model=models.Version, responses={304: {"description": "not modified"}},
            summary="Resolve an adapter reference: the version with its lineage, with an ETag")
async def show(request: Request, ref: str, token: TokenInfo = Read) -> Response:
    return items.resolved_response(request, context(request).registry(), token, ref, KIND)
