"""Store and read evaluation runs in the registry (tables in :mod:`promptyard.registry.tables_evals`)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from promptyard.core.errors import UnknownRefError


def _num(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def store_run(registry: Any, results: Sequence[Any], *, name: str, kind: str = "run",
              suite: dict[str, Any] | None = None, suite_path: str = "", seed: int = 0, duration_s: float = 0.0,
              note: str = "", packages: dict[str, str] | None = None) -> int:
    """Write a run, its cells (with lineage), examples and metrics in ONE transaction; return the run id."""
    from promptyard.registry.tables_evals import EvalCell, EvalExample, EvalMetric, EvalRun

    with registry.write() as session:
        run = EvalRun(name=name, kind=kind, suite=json.dumps(suite or {}, default=str), suite_path=suite_path,
                      seed=seed, packages=json.dumps(packages or {}), duration_s=duration_s, note=note,
                      cache_hits=sum(r.cache_hits for r in results),
                      cache_misses=sum(r.cache_misses for r in results))
        session.add(run)
        session.flush()
        for position, result in enumerate(results):
            lin = result.lineage
            adapter = lin.get("adapter") or {}
            cell = EvalCell(run_id=run.id, position=position, spec=json.dumps(result.spec.to_dict()),
                            prompt_ref=lin["prompt"]["ref"], prompt_version_id=lin["prompt"].get("version_id"),
                            prompt_hash=lin["prompt"]["hash"], adapter_ref=adapter.get("ref"),
                            adapter_version_id=adapter.get("version_id"), adapter_hash=adapter.get("hash"),
                            model_ref=lin["model"]["ref"], model_hash=lin["model"]["hash"],
                            data_ref=lin["data"]["ref"], data_fingerprint=lin["data"]["fingerprint"],
                            split=lin["data"]["split"], task=lin["task"]["name"], scoring=lin["scoring"],
                            n_examples=len(result.examples), duration_s=result.duration_s,
                            lineage=json.dumps(lin, default=str))
            session.add(cell)
            session.flush()
            session.add_all([EvalExample(cell_id=cell.id, example_index=e.index, prompt_hash=e.prompt_hash,
                                         output=e.output, prediction=e.prediction, reference=e.reference,
                                         scores=json.dumps(e.scores), latency_s=e.latency_s, tokens=e.tokens,
                                         cached=e.cached, render=json.dumps(e.render, default=str),
                                         judged=json.dumps(getattr(e, "judged", {}) or {}))
                             for e in result.examples])
            session.add_all([EvalMetric(cell_id=cell.id, name=m.name, value=_num(m.value), ci_low=_num(m.low),
                                        ci_high=_num(m.high), higher_is_better=m.higher_is_better,
                                        scores=json.dumps({k: _num(v) for k, v in m.scores.items()}))
                             for m in result.metrics])
        run_id = int(run.id)
    return run_id


def list_runs(registry: Any, *, limit: int = 50) -> list[dict[str, Any]]:
    """Newest runs first, with their cell count."""
    from sqlmodel import func, select

    from promptyard.registry.tables_evals import EvalCell, EvalRun

    with registry.session() as session:
        counts = dict(session.exec(select(EvalCell.run_id, func.count()).group_by(EvalCell.run_id)).all())
        runs = session.exec(select(EvalRun).order_by(EvalRun.id.desc()).limit(limit)).all()
        return [{"id": r.id, "name": r.name, "kind": r.kind, "created_at": r.created_at.isoformat(),
                 "cells": counts.get(r.id, 0), "duration_s": r.duration_s, "cache_hits": r.cache_hits,
                 "cache_misses": r.cache_misses, "note": r.note} for r in runs]


def load_run(registry: Any, run_id: int | str, *, with_examples: bool = True) -> dict[str, Any]:
    """One run with its cells, lineage, metrics and (optionally) per-example outputs."""
    from sqlmodel import select

    from promptyard.registry.tables_evals import EvalCell, EvalExample, EvalMetric, EvalRun

    try:
        rid = int(str(run_id).lstrip("#"))
        if not 0 < rid < 2**63:  # SQLite integers are 64-bit: a larger id cannot exist (and would overflow)
            raise ValueError
    except ValueError:
        raise UnknownRefError(f"no eval run {run_id!r}", hint="runs are numbered; see `promptyard eval list`") from None
    with registry.session() as session:
        run = session.get(EvalRun, rid)
        if run is None:
            raise UnknownRefError(f"no eval run {rid}", hint="see `promptyard eval list`")
        cells = session.exec(select(EvalCell).where(EvalCell.run_id == rid).order_by(EvalCell.position)).all()
        out_cells = []
        for cell in cells:
            metrics = session.exec(select(EvalMetric).where(EvalMetric.cell_id == cell.id)
                                   .order_by(EvalMetric.id)).all()
            entry = {"id": cell.id, "position": cell.position, "spec": json.loads(cell.spec),
                     "lineage": json.loads(cell.lineage), "n_examples": cell.n_examples,
                     "duration_s": cell.duration_s,
                     "metrics": [{"name": m.name, "value": m.value, "low": m.ci_low, "high": m.ci_high,
                                  "higher_is_better": m.higher_is_better, "scores": json.loads(m.scores)}
                                 for m in metrics]}
            if with_examples:
                rows = session.exec(select(EvalExample).where(EvalExample.cell_id == cell.id)
                                    .order_by(EvalExample.example_index)).all()
                entry["examples"] = [{"index": e.example_index, "prompt_hash": e.prompt_hash, "output": e.output,
                                      "prediction": e.prediction, "reference": e.reference,
                                      "scores": json.loads(e.scores), "latency_s": e.latency_s,
                                      "tokens": e.tokens, "cached": e.cached, "render": json.loads(e.render),
                                      "judged": json.loads(e.judged or "{}")}
                                     for e in rows]
            out_cells.append(entry)
        return {"id": run.id, "name": run.name, "kind": run.kind, "created_at": run.created_at.isoformat(),
                "suite": json.loads(run.suite), "suite_path": run.suite_path, "seed": run.seed,
                "packages": json.loads(run.packages), "duration_s": run.duration_s, "cache_hits": run.cache_hits,
                "cache_misses": run.cache_misses, "note": run.note, "cells": out_cells}


def runs_using(registry: Any, name: str, *, kind: str = "prompt", limit: int = 50) -> list[dict[str, Any]]:
    """Runs (newest first) with a cell that used a version of the prompt or adapter ``name``, each with
    ``versions``: the version numbers its cells used."""
    from sqlmodel import select

    from promptyard.registry.tables import Item, Version
    from promptyard.registry.tables_evals import EvalCell, EvalRun

    column = EvalCell.prompt_version_id if kind == "prompt" else EvalCell.adapter_version_id
    with registry.session() as session:
        rows = session.exec(select(EvalRun, Version.number).join(EvalCell, EvalCell.run_id == EvalRun.id)
                            .join(Version, Version.id == column).join(Item, Item.id == Version.item_id)
                            .where(Item.kind == kind, Item.name == name).order_by(EvalRun.id.desc())).all()
        out: dict[int, dict[str, Any]] = {}
        for run, number in rows:
            entry = out.get(run.id)
            if entry is None:
                if len(out) >= limit:
                    continue
                entry = out[run.id] = {"id": run.id, "name": run.name, "kind": run.kind,
                                       "created_at": run.created_at.isoformat(), "versions": []}
            if number not in entry["versions"]:
                entry["versions"].append(number)
        return [{**e, "versions": sorted(e["versions"])} for e in out.values()]
