"""Promote and roll back from the prompt and adapter pages: the same label moves as the JSON API
(:func:`promptyard.server.items.move_label` and :func:`~promptyard.server.items.rollback`), after the
CSRF check, and after an explicit confirmation with a reason for a protected label."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Request
from fastapi.responses import Response

import promptyard.server.items as items
import promptyard.server.models as models
import promptyard.server.pages.web as web
from promptyard.core.errors import UsageError
from promptyard.core.refs import check_label
from promptyard.server.auth import check_visible, context


async def form_data(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only kind the pages send), last value wins."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _page_of(kind: str, name: str) -> str:
    return f"/{kind}s/{web._path(name)}"


def _version(form: dict[str, str]) -> int:
    text = form.get("version", "").strip().lstrip("v@")
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"not a version number: {form.get('version', '')!r}", where="version",
                         hint="pick a version from the list")
    return int(text)


async def move(request: Request, kind: str, name: str) -> Response:
    """POST …/-/label: point ``label`` at ``version``; protected labels first show a confirmation."""
    form = await form_data(request)
    web.check_csrf(request, form.get("csrf"))
    token = web.require_scope(request, "write")
    check_visible(token, name, kind)
    label = form.get("label", "").strip()
    check_label(label)
    number = _version(form)
    reason = form.get("reason", "").strip()
    reg = context(request).registry()
    protected = label in reg.protected_labels
    if protected and not (form.get("confirm") == "yes" and reason):
        current = reg.labels(name, kind=kind).get(label)
        return web.page(request, "confirm.html", title=f"Move {label}", kind=kind, name=name, label=label,
                        action="label", number=number, current=current, reason=reason,
                        missing_reason=form.get("confirm") == "yes" and not reason,
                        back=_page_of(kind, name))
    body = models.LabelRequest(version=number, force=protected, reason=reason)
    done = await items.move_label(request, token, name, label, body, kind)
    return _done(request, kind, name, done)


async def rollback(request: Request, kind: str, name: str) -> Response:
    """POST …/-/rollback: move ``label`` back to the version it pointed at before."""
    form = await form_data(request)
    web.check_csrf(request, form.get("csrf"))
    token = web.require_scope(request, "write")
    check_visible(token, name, kind)
    label = form.get("label", "").strip()
    check_label(label)
    reason = form.get("reason", "").strip()
    reg = context(request).registry()
    if label in reg.protected_labels and not (form.get("confirm") == "yes" and reason):
        current = reg.labels(name, kind=kind).get(label)
        # where Registry.rollback goes: the version before the last move (not a rollback) onto the current one
        back = next((m.from_number for m in reversed(reg.label_history(name, label, kind=kind))
                     if m.to_number == current and m.action != "rollback"), None)
        return web.page(request, "confirm.html", title=f"Roll back {label}", kind=kind, name=name, label=label,
                        action="rollback", number=back, current=current, reason=reason,
                        missing_reason=form.get("confirm") == "yes" and not reason, back=_page_of(kind, name))
    done = await items.rollback(request, token, name, models.RollbackRequest(label=label, reason=reason), kind)
    return _done(request, kind, name, done)


def _done(request: Request, kind: str, name: str, done: dict[str, Any]) -> Response:
    note = {"moved": done["label"], "from": "" if done["from_number"] is None else done["from_number"],
            "to": done["to_number"], "changed": "1" if done.get("moved") else "0"}
    return web.redirect(request, f"{_page_of(kind, name)}?{urlencode(note)}#history")
