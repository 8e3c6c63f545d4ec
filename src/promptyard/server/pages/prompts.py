"""The prompts pages: the list (search, filters, sort, pages), and one prompt's overview (labels, versions
timeline, label history, eval runs), template of a version, diff of two versions, render playground."""

from __future__ import annotations

import json
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

import promptyard.server.pages.labels as labels
import promptyard.server.pages.snapshot as snapshot
import promptyard.server.pages.web as web
from promptyard.core.errors import PromptyardError, RenderError, UsageError
from promptyard.core.records import ItemInfo, VersionInfo
from promptyard.core.render import render as render_template
from promptyard.registry import evals_store
from promptyard.registry.history import contract_lines
from promptyard.registry.tokens import TokenInfo
from promptyard.server.auth import check_visible, context
from promptyard.server.context import ServerContext
from promptyard.server.pages.diffview import side_by_side

router = APIRouter(route_class=web.PageRoute, include_in_schema=False)
KIND = "prompt"
PER_PAGE = 50
VERSIONS_PER_PAGE = 50
SORTS = {"name": "name", "changed": "last change", "latest": "most versions", "created": "created"}


def _int(value: str | None, default: int, low: int = 1) -> int:
    try:
        return max(int(value or default), low)
    except ValueError:
        return default


def filtered(ctx: ServerContext, token: TokenInfo, kind: str, query: dict[str, str]) -> dict[str, Any]:
    """The list page's rows: ``Registry.list`` with the filters, sorted and cut into pages."""
    reg = ctx.registry()
    archived = query.get("archived") == "1"

    def listed(**filters: Any) -> list[ItemInfo]:
        key = ("list", kind, archived, tuple(sorted(filters.items())))
        return snapshot.cached(ctx, key, lambda: reg.list(kind=kind, archived=archived, **filters))

    visible = [i for i in listed() if token.allows(i.name)]
    options = {"tag": sorted({t for i in visible for t in i.tags}),
               "kind": sorted({i.template_kind for i in visible if i.template_kind}),
               "task_type": sorted({i.task_type for i in visible if i.task_type}),
               "label": sorted({label for i in visible for label in i.labels})}
    q = query.get("q", "").strip()
    chosen = {key: query.get(key, "") for key in options}
    rows = visible
    if q or any(chosen.values()):
        rows = [i for i in listed(pattern=q or None, tag=chosen["tag"] or None, template_kind=chosen["kind"] or None,
                                  task_type=chosen["task_type"] or None, label=chosen["label"] or None)
                if token.allows(i.name)]
    sort = query.get("sort") if query.get("sort") in SORTS else "name"
    # every item's last change only to sort by it; otherwise just those of the page shown
    changed = snapshot.cached(ctx, ("changed", kind), lambda: reg.last_changes(kind=kind)) if sort == "changed" \
        else {}
    keys = {"name": lambda i: i.name, "changed": lambda i: changed.get(i.name, i.created_at),
            "latest": lambda i: i.latest or 0, "created": lambda i: i.created_at}
    rows = sorted(rows, key=keys[sort], reverse=sort != "name")
    pages = max((len(rows) + PER_PAGE - 1) // PER_PAGE, 1)
    number = min(_int(query.get("page"), 1), pages)
    shown = rows[(number - 1) * PER_PAGE:number * PER_PAGE]
    if sort != "changed":
        changed = reg.last_changes([i.name for i in shown], kind=kind)
    return {"rows": [(i, changed.get(i.name, i.created_at)) for i in shown], "total": len(rows), "page": number,
            "pages": pages, "options": options, "chosen": chosen, "q": q, "sort": sort, "sorts": SORTS,
            "archived": archived, "protected": reg.protected_labels}


def page_links(query: dict[str, str], pages: int) -> list[tuple[int, str]]:
    """(page number, query string) for the pager, keeping the other parameters."""
    base = {k: v for k, v in query.items() if k != "page" and v}
    return [(n, web.urlencode({**base, "page": n})) for n in range(1, pages + 1)]


@router.get("/")
async def list_page(request: Request) -> Response:
    token = web.signed_in(request)
    query = dict(request.query_params)
    data = filtered(context(request), token, KIND, query)
    return web.page(request, "prompts.html", section="prompts", title="Prompts", links=page_links(query, data["pages"]),
                    **data)


# ---------------------------------------------------------------- one prompt
def header(ctx: ServerContext, token: TokenInfo, name: str, kind: str) -> dict[str, Any]:
    """What every tab of an item shows on top: the item, its versions, labels and protected labels."""
    check_visible(token, name, kind)
    reg = ctx.registry()
    item: ItemInfo = snapshot.cached(ctx, ("item", kind, name), lambda: reg.item(name, kind=kind))
    versions = snapshot.cached(ctx, ("versions", kind, name), lambda: reg.versions(name, kind=kind))
    by_number: dict[int, list[str]] = {}
    for label, number in sorted(item.labels.items()):
        by_number.setdefault(number, []).append(label)
    protected = reg.protected_labels
    movable = sorted(set(item.labels) | {"staging", "production", *protected})
    if not web.can(token, "admin"):
        movable = [label for label in movable if label not in protected]
    return {"item": item, "name": name, "versions": versions, "by_number": by_number, "protected": protected,
            "movable": movable, "kind": kind, "numbers": [v.number for v in versions]}


def _pick(versions: list[VersionInfo], value: str | None, default: int | None = None) -> VersionInfo:
    if not versions:
        raise UsageError("this item has no versions yet")
    text = (value or "").strip().lstrip("v@")
    if not text:
        return next((v for v in versions if v.number == default), versions[-1])
    found = next((v for v in versions if text.isdigit() and v.number == int(text)), None)
    if found is None:
        raise UsageError(f"no version {value!r}", where="version", hint=f"versions 1 to {versions[-1].number}")
    return found


def overview(request: Request, kind: str, name: str, template: str, **extra: Any) -> Response:
    token = web.signed_in(request)
    ctx = context(request)
    reg = ctx.registry()
    head = header(ctx, token, name, kind)
    versions = head["versions"]
    query = dict(request.query_params)
    pages = max((len(versions) + VERSIONS_PER_PAGE - 1) // VERSIONS_PER_PAGE, 1)
    number = min(_int(query.get("page"), 1), pages)
    newest_first = versions[::-1][(number - 1) * VERSIONS_PER_PAGE:number * VERSIONS_PER_PAGE]
    history = snapshot.cached(ctx, ("history", kind, name), lambda: reg.label_history(name, kind=kind)[::-1])
    runs = snapshot.cached(ctx, ("runs", kind, name), lambda: evals_store.runs_using(reg, name, kind=kind, limit=20))
    flash = None
    if "moved" in query:
        flash = {"label": query.get("moved"), "from": query.get("from") or "none", "to": query.get("to"),
                 "changed": query.get("changed") == "1"}
    return web.page(request, template, section=f"{kind}s", title=name, tab="overview", timeline=newest_first,
                    history=history, runs=runs, flash=flash, vpage=number, vpages=pages,
                    vlinks=page_links(query, pages), **head, **extra)


@router.post("/prompts/{name:path}/-/label")
async def move_label(request: Request, name: str) -> Response:
    return await labels.move(request, KIND, name)


@router.post("/prompts/{name:path}/-/rollback")
async def rollback(request: Request, name: str) -> Response:
    return await labels.rollback(request, KIND, name)


@router.get("/prompts/{name:path}/-/template")
async def template_page(request: Request, name: str) -> Response:
    token = web.signed_in(request)
    head = header(context(request), token, name, KIND)
    version = _pick(head["versions"], request.query_params.get("v"))
    tpl = version.template
    return web.page(request, "prompt_template.html", section="prompts", title=f"{name}@{version.number}",
                    tab="template", version=version, tpl=tpl,
                    schema=json.dumps(tpl.output_schema, indent=2, sort_keys=True) if tpl.output_schema else None,
                    examples=json.dumps(tpl.examples, indent=2, ensure_ascii=False) if tpl.examples else None,
                    **head)


@router.get("/prompts/{name:path}/-/diff")
async def diff_page(request: Request, name: str) -> Response:
    token = web.signed_in(request)
    reg = context(request).registry()
    head = header(context(request), token, name, KIND)
    versions = head["versions"]
    b = _pick(versions, request.query_params.get("b"))
    a = _pick(versions, request.query_params.get("a"), default=max(b.number - 1, 1))
    diff = reg.diff(a.ref, b.ref)
    return web.page(request, "prompt_diff.html", section="prompts", title=f"{name}: diff", tab="diff", a=a, b=b,
                    diff=diff, text_rows=side_by_side(diff["text"]), contract_rows=side_by_side(diff["contract"]),
                    contract_a=contract_lines(a.contract), **head)


def coerce(value: str, vtype: str | None) -> Any:
    """A form field as the contract's type: JSON for non-strings, as the CLI's ``-v key=value`` does."""
    if vtype in ("int", "float", "bool", "list", "dict"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value  # the renderer reports the wrong type with the variable's name
    return value


async def _render(request: Request, version: VersionInfo, variables: dict[str, Any], seed: int | None) -> Any:
    """Render as ``POST /api/v1/prompts/{ref}/-/render`` does: the same template cache, sandbox limits
    (``serve --render-timeout``) and error location (the CLI's too), so the page shows the CLI's error line."""
    ctx = context(request)
    template = ctx.template(version)
    limits = ctx.render_limits
    try:
        # the sandbox stops the render at its deadline; this outer bound only guards the worker pool
        with anyio.fail_after(limits.deadline_s + 1.0):
            return await anyio.to_thread.run_sync(
                lambda: render_template(template, variables, seed=seed, limits=limits), abandon_on_cancel=True)
    except TimeoutError:
        raise RenderError(f"rendering took longer than {limits.deadline_s:g} s", where=version.ref,
                          hint="the server bounds render time (serve --render-timeout)") from None
    except RenderError as exc:
        exc.where = f"{version.ref}: {exc.where}" if exc.where else version.ref
        raise


@router.get("/prompts/{name:path}/-/play")
@router.post("/prompts/{name:path}/-/play")
async def play_page(request: Request, name: str) -> Response:
    token = web.signed_in(request)
    head = header(context(request), token, name, KIND)
    form = await labels.form_data(request) if request.method == "POST" else {}
    version = _pick(head["versions"], form.get("v") or request.query_params.get("v"))
    contract = version.contract
    values = {v["name"]: form.get(f"var.{v['name']}", "") for v in contract}
    rendered = error = None
    if request.method == "POST":
        web.check_csrf(request, form.get("csrf"))
        # an empty field is a variable not given: the contract's default, or the CLI's "missing" error
        variables = {v["name"]: coerce(form[f"var.{v['name']}"], v.get("type")) for v in contract
                     if form.get(f"var.{v['name']}", "") != ""}
        seed_text = form.get("seed", "").strip()
        try:
            if seed_text and not seed_text.lstrip("-").isdigit():
                raise UsageError(f"seed must be a whole number, got {seed_text!r}", where="seed")
            rendered = await _render(request, version, variables, int(seed_text) if seed_text else None)
        except PromptyardError as exc:
            error = exc
    cli_line = f"error: {' '.join(str(error).split())}" if error is not None else None
    return web.page(request, "prompt_play.html", section="prompts", title=f"{name}: playground", tab="play",
                    version=version, contract=contract, values=values, rendered=rendered, error=error,
                    cli_line=cli_line, seed=form.get("seed", ""), **head)


@router.get("/prompts/{name:path}")
async def prompt_page(request: Request, name: str) -> Response:
    return overview(request, KIND, name, "prompt.html")
