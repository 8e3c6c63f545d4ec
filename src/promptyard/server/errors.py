"""One error shape for every response, and the one mapping from promptyard's errors to status codes.

Every error body is ``{"message", "where", "hint"}``: the same three parts as the CLI's one-line error.
No traceback reaches a client: an unexpected exception is logged here and answered with a 500 that says
only that the server failed.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from promptyard.core.errors import (
    AmbiguousRefError,
    AuthError,
    ForbiddenError,
    IntegrityError,
    PromptyardError,
    RegistryError,
    RenderError,
    TooLargeError,
    UnknownNameError,
    UnknownRefError,
    UsageError,
    ValidationError,
)

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """What every error response holds."""

    message: str
    where: str | None = None
    hint: str | None = None


#: first match wins, so subclasses come before their bases
STATUS: tuple[tuple[type[PromptyardError], int], ...] = (
    (AuthError, 401),
    (ForbiddenError, 403),
    (TooLargeError, 413),
    (AmbiguousRefError, 400),
    (UnknownRefError, 404),
    (IntegrityError, 409),
    (RegistryError, 409),
    (RenderError, 422),
    (ValidationError, 422),
    (UnknownNameError, 422),
    (UsageError, 400),
    (PromptyardError, 400),
)

#: the error responses each route may give, for the OpenAPI schema
ERROR_RESPONSES = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422)}


def status_of(exc: PromptyardError) -> int:
    return next(code for cls, code in STATUS if isinstance(exc, cls))


def error_response(status: int, message: str, where: str | None = None, hint: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(message=" ".join(message.split()), where=where, hint=hint)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _promptyard(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PromptyardError)
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(status, exc.message, exc.where, exc.hint, headers)


def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors()[:10]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        problems.append(f"{loc}: {err.get('msg', 'invalid')}")
    json_error = any(e.get("type") == "json_invalid" for e in exc.errors())
    if json_error:
        return error_response(400, "the request body is not valid JSON", "body", "send a JSON object")
    return error_response(422, "invalid request: " + "; ".join(problems), problems[0].split(":")[0] if problems
                          else None, "see /openapi.json for the expected shape")


def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "the server failed on this request", request.url.path,
                          "the server log has the details")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(PromptyardError, _promptyard)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
