"""The ASGI app: ``create_app(registry_path)`` builds it; ``promptyard serve`` runs it under uvicorn.

Layers: routers (one per noun, under ``routes/``) take the caller's token from :mod:`.auth`, call the
registry through :mod:`.items` and :class:`~promptyard.registry.api.Registry`, and raise promptyard's
own errors, which :mod:`.errors` turns into ``{message, where, hint}`` with one status-code mapping.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import promptyard.server.errors as errors
import promptyard.server.pages as pages
from promptyard._version import __version__
from promptyard.core.sandbox_limits import SandboxLimits
from promptyard.registry.api import Registry
from promptyard.server.context import ServerContext
from promptyard.server.errors import error_response
from promptyard.server.limits import ServerLimits
from promptyard.server.routes import adapters, evals, health, prompts, searches, tokens

#: routers in the order their paths are matched
ROUTERS = [health.router, prompts.router, adapters.router, evals.router, searches.router, tokens.router,
           pages.router]  # the web UI (server/pages) last: its paths are outside /api


class BodyLimit:
    """413 for a request body over ``limit`` bytes: refused from Content-Length before it is read, and a
    body without one (chunked) is read up to the limit first, then handed on whole."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.limit:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, f"request body is larger than the server's limit of {self.limit} bytes",
                                  "body", "send less, or ask the operator to raise --max-body")
        await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that first gives ``messages``, then whatever comes (a disconnect)."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def create_app(registry_path: str | os.PathLike, *, auth: bool = True, limits: ServerLimits | None = None) -> FastAPI:
    """The API over the registry file at ``registry_path`` (which must exist; an old schema is upgraded)."""
    path = Registry.open(registry_path).path  # raises the CLI's "no registry here" error, upgrades the schema
    ctx = ServerContext(Path(path), auth=auth, limits=limits or ServerLimits())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.close()

    app = FastAPI(title="promptyard", version=__version__, lifespan=lifespan,
                  description="The promptyard registry as a service: prompts, adapters, eval runs and searches. "
                              "Every request needs `Authorization: Bearer TOKEN` (see `promptyard token create`). "
                              "Errors are `{message, where, hint}`.")
    app.state.ctx = ctx
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(BodyLimit, limit=ctx.limits.max_body_bytes)
    return app


#: environment variables through which ``promptyard serve`` hands its settings to uvicorn's workers
ENV_REGISTRY, ENV_AUTH, ENV_LIMITS = "PROMPTYARD_SERVE_REGISTRY", "PROMPTYARD_SERVE_AUTH", "PROMPTYARD_SERVE_LIMITS"


def app_from_env() -> FastAPI:
    """The app as ``promptyard serve`` configured it (uvicorn calls this in each worker process)."""
    import json

    settings = json.loads(os.environ.get(ENV_LIMITS) or "{}")
    if settings.get("sandbox") is not None:
        settings["sandbox"] = SandboxLimits(**settings["sandbox"])
    limits = ServerLimits(**settings)
    return create_app(os.environ[ENV_REGISTRY], auth=os.environ.get(ENV_AUTH, "1") != "0", limits=limits)
