"""What every page shares: the Jinja2 environment (autoescaping on), sign-in by session cookie, CSRF tokens,
security headers, and errors shown as a page instead of JSON.

The session cookie holds the pasted token itself (HttpOnly, SameSite=Strict, Secure on https), checked
against the registry on every request like a bearer token, so revoking a token signs its sessions out at
once and any number of worker processes agree without shared state. The CSRF token of a form is an HMAC of
that secret (before sign-in and with ``--no-auth``, of a random per-browser cookie): a page from another
site can neither read it nor make the browser send the cookie, so its forged POST is refused with 403.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from promptyard.core.errors import AuthError, ForbiddenError, PromptyardError
from promptyard.registry.tokens import SCOPES, TokenInfo
from promptyard.server.auth import caller, context
from promptyard.server.errors import status_of

log = logging.getLogger(__name__)

SESSION_COOKIE = "promptyard_session"
CSRF_COOKIE = "promptyard_csrf"  # before sign-in and with --no-auth: no session secret to derive from
_RANK = {scope: i for i, scope in enumerate(SCOPES)}

#: no inline script or style runs, nothing loads from another origin
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


def _since(value: Any) -> str:
    """'3 minutes ago' for a datetime or ISO string."""
    if value is None or value == "":
        return ""
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    seconds = (datetime.now(UTC) - stamp).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def _stamp(value: Any) -> str:
    if value is None or value == "":
        return ""
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and value != 0 and abs(value) < 10 ** -(digits - 1):
        return f"{value:.3g}"  # a learning rate of 3e-05 is not 0.0000
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _signed(value: Any, digits: int = 4) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def _path(name: str) -> str:
    """A registry name in a URL path: '/' kept (routes take ``{name:path}``), everything else quoted."""
    return quote(name, safe="/")


ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("promptyard.server.pages", "templates"),
    autoescape=True,  # every value is escaped unless a template says otherwise; none does for user data
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # the templates ship in the package: no stat() per page
)
ENV.filters.update(since=_since, stamp=_stamp, num=_num, signed=_signed, path=_path, urlencode=urlencode)


# ---------------------------------------------------------------- who is signed in
def session_secret(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def viewer(request: Request) -> TokenInfo | None:
    """The signed-in token (the server's admin with --no-auth), or None when nobody is signed in."""
    if getattr(request.state, "token", None) is not None:
        return request.state.token
    ctx = context(request)
    if not ctx.auth:
        return caller(request)
    secret = session_secret(request)
    if not secret:
        return None
    found = ctx.tokens.find(ctx.registry(), secret)  # the API's lookup: kept until the file changes
    if found is not None:
        request.state.token = found  # what the API's check_visible/require read
    return found


class SignInNeeded(Exception):
    """Raised by pages that need a token when nobody is signed in (or the token was revoked)."""


def signed_in(request: Request) -> TokenInfo:
    token = viewer(request)
    if token is None:
        raise SignInNeeded
    return token


def can(token: TokenInfo | None, scope: str) -> bool:
    return token is not None and _RANK[token.scope] >= _RANK[scope]


def require_scope(request: Request, scope: str) -> TokenInfo:
    token = signed_in(request)
    if not can(token, scope):
        raise ForbiddenError(f"token {token.name!r} has scope {token.scope!r}; this needs {scope!r}",
                             where=f"{request.method} {request.url.path}",
                             hint=f"sign in with a token created with --scope {scope}")
    return token


# ---------------------------------------------------------------- CSRF
def _csrf_key(request: Request) -> str | None:
    if context(request).auth and session_secret(request):
        return session_secret(request)
    return request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_cookie", None)


def csrf_token(request: Request) -> str:
    """The value every form of this page carries in its hidden ``csrf`` field."""
    key = _csrf_key(request)
    if key is None:  # no session (signed out, or --no-auth): a random per-browser cookie stands in for it
        key = request.state.new_csrf_cookie = secrets.token_urlsafe(24)
    return hmac.new(key.encode(), b"promptyard-ui-form", hashlib.sha256).hexdigest()


def check_csrf(request: Request, submitted: str | None) -> None:
    """403 unless the form's CSRF token belongs to this browser's session, and the request came from this
    site (Origin, when the browser sends it)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        raise ForbiddenError("the form was sent from another site", where="Origin",
                             hint="use the forms on this server's own pages")
    if not _csrf_key(request) or not submitted or not hmac.compare_digest(csrf_token(request), submitted):
        raise ForbiddenError("missing or wrong CSRF token", where="csrf",
                             hint="reload the page and send the form again")


# ---------------------------------------------------------------- responses
def secure_headers(response: Response, request: Request) -> Response:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    new = getattr(request.state, "new_csrf_cookie", None)
    if new:
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
    return response


NAV = (("prompts", "/", "Prompts"), ("adapters", "/adapters", "Adapters"), ("evals", "/evals", "Eval runs"),
       ("searches", "/searches", "Searches"))


def page(request: Request, template: str, *, status: int = 200, section: str = "", title: str = "",
         **values: Any) -> HTMLResponse:
    """Render ``template`` with what the layout needs (the viewer, its rights, the CSRF token)."""
    token = viewer(request)
    html = ENV.get_template(template).render(
        request=request, token=token, can_write=can(token, "write"), is_admin=can(token, "admin"),
        auth=context(request).auth, csrf=csrf_token(request), nav=NAV, section=section, title=title, **values)
    return secure_headers(HTMLResponse(html, status_code=status), request)


def redirect(request: Request, url: str) -> RedirectResponse:
    return secure_headers(RedirectResponse(url, status_code=303), request)  # type: ignore[return-value]


def error_page(request: Request, status: int, message: str, where: str | None = None,
               hint: str | None = None) -> HTMLResponse:
    return page(request, "error.html", status=status, title=f"Error {status}", message=message, where=where,
                hint=hint)


class PageRoute(APIRoute):
    """Routes of the UI: errors become an HTML page with the API's status code and message (never a
    traceback), and a missing sign-in becomes a redirect to the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = redirect(request, "/signin?" + urlencode({"next": target}))
                if session_secret(request):  # a revoked or unknown token: forget it
                    response.delete_cookie(SESSION_COOKIE, path="/")
                return response
            except AuthError as exc:
                return error_page(request, 401, exc.message, exc.where, exc.hint)
            except PromptyardError as exc:
                return error_page(request, status_of(exc), exc.message, exc.where, exc.hint)
            except StarletteHTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail))
            except RequestValidationError as exc:
                return error_page(request, 422, "invalid request", hint=str(exc)[:300])
            except Exception as exc:  # no traceback reaches the browser
                log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
                return error_page(request, 500, "the server failed on this request", request.url.path,
                                  "the server log has the details")

        return route
