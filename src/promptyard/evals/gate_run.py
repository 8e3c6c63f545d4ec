"""The regression gate end to end: baseline and candidate run as one stored ``gate`` run, then compared.

``eval gate`` and the quickstart's gate step both call :func:`run_gate`.
"""

from __future__ import annotations

from typing import Any

from promptyard.evals.compare import GateResult, gate
from promptyard.evals.runner import DEFAULT, open_cache
from promptyard.evals.suite import CellSpec, Suite
from promptyard.evals.suite_run import run_suite
from promptyard.registry.evals_store import load_run


def run_gate(registry: Any, baseline: CellSpec, candidate: CellSpec, *, metric: str, max_drop: float,
             baseline_name: str, candidate_name: str, seed: int = 0, cache: Any = DEFAULT) -> GateResult:
    """Run both cells (stored as a run of kind ``gate``, observers told) and gate the candidate on ``metric``.

    ``baseline_name`` / ``candidate_name`` say what is compared (a prompt reference, an adapter) in the
    run's name and its recorded suite. The result's ``run_id`` is the stored run.
    """
    suite = Suite(name=f"gate {candidate_name} vs {baseline_name}", cells=[baseline, candidate], seed=seed,
                  raw={"gate": {"candidate": candidate_name, "baseline": baseline_name, "metric": metric,
                                "max_drop": max_drop}})
    store = open_cache(cache)
    done = run_suite(suite, registry=registry, cache=store, kind="gate")
    stored = load_run(registry, done.run_id)
    result = gate(stored["cells"][0], stored["cells"][1], metric=metric, max_drop=max_drop, seed=seed, memo=store)
    result.run_id = done.run_id
    return result
