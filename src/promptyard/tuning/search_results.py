"""What a search produced: one record per trial, the best trial, live progress events, table rows and a plot."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from promptyard.core import events
from promptyard.tuning.objectives import Objective, objective_values, pareto_front
from promptyard.tuning.search_optuna import flat_params
from promptyard.tuning.space import METHOD

HISTORY_KEYS = ("training_iteration", "step", "epoch", "train_loss", "val_loss", "val_metric",
                "trainable_params", "adapter_bytes", "val_ms_per_row")
#: what a task mix reports per task (``val_metric/sentiment``), kept in the trial history as well
TASK_KEY_PREFIXES = ("val_metric/", "val_loss/")


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
    objectives: dict[str, float] | None = None  # each objective at the best evaluation (see tuning.objectives)
    on_front: bool = False  # on the Pareto front of the search's finished trials (several objectives)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})

    def method(self, default: str = "") -> str:
        """The tuning method of this trial: the searched one, else the search's."""
        return str(self.params.get(METHOD) or default)


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


def collect_trials(grid: Any, metric: str, mode: str, keys: tuple[str, ...] = ()) -> list[TrialRecord]:
    """Turn Tune's ResultGrid into trial records (ordered by trial id); ``keys``: reported numbers to keep
    in the history besides :data:`HISTORY_KEYS` (the objectives)."""
    records: list[TrialRecord] = []
    wanted = (*HISTORY_KEYS, *(k for k in keys if k not in HISTORY_KEYS))
    for result in grid:
        trial_id = str(result.metrics.get("trial_id") or _trial_id_from_dir(Path(result.path).name))
        history: list[dict[str, Any]] = []
        frame = result.metrics_dataframe
        if frame is not None and len(frame):
            keep = [k for k in wanted if k in frame.columns] + sorted(
                k for k in frame.columns if str(k).startswith(TASK_KEY_PREFIXES))  # a task mix's per-task keys
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
            params={k: _clean(v) for k, v in flat_params(result.config or {}).items()},
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


def mark_objectives(records: list[TrialRecord], objectives: list[Objective]) -> list[str]:
    """Set each record's objective values and front flag; the Pareto front's trial ids (several
    objectives: the finished trials no other finished trial dominates; one objective: none)."""
    points: dict[str, list[float]] = {}
    for r in records:
        values = objective_values(r.history, objectives) if r.status != "error" else None
        r.objectives = None if values is None else dict(zip([o.name for o in objectives], values, strict=True))
        if values is not None:
            points[r.trial_id] = values
    front = pareto_front(points, objectives) if len(objectives) > 1 else []
    for r in records:
        r.on_front = r.trial_id in front
    return front


def best_per_method(records: list[TrialRecord], mode: str, default_method: str = "") -> dict[str, TrialRecord]:
    """The best trial of each tuning method that has one (methods in the order they first appear)."""
    methods = list(dict.fromkeys(r.method(default_method) for r in records))
    out = {}
    for method in methods:
        best = best_trial([r for r in records if r.method(default_method) == method], mode)
        if best is not None:
            out[method] = best
    return out


def trial_rows(records: list[TrialRecord], metric: str, best_id: str | None = None,
               objectives: list[Objective] | None = None, method_best: dict[str, str] | None = None
               ) -> tuple[list[str], list[list[str]]]:
    """The trials as a table's columns and rows: params, status, evaluations, metric, error (best marked
    ``*``; the best of its method ``+``); with several objectives, their values and a ``front`` column."""
    keys = sorted({k for r in records for k in r.params}, key=lambda k: (k != METHOD, k))
    several = objectives if objectives and len(objectives) > 1 else []
    columns = ["trial", *keys, "status", "evals", f"best {metric}",
               *[o.label or o.name for o in several[1:]], *(["front"] if several else []), "error"]
    best_of_method = set((method_best or {}).values())
    rows = []
    for r in records:
        mark = " *" if r.trial_id == best_id else (" +" if r.trial_id in best_of_method else "")
        extra = [_fmt((r.objectives or {}).get(o.name)) for o in several[1:]]
        rows.append([r.trial_id + mark, *[_fmt(r.params.get(k)) for k in keys], r.status, str(r.iterations),
                     _fmt(r.best_metric), *extra, *(["yes" if r.on_front else ""] if several else []),
                     r.error or ""])
    return columns, rows


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def plot_trials(records: list[TrialRecord], metric: str, path: Path, title: str = "",
                objectives: list[Objective] | None = None) -> Path:
    """PNG of ``metric`` per trial over training steps (matplotlib Agg: no display needed); with several
    objectives a second panel shows the first two, every finished trial and the Pareto front."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    several = objectives is not None and len(objectives) > 1
    fig, axes = plt.subplots(1, 2 if several else 1, figsize=(12 if several else 7, 4.2), dpi=110,
                             squeeze=False)
    ax = axes[0][0]
    if several:
        _plot_front(axes[0][1], records, objectives)
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


def _plot_front(ax: Any, records: list[TrialRecord], objectives: list[Objective]) -> None:
    x, y = objectives[0], objectives[1]
    done = [r for r in records if r.objectives]
    for method in dict.fromkeys(r.method() for r in done):
        mine = [r for r in done if r.method() == method]
        ax.scatter([r.objectives[y.name] for r in mine], [r.objectives[x.name] for r in mine], s=18, alpha=0.6,
                   label=method or "trials")
    front = sorted((r for r in done if r.on_front), key=lambda r: r.objectives[y.name])
    if front:
        ax.plot([r.objectives[y.name] for r in front], [r.objectives[x.name] for r in front], "k-",
                marker="o", markerfacecolor="none", markersize=8, label="Pareto front")
    ax.set_xlabel(f"{y.label or y.name} ({y.mode})")
    ax.set_ylabel(f"{x.label or x.name} ({x.mode})")
    ax.set_title("objectives")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")


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
