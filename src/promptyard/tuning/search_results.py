"""What a search produced: one record per trial, the best trial, live progress events, table rows and a plot."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from promptyard.core import events

HISTORY_KEYS = ("training_iteration", "step", "epoch", "train_loss", "val_loss", "val_metric")


@dataclass
class TrialRecord:
    """One trial as the driver records it: its parameters, status, metrics over time and error."""

    trial_id: str
    params: dict[str, Any]
    status: str  # completed | stopped (early, by the scheduler) | error
    iterations: int = 0
    last_metric: float | None = None
    best_metric: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    checkpoint: str | None = None  # directory of this trial's best adapter checkpoint
    path: str | None = None  # the trial's folder in Tune's storage

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars from the metrics dataframe
        return value.item()
    return value


def _error_text(error: BaseException) -> str:
    """The user's error in one line: Ray wraps it (RayTaskError) with a long remote traceback."""
    cause = getattr(error, "cause", None) or error.__cause__ or error
    text = f"{type(cause).__name__}: {cause}"
    return text.strip().splitlines()[-1] if "Traceback" in text else " ".join(text.split())[:500]


def _trial_id_from_dir(name: str) -> str:
    """``run_trial_6fc9c_00002_2_act=...`` -> ``6fc9c_00002`` (a trial that failed before reporting)."""
    parts = name.split("_")
    return "_".join(parts[2:4]) if len(parts) >= 4 else name


def collect_trials(grid: Any, metric: str, mode: str) -> list[TrialRecord]:
    """Turn Tune's ResultGrid into trial records (ordered by trial id)."""
    records: list[TrialRecord] = []
    for result in grid:
        trial_id = str(result.metrics.get("trial_id") or _trial_id_from_dir(Path(result.path).name))
        history: list[dict[str, Any]] = []
        frame = result.metrics_dataframe
        if frame is not None and len(frame):
            keep = [k for k in HISTORY_KEYS if k in frame.columns]
            history = [{k: _clean(v) for k, v in row.items()} for row in frame[keep].to_dict("records")]
        values = [h[metric] for h in history if h.get(metric) is not None]
        best = (max(values) if mode == "max" else min(values)) if values else None
        best_ckpt = None
        scored = [(c, m) for c, m in (result.best_checkpoints or []) if m.get(metric) is not None]
        if scored:
            pick = max if mode == "max" else min
            best_ckpt = pick(scored, key=lambda cm: cm[1][metric])[0].path
        records.append(TrialRecord(
            trial_id=trial_id,
            params={k: _clean(v) for k, v in (result.config or {}).items()},
            status="error" if result.error else "completed",
            iterations=int(result.metrics.get("training_iteration") or len(history)),
            last_metric=values[-1] if values else None, best_metric=best, history=history,
            error=_error_text(result.error) if result.error else None, checkpoint=best_ckpt,
            path=str(result.path)))
    # A trial that reported fewer evaluations than the longest one was cut short by the scheduler.
    longest = max((r.iterations for r in records if r.status != "error"), default=0)
    for r in records:
        if r.status == "completed" and r.iterations < longest:
            r.status = "stopped"
    return sorted(records, key=lambda r: r.trial_id)


def best_trial(records: list[TrialRecord], mode: str) -> TrialRecord | None:
    """The trial with the best metric at any evaluation that has a checkpoint (ties: lowest trial id)."""
    candidates = [r for r in records if r.best_metric is not None and r.checkpoint]
    if not candidates:
        return None
    sign = -1.0 if mode == "max" else 1.0
    return min(candidates, key=lambda r: (sign * r.best_metric, r.trial_id))


def trial_rows(records: list[TrialRecord], metric: str, best_id: str | None = None
               ) -> tuple[list[str], list[list[str]]]:
    """The trials as a table's columns and rows: params, status, evaluations, metric, error (best marked ``*``)."""
    keys = sorted({k for r in records for k in r.params})
    columns = ["trial", *keys, "status", "evals", f"best {metric}", "error"]
    rows = []
    for r in records:
        mark = " *" if r.trial_id == best_id else ""
        rows.append([r.trial_id + mark, *[_fmt(r.params.get(k)) for k in keys], r.status, str(r.iterations),
                     _fmt(r.best_metric), r.error or ""])
    return columns, rows


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def plot_trials(records: list[TrialRecord], metric: str, path: Path, title: str = "") -> Path:
    """PNG of ``metric`` per trial over training steps (matplotlib Agg: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for r in records:
        points = [(h.get("step") or h.get("training_iteration"), h.get(metric)) for h in r.history]
        points = [(x, y) for x, y in points if x is not None and y is not None]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        style = "-" if r.status == "completed" else "--"
        ax.plot(xs, ys, style, marker="o", markersize=3, label=f"{r.trial_id} ({r.status})")
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} per trial")
    ax.grid(alpha=0.3)
    if len(records) <= 16:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def progress_callback(total: int, metric: str, mode: str) -> Any:
    """A Tune callback (driver side) that reports the search as one :class:`~promptyard.core.events.Task`:
    trials done out of ``total``, with running / terminated / errored counts and the best metric so far."""
    from ray.tune import Callback

    class SearchProgress(Callback):
        def __init__(self) -> None:
            self.task: events.Task | None = None
            self.done: set[str] = set()
            self.errored: set[str] = set()
            self.running: set[str] = set()
            self.best: float | None = None

        def __getstate__(self) -> dict[str, Any]:
            # Tune pickles its callbacks with the experiment state; the task belongs to this process
            return {**self.__dict__, "task": None}

        def _refresh(self) -> None:
            if self.task is None:
                self.task = events.Task("search", total=total)
            best = "-" if self.best is None else f"{self.best:.4g}"
            self.task.update(completed=len(self.done) + len(self.errored), running=len(self.running),
                             terminated=len(self.done), errored=len(self.errored), **{f"best {metric}": best})

        def on_trial_start(self, iteration, trials, trial, **info):
            self.running.add(trial.trial_id)
            self._refresh()

        def on_trial_result(self, iteration, trials, trial, result, **info):
            value = result.get(metric)
            if value is not None and (self.best is None or (value > self.best if mode == "max"
                                                            else value < self.best)):
                self.best = float(value)
            self._refresh()

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.running.discard(trial.trial_id)
            self.done.add(trial.trial_id)
            self._refresh()

        def on_trial_error(self, iteration, trials, trial, **info):
            self.running.discard(trial.trial_id)
            self.errored.add(trial.trial_id)
            self._refresh()

        def on_experiment_end(self, trials, **info):
            if self.task is not None:
                self.task.close()

    return SearchProgress()
