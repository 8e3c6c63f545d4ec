"""Sign in by pasting a token (kept in an HttpOnly, SameSite=Strict cookie), sign out, and the static files."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import Response

import promptyard.server.pages.labels as labels
import promptyard.server.pages.web as web
from promptyard.core.errors import UnknownRefError
from promptyard.server.auth import context

router = APIRouter(route_class=web.PageRoute, include_in_schema=False)
STATIC = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8",
          "favicon.svg": "image/svg+xml"}
MAX_AGE = 30 * 24 * 3600  # a browser session cookie would also do; a month saves pasting the token daily


def _safe_next(target: str | None) -> str:
    """Only a path on this server (never //host or a scheme), so sign-in cannot redirect elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    return web.page(request, "signin.html", title="Sign in", next=_safe_next(request.query_params.get("next")),
                    error=None)


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await labels.form_data(request)
    web.check_csrf(request, form.get("csrf"))
    target = _safe_next(form.get("next"))
    if not context(request).auth:
        return web.redirect(request, target)
    secret = form.get("token", "").strip()
    ctx = context(request)
    found = ctx.tokens.find(ctx.registry(), secret) if secret else None
    if found is None:
        return web.page(request, "signin.html", status=401, title="Sign in", next=target,
                        error="unknown or revoked token: paste a token from `promptyard token create`")
    response = web.redirect(request, target)
    response.set_cookie(web.SESSION_COOKIE, secret, max_age=MAX_AGE, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    form = await labels.form_data(request)
    web.check_csrf(request, form.get("csrf"))
    response = web.redirect(request, "/signin")
    response.delete_cookie(web.SESSION_COOKIE, path="/")
    return response


@router.get("/static/{filename}")
async def static(filename: str) -> Response:
    """The CSS, script and icon shipped in the package (nothing is fetched from anywhere else)."""
    if filename not in STATIC:
        raise UnknownRefError(f"no static file {filename!r}")
    data = resources.files("promptyard.server.pages").joinpath("static", filename).read_bytes()
    return Response(data, media_type=STATIC[filename],
                    headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})
