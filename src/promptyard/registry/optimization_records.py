"""Optimisation records: the only code that reads or writes ``optimizations``/``optimization_candidates``."""

from __future__ import annotations

import json
from typing import Any

from promptyard.core.errors import UnknownRefError
from promptyard.registry.tables import utcnow
from promptyard.registry.tables_optimize import Optimization, OptimizationCandidate

_HINT = "see `promptyard optimize list`"


def start_optimization(registry: Any, optimization_id: str, *, optimizer: str, prompt: str,
                       prompt_version_id: int | None, model: str, data: str, metric: str,
                       budget_calls: int | None, budget_seconds: float | None, spec: dict[str, Any]) -> None:
    """Record an optimisation as running (before its first model call)."""
    with registry.write() as s:
        s.add(Optimization(id=optimization_id, status="running", optimizer=optimizer, prompt=prompt,
                           prompt_version_id=prompt_version_id, model=model, data=data, metric=metric,
                           budget_calls=budget_calls, budget_seconds=budget_seconds,
                           spec=json.dumps(spec, default=str)))


def finish_optimization(registry: Any, optimization_id: str, candidates: list[dict[str, Any]], *,
                        status: str, calls_spent: int, test_calls: int, duration_s: float,
                        history: list[dict[str, Any]], result: dict[str, Any], best_candidate: int | None,
                        committed_version_id: int | None = None, eval_run_id: int | None = None,
                        error: str = "") -> None:
    """Write every candidate and close the optimisation, in one transaction."""
    from sqlmodel import delete

    with registry.write() as s:
        row = s.get(Optimization, optimization_id)
        if row is None:
            raise UnknownRefError(f"no optimization '{optimization_id}'", where=optimization_id, hint=_HINT)
        s.exec(delete(OptimizationCandidate).where(OptimizationCandidate.optimization_id == optimization_id))
        for c in candidates:
            s.add(OptimizationCandidate(
                optimization_id=optimization_id, number=c["number"], name=c["name"], origin=c["origin"],
                parent=c["parent"], status=c["status"], reason=c.get("reason") or "", content_hash=c["content_hash"],
                template=json.dumps(c["template"]), details=json.dumps(c["details"], default=str),
                scores=json.dumps(c["scores"], default=str), rewards=json.dumps(c["rewards"]), calls=c["calls"]))
        row.status, row.calls_spent, row.test_calls, row.duration_s = status, calls_spent, test_calls, duration_s
        row.history = json.dumps(history, default=str)
        row.result = json.dumps(result, default=str)
        row.best_candidate, row.committed_version_id = best_candidate, committed_version_id
        row.eval_run_id, row.error, row.finished_at = eval_run_id, error, utcnow()
        s.add(row)


def get_optimization(registry: Any, optimization_id: str) -> dict[str, Any]:
    """An optimisation with its candidates as plain dicts; UnknownRefError when there is none."""
    from sqlmodel import select

    with registry.session() as s:
        row = s.get(Optimization, optimization_id)
        if row is None:
            raise UnknownRefError(f"no optimization '{optimization_id}'", where=optimization_id, hint=_HINT)
        rows = s.exec(select(OptimizationCandidate).where(OptimizationCandidate.optimization_id == optimization_id)
                      .order_by(OptimizationCandidate.number)).all()
        out = _plain(row)
        for key in ("spec", "history", "result"):
            out[key] = json.loads(getattr(row, key))
        out["candidates"] = [{**c.model_dump(exclude={"id", "optimization_id"}),
                              **{k: json.loads(getattr(c, k)) for k in ("template", "details", "scores", "rewards")}}
                             for c in rows]
        return out


def list_optimizations(registry: Any, limit: int = 50) -> list[dict[str, Any]]:
    """Optimisations, newest first (without candidates)."""
    from sqlmodel import select

    with registry.session() as s:
        rows = s.exec(select(Optimization).order_by(Optimization.created_at.desc()).limit(limit)).all()
        out = []
        for r in rows:
            d = _plain(r, exclude={"spec", "history", "result"})
            result = json.loads(r.result)
            d["test"] = result.get("test")
            d["committed"] = result.get("committed")
            out.append(d)
        return out


def _plain(row: Any, exclude: set[str] | None = None) -> dict[str, Any]:
    d = row.model_dump(exclude=exclude or set())
    for key in ("created_at", "finished_at"):
        if d.get(key) is not None:
            d[key] = d[key].isoformat()
    return d
