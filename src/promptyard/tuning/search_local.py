"""In-process search: the same :class:`SearchSpec`, its trials run one after another in this process.

For machines without Ray (``--no-ray``). Parameters are sampled from the same promptyard space (by
promptyard's own random draws, or for ``optuna`` by the Optuna study of
:mod:`promptyard.tuning.search_optuna`, asked and told here, seeded with an extension's finished trials); the
``asha`` scheduler's rule is applied as trials report (a trial stops at a rung when its metric is below the
``1 - 1/reduction_factor`` quantile of the metrics recorded at that rung so far, as Ray's ASHA does);
other schedulers run every trial to the end. The outcome is recorded exactly like a Ray search.
"""

from __future__ import annotations

import math
import random
import shutil
from typing import Any

from promptyard.core.errors import PromptyardError
from promptyard.tuning.objectives import objective_values
from promptyard.tuning.search import SearchSpec, apply_params, experiment_dir, resolve_trainer, save_spec
from promptyard.tuning.search_driver import SearchResult, finalize_records, record_start
from promptyard.tuning.search_optuna import StudyProposer
from promptyard.tuning.search_results import HISTORY_KEYS, TASK_KEY_PREFIXES, TrialRecord
from promptyard.tuning.space import sample_params

__all__ = ["AshaRule", "run_search_local", "run_trial_local", "run_trials_local", "sample_params"]


class _StopTrial(Exception):
    """Raised from the report callback to end a trial the scheduler cut."""


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

    keys = (*HISTORY_KEYS, *(o.name for o in spec.objective_list() if o.name not in HISTORY_KEYS))

    def report(metrics: dict[str, Any]) -> None:
        iteration = len(history) + 1
        history.append({**{k: metrics.get(k) for k in keys}, "training_iteration": iteration,
                        **{k: v for k, v in metrics.items() if k.startswith(TASK_KEY_PREFIXES)}})
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


def run_trials_local(spec: SearchSpec, *, start: int = 0, on_trial: Any = None) -> list[TrialRecord]:
    """Run ``spec.trials`` trials here, one after another (ids ``local_<start + i>``); the sampler is
    promptyard's random draws (a method choice too: no Optuna needed), or for ``optuna`` the Optuna study,
    seeded with ``spec.seeds``."""
    rule = AshaRule(spec) if spec.scheduler == "asha" else None
    objectives = spec.objective_list()
    study = None
    if spec.search_alg == "optuna":
        study = StudyProposer(spec.space, objectives, search_alg=spec.search_alg, seed=spec.seed + spec.extension,
                              seeds=spec.seeds or ())
    # an extension draws on from a stream of its own: the same seed would repeat the first trials
    rng = random.Random(spec.seed if not spec.extension else f"{spec.seed}-x{spec.extension}")
    records = []
    for i in range(spec.trials):
        number, params = study.ask() if study is not None else (None, sample_params(spec.space, rng))
        record = run_trial_local(spec, f"local_{start + i:05d}", params, rule)
        if study is not None:
            values = objective_values(record.history, objectives) if record.status != "error" else None
            study.tell(number, values, failed=record.status == "error")
        records.append(record)
        if on_trial is not None:
            on_trial(i, record)
    return records


def run_search_local(spec: SearchSpec, *, registry: Any | None = None, on_trial: Any = None) -> SearchResult:
    """Run every trial of ``spec`` here, one after another, and record the search like a Ray one.

    ``on_trial(index, record)`` is called after each trial (for progress displays).
    """
    record_start(spec, registry)
    save_spec(spec)  # what --extend rebuilds the search from
    return finalize_records(spec, run_trials_local(spec, on_trial=on_trial), registry)
