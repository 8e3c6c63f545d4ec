"""The eval pages: runs newest first; one run (metric table with 95% intervals, charts, lineage, the
per-example outputs filtered to wrong ones or one label); and the comparison of two runs, computed by
:func:`promptyard.evals.compare.compare_runs` exactly as ``promptyard eval compare --json`` computes it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

import promptyard.server.pages.charts as charts
import promptyard.server.pages.web as web
from promptyard.core.errors import UnknownRefError, UsageError
from promptyard.evals.compare import compare_cells, compare_runs
from promptyard.registry import evals_store
from promptyard.registry.tokens import TokenInfo
from promptyard.server.auth import context
from promptyard.server.routes.evals import _visible

router = APIRouter(route_class=web.PageRoute, include_in_schema=False)
EXAMPLES_PER_PAGE = 50


def _load(request: Request, token: TokenInfo, run_id: Any, *, examples: bool) -> dict[str, Any]:
    run = evals_store.load_run(context(request).registry(), run_id, with_examples=examples)
    if not _visible(token, run):
        raise UnknownRefError(f"no eval run {run_id}", hint="see `promptyard eval list`")
    return run


def cell_name(cell: dict[str, Any]) -> str:
    lin = cell["lineage"]
    adapter = f" + {lin['adapter']['resolved']}" if lin.get("adapter") else ""
    return f"{lin['prompt']['resolved'] or lin['prompt']['ref']} | {lin['model']['ref']}{adapter}"


def ref_url(part: dict[str, Any] | None, kind: str) -> str | None:
    """The page of the registry version a cell used (None for a file or a plain model)."""
    if not part or not part.get("version_id") or not part.get("resolved"):
        return None
    name, _, number = part["resolved"].rpartition("@")
    suffix = "/-/template" if kind == "prompt" else ""
    return f"/{kind}s/{web._path(name)}{suffix}?v={number}"


@router.get("/evals")
async def list_page(request: Request) -> Response:
    token = web.signed_in(request)

    def work() -> list[dict[str, Any]]:
        reg = context(request).registry()
        runs = evals_store.list_runs(reg, limit=200)
        if token.prompts is None:
            return runs
        return [r for r in runs if _visible(token, evals_store.load_run(reg, r["id"], with_examples=False))]

    runs = await run_in_threadpool(work)
    return web.page(request, "evals.html", section="evals", title="Eval runs", runs=runs)


@router.get("/evals/compare")
async def compare_page(request: Request) -> Response:
    token = web.signed_in(request)
    query = request.query_params
    a, b = query.get("a", ""), query.get("b", "")
    if not (a.strip().lstrip("#").isdigit() and b.strip().lstrip("#").isdigit()):
        raise UsageError("give two run numbers, a and b", where="a, b", hint="e.g. /evals/compare?a=1&b=2")
    cells = query.get("ca", ""), query.get("cb", "")
    if any(cells) and not all(c.isdigit() for c in cells):
        raise UsageError("give both cell positions, ca and cb", where="ca, cb", hint="e.g. ca=0&cb=3")

    def work() -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
        run_a, run_b = (_load(request, token, rid, examples=True) for rid in (a, b))
        if not any(cells):  # cell by cell, as `promptyard eval compare A B` pairs them
            return run_a, run_b, compare_runs(run_a, run_b)
        picked = []
        for run, position in ((run_a, int(cells[0])), (run_b, int(cells[1]))):
            if position >= len(run["cells"]):
                raise UnknownRefError(f"eval run {run['id']} has no cell {position}",
                                      hint=f"cells 0 to {len(run['cells']) - 1}")
            picked.append(run["cells"][position])
        return run_a, run_b, [compare_cells(*picked)]  # as `eval compare REF_A REF_B` compares its two cells

    run_a, run_b, comparisons = await run_in_threadpool(work)
    return web.page(request, "compare.html", section="evals", title=f"Compare run {a} and run {b}", run_a=run_a,
                    run_b=run_b, comparisons=comparisons, cells=cells if any(cells) else None)


@router.get("/evals/{run_id}")
async def run_page(request: Request, run_id: str) -> Response:
    token = web.signed_in(request)
    query = request.query_params
    run = await run_in_threadpool(lambda: _load(request, token, run_id, examples=True))
    names = list(dict.fromkeys(m["name"] for c in run["cells"] for m in c["metrics"]))
    chart_list = [charts.bars(f"{name} (95% interval)",
                              [(f"#{c['position']}", m["value"], m["low"], m["high"]) for c in run["cells"]
                               for m in c["metrics"] if m["name"] == name]) for name in names]
    cells = run["cells"]
    position = query.get("cell", "0")
    cell = next((c for c in cells if str(c["position"]) == position), cells[0] if cells else None)
    wrong, label = query.get("wrong") == "1", query.get("label", "")
    rows: list[dict[str, Any]] = []
    labels: list[str] = []
    total = page_number = pages = 0
    if cell is not None:
        examples = cell["examples"]
        labels = sorted({e["reference"] for e in examples})
        rows = [e for e in examples if (not wrong or e["prediction"] != e["reference"])
                and (not label or e["reference"] == label)]
        total = len(rows)
        pages = max((total + EXAMPLES_PER_PAGE - 1) // EXAMPLES_PER_PAGE, 1)
        try:
            page_number = min(max(int(query.get("page", "1")), 1), pages)
        except ValueError:
            page_number = 1
        rows = rows[(page_number - 1) * EXAMPLES_PER_PAGE:page_number * EXAMPLES_PER_PAGE]
    base = {k: v for k, v in query.items() if k != "page" and v}
    links = [(n, web.urlencode({**base, "page": n})) for n in range(1, pages + 1)]
    others = [r for r in evals_store.list_runs(context(request).registry(), limit=50) if r["id"] != run["id"]]
    return web.page(request, "eval.html", section="evals", title=f"Eval run {run['id']}", run=run, names=names,
                    charts=chart_list, cell=cell, rows=rows, labels=labels, wrong=wrong, label=label, total=total,
                    page=page_number, pages=pages, links=links, cell_name=cell_name, ref_url=ref_url,
                    others=others)
