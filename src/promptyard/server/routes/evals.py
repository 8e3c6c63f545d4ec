"""``/api/v1/evals``: stored eval runs (metrics with their 95% intervals), per-example rows paginated,
and the comparison of two runs (deltas with intervals, paired test, flipped examples)."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

import promptyard.server.models as models
from promptyard.core.errors import UnknownRefError
from promptyard.evals.compare import compare_runs
from promptyard.registry import evals_store
from promptyard.registry.tokens import TokenInfo
from promptyard.server.auth import context, require
from promptyard.server.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/evals", tags=["evals"], responses=ERROR_RESPONSES)
Read = Depends(require("read"))
RUN_ID_MAX = 2**63 - 1  # SQLite's largest integer


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None: JSON has no such numbers (a metric over no examples)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _names(run: dict[str, Any]) -> list[str | None]:
    """The registry names a run's cells used (None for a prompt read from a file)."""
    out: list[str | None] = []
    for cell in run["cells"]:
        lineage = cell["lineage"]
        for part in (lineage.get("prompt"), lineage.get("adapter")):
            if part:
                out.append(part["resolved"].rpartition("@")[0] if part.get("version_id") else None)
    return out


def _visible(token: TokenInfo, run: dict[str, Any]) -> bool:
    """A token limited to a name pattern sees a run only if every prompt and adapter it used is visible."""
    return token.prompts is None or all(n is not None and token.allows(n) for n in _names(run))


def _load(request: Request, token: TokenInfo, run_id: int, *, examples: bool) -> dict[str, Any]:
    run = evals_store.load_run(context(request).registry(), run_id, with_examples=examples)
    if not _visible(token, run):
        raise UnknownRefError(f"no eval run {run_id}", hint="see `promptyard eval list`")
    return finite(run)


@router.get("", response_model=list[models.EvalRunSummary], summary="Eval runs, newest first")
async def list_runs(request: Request, limit: int = Query(50, ge=1, le=500), token: TokenInfo = Read) -> list:
    def work() -> list:
        reg = context(request).registry()
        runs = finite(evals_store.list_runs(reg, limit=limit))
        if token.prompts is None:
            return runs
        return [r for r in runs if _visible(token, evals_store.load_run(reg, r["id"], with_examples=False))]

    return await run_in_threadpool(work)


@router.get("/compare", response_model=models.Comparison,
            summary="Compare run b against run a, cell by cell (deltas, intervals, paired test, flips)")
async def compare(request: Request, a: int = Query(ge=1, le=RUN_ID_MAX), b: int = Query(ge=1, le=RUN_ID_MAX),
                  metric: list[str] | None = Query(None),
                  token: TokenInfo = Read) -> dict:
    def work() -> dict:
        runs = [_load(request, token, rid, examples=True) for rid in (a, b)]
        return {"comparisons": finite([c.to_dict() for c in compare_runs(*runs, metrics=metric)])}

    return await run_in_threadpool(work)


@router.get("/{run_id}", response_model=models.EvalRun, summary="One run: cells, lineage, metrics with intervals")
async def show(request: Request, run_id: int = Path(ge=1, le=RUN_ID_MAX), token: TokenInfo = Read) -> dict:
    return await run_in_threadpool(lambda: _load(request, token, run_id, examples=False))


@router.get("/{run_id}/examples", response_model=models.ExamplePage, summary="Per-example outputs of one cell")
async def examples(request: Request, run_id: int = Path(ge=1, le=RUN_ID_MAX),
                   cell: int = Query(0, ge=0, description="cell position"),
                   offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=500),
                   token: TokenInfo = Read) -> dict:
    def work() -> dict:
        run = _load(request, token, run_id, examples=True)
        if cell >= len(run["cells"]):
            raise UnknownRefError(f"eval run {run_id} has no cell {cell}",
                                  hint=f"cells 0 to {len(run['cells']) - 1}" if run["cells"] else "it has no cells")
        rows = run["cells"][cell]["examples"]
        return {"total": len(rows), "offset": offset, "limit": limit, "cell": cell,
                "examples": rows[offset:offset + limit]}

    return await run_in_threadpool(work)
