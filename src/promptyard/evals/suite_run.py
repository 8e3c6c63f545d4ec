"""Run a whole suite: every cell, each base model loaded once, progress as events, results stored in the registry."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from promptyard.core import events
from promptyard.core.host import get_host
from promptyard.evals.cache import ResponseCache
from promptyard.evals.cells import prepare_cell
from promptyard.evals.metrics import get_metric
from promptyard.evals.modelpool import ModelPool
from promptyard.evals.results import CellResult
from promptyard.evals.runner import DEFAULT, Progress, open_cache, run_prepared
from promptyard.evals.suite import CellSpec, Suite
from promptyard.registry.evals_store import load_run, store_run
from promptyard.runtime.lineage import package_versions


@dataclass
class SuiteRun:
    """A finished suite: the stored run id (None when not stored) and each cell's result, in suite order."""

    run_id: int | None
    name: str
    results: list[CellResult]
    duration_s: float

    def to_dict(self, *, with_examples: bool = False) -> dict[str, Any]:
        return {"run_id": self.run_id, "name": self.name, "duration_s": self.duration_s,
                "cells": [r.to_dict(with_examples=with_examples) for r in self.results]}


def _cell_task(label: str) -> tuple[events.Task, Progress]:
    """A task per cell (a bar in the CLI) and the runner callback that moves it."""
    task = events.Task(label, total=None, transient=False)

    def update(done: int, total: int) -> None:
        task.update(completed=done, total=total)

    return task, update


def run_cells(cells: list[CellSpec], *, registry: Any = None, cache: ResponseCache | str | None = DEFAULT,
              pool: ModelPool | None = None) -> list[CellResult]:
    """Run cells grouped by base model (adapters switched on one loaded base); results in input order.

    Each cell reports its progress as a :class:`~promptyard.core.events.Task` named by its label.
    """

    for cell in cells:  # fail on a misspelt metric before any model is loaded
        for name in cell.metrics:
            get_metric(name)
    pool = pool or ModelPool()
    store = open_cache(cache)
    # every cell is prepared (prompts resolved, judges checked, rows rendered) before any model runs
    prepared_cells = [prepare_cell(cell, registry=registry) for cell in cells]
    order = sorted(range(len(cells)), key=lambda i: (cells[i].model, cells[i].adapter or ""))
    results: dict[int, CellResult] = {}
    for i in order:
        cell, prepared = cells[i], prepared_cells[i]
        with contextlib.ExitStack() as stack:  # the model loads only if the cache misses an example
            source = pool.source(cell.model, prepared.adapter, stack)
            task, update = _cell_task(cell.label())
            with task:
                results[i] = run_prepared(prepared, source, cache=store, progress=update, pool=pool)
    return [results[i] for i in range(len(cells))]


def run_suite(suite: Suite, *, registry: Any, cache: ResponseCache | str | None = DEFAULT,
              pool: ModelPool | None = None, store: bool = True, kind: str = "run", note: str = "") -> SuiteRun:
    """Run every cell of ``suite``; store the run (and tell ``on_eval_finished`` observers) unless told not to."""
    t0 = time.perf_counter()
    results = run_cells(suite.cells, registry=registry, cache=cache, pool=pool)
    duration = time.perf_counter() - t0
    run_id = store_suite_run(registry, suite, results, duration_s=duration, kind=kind, note=note) if store else None
    return SuiteRun(run_id, suite.name, results, duration)


def store_suite_run(registry: Any, suite: Suite, results: list[CellResult], *, duration_s: float,
                    kind: str = "run", note: str = "") -> int:
    """Store a finished run with its package versions, then tell the ``on_eval_finished`` observers; its id."""
    run_id = store_run(registry, results, name=suite.name, kind=kind, suite=suite.raw, suite_path=suite.path or "",
                       seed=suite.seed, duration_s=duration_s, note=note, packages=package_versions())
    get_host().call_observers("on_eval_finished", run=load_run(registry, run_id, with_examples=False))
    return run_id
