"""In-process search: the same :class:`SearchSpec`, its trials run one after another in this process.

For machines without Ray (``--no-ray``). Parameters are sampled from the same promptyard space; the
``asha`` scheduler's rule is applied as trials report (a trial stops at a rung when its metric is below the
``1 - 1/reduction_factor`` quantile of the metrics recorded at that rung so far, as Ray's ASHA does);
other schedulers run every trial to the end. The outcome is recorded exactly like a Ray search.
"""

from __future__ import annotations

import math
import random
import shutil
from collections.abc import Mapping
from typing import Any

from promptyard.core.errors import PromptyardError
from promptyard.tuning.search import SearchSpec, apply_params, experiment_dir, resolve_trainer
from promptyard.tuning.search_driver import SearchResult, finalize_records, record_start
from promptyard.tuning.search_results import HISTORY_KEYS, TrialRecord


class _StopTrial(Exception):
    """Raised from the report callback to end a trial the scheduler cut."""


def sample_params(space: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    """One draw from a validated promptyard space (constants are passed through)."""
    out: dict[str, Any] = {}
    for key, value in space.items():
        if not isinstance(value, Mapping):
            out[key] = value
            continue
        (kind, args), = value.items()
        if kind == "choice":
            out[key] = rng.choice(list(args))
        elif kind == "uniform":
            out[key] = rng.uniform(args[0], args[1])
        elif kind == "loguniform":
            out[key] = math.exp(rng.uniform(math.log(args[0]), math.log(args[1])))
        elif kind == "int":
            out[key] = rng.randint(args[0], args[1])
        else:  # randint: high excluded, Ray's convention
            out[key] = rng.randrange(args[0], args[1])
    return out


class AshaRule:
    """ASHA's stopping rule over trials that run one after another."""

    def __init__(self, spec: SearchSpec):
        self.mode = spec.mode
        self.rf = spec.reduction_factor
        self.milestones = {spec.grace_period * self.rf ** k for k in range(32)
                           if spec.grace_period * self.rf ** k <= spec.max_reports}
        self.recorded: dict[int, list[float]] = {}

    def should_stop(self, iteration: int, value: float | None) -> bool:
        if iteration not in self.milestones or value is None:
            return False
        seen = self.recorded.setdefault(iteration, [])
        seen.append(float(value))
        ordered = sorted(seen)
        q = (1 - 1 / self.rf) if self.mode == "max" else 1 / self.rf
        pos = q * (len(ordered) - 1)  # linear interpolation, like numpy's percentile
        low = int(math.floor(pos))
        cutoff = ordered[low] + (ordered[min(low + 1, len(ordered) - 1)] - ordered[low]) * (pos - low)
        return value < cutoff if self.mode == "max" else value > cutoff


def _better(value: float | None, best: float | None, mode: str) -> bool:
    if value is None:
        return False
    return best is None or (value > best if mode == "max" else value < best)


def run_trial_local(spec: SearchSpec, trial_id: str, params: dict[str, Any], rule: AshaRule | None
                    ) -> TrialRecord:
    """Train one trial in this process; keep its best adapter as the trial's checkpoint."""
    trial_dir = experiment_dir(spec.search_id) / trial_id
    checkpoint = trial_dir / "checkpoint_best"
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"value": None}

    def report(metrics: dict[str, Any]) -> None:
        iteration = len(history) + 1
        history.append({**{k: metrics.get(k) for k in HISTORY_KEYS}, "training_iteration": iteration})
        value = metrics.get(spec.metric)
        if _better(value, best["value"], spec.mode) and metrics.get("adapter_dir"):
            best["value"] = float(value)
            if checkpoint.exists():
                shutil.rmtree(checkpoint)
            shutil.copytree(metrics["adapter_dir"], checkpoint)
        if rule is not None and rule.should_stop(iteration, value):
            raise _StopTrial

    trial_dir.mkdir(parents=True, exist_ok=True)
    status, error = "completed", None
    try:
        resolve_trainer(spec.trainer)(apply_params(spec.train_spec, params), report=report,
                                      checkpoint_dir=trial_dir / "train")
    except _StopTrial:
        status = "stopped"
    except PromptyardError as exc:  # a bad value in one trial fails that trial, not the search
        status, error = "error", str(exc)
    values = [h[spec.metric] for h in history if h.get(spec.metric) is not None]
    return TrialRecord(trial_id=trial_id, params=params, status=status, iterations=len(history),
                       last_metric=values[-1] if values else None, best_metric=best["value"], history=history,
                       error=error, checkpoint=str(checkpoint) if checkpoint.exists() else None)


def run_search_local(spec: SearchSpec, *, registry: Any | None = None, on_trial: Any = None) -> SearchResult:
    """Run every trial of ``spec`` here, one after another, and record the search like a Ray one.

    ``on_trial(index, record)`` is called after each trial (for progress displays).
    """
    record_start(spec, registry)
    rng = random.Random(spec.seed)
    rule = AshaRule(spec) if spec.scheduler == "asha" else None
    records = []
    for i in range(spec.trials):
        record = run_trial_local(spec, f"local_{i:05d}", sample_params(spec.space, rng), rule)
        records.append(record)
        if on_trial is not None:
            on_trial(i, record)
    return finalize_records(spec, records, registry)

