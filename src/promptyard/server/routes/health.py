"""``/healthz`` (the process answers) and ``/readyz`` (the registry file opens at the current schema)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

import promptyard.server.models as models
from promptyard.registry import schema
from promptyard.server.auth import context

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=models.Health, summary="The server process answers")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", response_model=models.Health, responses={503: {"model": models.Health}},
            summary="The registry can be read at this promptyard's schema")
async def readyz(request: Request) -> JSONResponse:
    ctx = context(request)
    reg = ctx.registry()
    try:
        conn = reg._reader()
        revisions = sorted(schema.current_revisions(conn) or [])
        ready = not schema.needs_upgrade(conn, ctx.path)
    except Exception as exc:  # not ready is an answer here, not an error
        return JSONResponse({"status": f"not ready: {type(exc).__name__}"}, status_code=503)
    # no file path here: /readyz answers without a token
    return JSONResponse({"status": "ok" if ready else "not ready: schema is behind", "schema_revisions": revisions},
                        status_code=200 if ready else 503)
