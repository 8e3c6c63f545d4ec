"""Search objectives: ``--objective accuracy --objective -trainable_params``, their values per trial, the
Pareto front of the finished trials, and the best trial of each method.

An objective is a number every evaluation reports. ``-name`` minimises it, ``+name`` (or a bare name)
maximises it, except that a bare loss (``val_loss``; ``val_metric`` of a generation task) is minimised.
The first objective is the primary one: schedulers (ASHA) stop trials by it and the best trial is chosen
by it. A trial's values are read from its evaluation with the best primary value (the checkpoint that is
kept), so every point of the front is an adapter that exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from promptyard.core.errors import UsageError

#: what the training loop reports at every evaluation (``promptyard.tuning.loop.train``)
LOOP_REPORTS = ("val_metric", "val_loss", "train_loss", "step", "epoch", "tokens_per_s", "trainable_params",
                "adapter_bytes", "val_ms_per_row")
#: friendlier names for reported numbers
ALIASES = {"accuracy": "val_metric", "adapter_size": "adapter_bytes", "size": "adapter_bytes",
           "latency": "val_ms_per_row", "latency_ms": "val_ms_per_row", "params": "trainable_params"}


@dataclass(frozen=True)
class Objective:
    """One reported number and whether larger (``max``) or smaller (``min``) is better."""

    name: str
    mode: str
    label: str = ""  # as the user wrote it (``accuracy``), for tables

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "mode": self.mode, "label": self.label or self.name}

    def better(self, a: float, b: float) -> bool:
        return a > b if self.mode == "max" else a < b


def parse_objectives(texts: Sequence[str], *, default_mode: Callable[[str], str], classification: bool | None,
                     reported: Sequence[str] | None = LOOP_REPORTS) -> list[Objective]:
    """``["accuracy", "-trainable_params"]`` -> objectives; UsageError naming ``--objective`` for a name
    nobody reports (``reported=None``: a trainer of its own, whose reports are not known in advance)."""
    out: list[Objective] = []
    for text in texts:
        raw = str(text).strip()
        sign, name = (raw[0], raw[1:].strip()) if raw[:1] in "+-" else ("", raw)
        if not name:
            raise UsageError(f"empty objective {text!r}", where="--objective",
                             hint="e.g. --objective accuracy --objective -trainable_params")
        if name == "accuracy" and classification is False:
            raise UsageError("this task reports no accuracy: its val_metric is the validation loss",
                             where="--objective", hint="use -val_loss")
        metric = ALIASES.get(name, name)
        if reported is not None and metric not in reported:
            raise UsageError(f"objective '{name}' is not reported by the training loop", where="--objective",
                             hint=f"reported: {', '.join([*reported, *ALIASES])}")
        mode = {"-": "min", "+": "max"}.get(sign) or default_mode(metric)
        if any(o.name == metric for o in out):
            raise UsageError(f"objective '{name}' is given twice", where="--objective")
        out.append(Objective(metric, mode, raw))
    return out


def objective_values(history: Sequence[dict[str, Any]], objectives: Sequence[Objective]
                     ) -> list[float] | None:
    """The objectives at the evaluation with the best primary value (the first such one); None when no
    evaluation reported all of them."""
    primary = objectives[0]
    best: dict[str, Any] | None = None
    for entry in history:
        value = entry.get(primary.name)
        if value is None or any(entry.get(o.name) is None for o in objectives):
            continue
        if best is None or primary.better(float(value), float(best[primary.name])):
            best = entry
    return None if best is None else [float(best[o.name]) for o in objectives]


def dominates(a: Sequence[float], b: Sequence[float], objectives: Sequence[Objective]) -> bool:
    """``a`` is at least as good as ``b`` in every objective and better in one."""
    at_least = all(not o.better(y, x) for o, x, y in zip(objectives, a, b, strict=True))
    return at_least and any(o.better(x, y) for o, x, y in zip(objectives, a, b, strict=True))


def pareto_front(points: dict[str, Sequence[float]], objectives: Sequence[Objective]) -> list[str]:
    """The ids whose point no other point dominates (equal points are all on the front), in id order."""
    return sorted(i for i, p in points.items()
                  if not any(dominates(q, p, objectives) for j, q in points.items() if j != i))
