"""Run a whole suite: every cell, each base model loaded once, rich progress, results stored in the registry."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from promptyard.evals.cache import ResponseCache
from promptyard.evals.cells import package_versions, prepare_cell
from promptyard.evals.modelpool import ModelPool
from promptyard.evals.results import CellResult
from promptyard.evals.runner import DEFAULT, Progress, open_cache, run_prepared
from promptyard.evals.suite import CellSpec, Suite


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


@contextlib.contextmanager
def cell_progress(enabled: bool) -> Iterator[Any]:
    """A rich progress display with one bar per cell (a no-op when disabled)."""
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from promptyard.cli.output import err_console

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err_console, transient=False) as bars:
        yield bars


def _callback(bars: Any, label: str) -> Progress | None:
    if bars is None:
        return None
    task = bars.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bars.update(task, completed=done, total=total)

    return update


def run_cells(cells: list[CellSpec], *, registry: Any = None, cache: ResponseCache | str | None = DEFAULT,
              pool: ModelPool | None = None, progress: bool = False) -> list[CellResult]:
    """Run cells grouped by base model (adapters switched on one loaded base); results in input order."""
    from promptyard.evals.metrics import get_metric

    for cell in cells:  # fail on a misspelt metric before any model is loaded
        for name in cell.metrics:
            get_metric(name)
    pool = pool or ModelPool()
    store = open_cache(cache)
    order = sorted(range(len(cells)), key=lambda i: (cells[i].model, cells[i].adapter or ""))
    results: dict[int, CellResult] = {}
    with cell_progress(progress) as bars:
        for i in order:
            cell = cells[i]
            prepared = prepare_cell(cell, registry=registry)
            with pool.use(cell.model, prepared.adapter) as loaded:
                results[i] = run_prepared(prepared, loaded, cache=store, progress=_callback(bars, cell.label()))
    return [results[i] for i in range(len(cells))]


def run_suite(suite: Suite, *, registry: Any, cache: ResponseCache | str | None = DEFAULT,
              pool: ModelPool | None = None, progress: bool = False, store: bool = True,
              kind: str = "run", note: str = "") -> SuiteRun:
    """Run every cell of ``suite``; store the run (and tell ``on_eval_finished`` observers) unless told not to."""
    t0 = time.perf_counter()
    results = run_cells(suite.cells, registry=registry, cache=cache, pool=pool, progress=progress)
    duration = time.perf_counter() - t0
    run_id = None
    if store:
        from promptyard.core.host import get_host
        from promptyard.registry.evals_store import load_run, store_run

        run_id = store_run(registry, results, name=suite.name, kind=kind, suite=suite.raw,
                           suite_path=suite.path or "", seed=suite.seed, duration_s=duration, note=note,
                           packages=package_versions())
        get_host().call_observers("on_eval_finished", run=load_run(registry, run_id, with_examples=False))
    return SuiteRun(run_id, suite.name, results, duration)
