"""What the host hands a prompt optimiser: the problem, a model-call budget, and the scores it gets back.

An optimiser (a ``register_prompt_optimizers`` plugin) never loads a model, reads data or writes the
registry. It receives an :class:`OptimizationProblem` (the starting template, a few training examples,
how many validation examples there are, a candidate pool) and a context (see
:class:`promptyard.core.protocols.OptimizerContext`) whose ``score`` runs the model for it and charges
the :class:`Budget`. The test split is never part of either: the host scores the winner on it afterwards.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.errors import PromptyardError, ValidationError

SPLITS = ("train", "validation")


class BudgetExhausted(PromptyardError):  # noqa: N818 - a signal, not a failure: the run stops with its best so far
    """The next step would spend more model calls (or seconds) than the budget has left."""


class Budget:
    """Model calls and seconds an optimisation may spend. Cache hits are free; nothing is ever overspent.

    ``charge(n)`` before making ``n`` model calls: it raises :class:`BudgetExhausted` (and charges
    nothing) when ``n`` calls would go over ``calls``, or when ``seconds`` have passed.
    """

    def __init__(self, calls: int | None = None, seconds: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic):
        if calls is not None and calls < 0:
            raise ValidationError(f"the call budget must be 0 or more, got {calls}", where="--budget-calls")
        if seconds is not None and seconds <= 0:
            raise ValidationError(f"the time budget must be positive, got {seconds}", where="--budget-seconds")
        self.calls = calls
        self.seconds = seconds
        self.spent = 0
        self._clock = clock
        self._t0 = clock()
        self.stopped_by: str | None = None  # "calls" or "seconds" once a charge was refused

    @property
    def remaining(self) -> int | None:
        return None if self.calls is None else self.calls - self.spent

    @property
    def elapsed(self) -> float:
        return self._clock() - self._t0

    def can_spend(self, n: int) -> bool:
        over_time = self.seconds is not None and self.elapsed >= self.seconds
        return not over_time and (self.calls is None or self.spent + n <= self.calls)

    def charge(self, n: int) -> None:
        if self.seconds is not None and self.elapsed >= self.seconds:
            self.stopped_by = "seconds"
            raise BudgetExhausted(f"the time budget of {self.seconds:g} s is spent")
        if self.calls is not None and self.spent + n > self.calls:
            self.stopped_by = "calls"
            raise BudgetExhausted(f"{n} more model calls would exceed the budget of {self.calls} "
                                  f"({self.spent} spent)")
        self.spent += n

    def to_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "seconds": self.seconds, "spent": self.spent,
                "elapsed_s": round(self.elapsed, 3), "stopped_by": self.stopped_by}


@dataclass
class TrainExample:
    """A training row as an optimiser sees it: template variables, the expected label/text, and the
    ``answer`` a demonstration shows after the prompt (the verbalised label, or the target text)."""

    variables: dict[str, Any]
    target: Any
    answer: str


@dataclass
class ExampleScore:
    """One scored example: its position in the split's order, the per-example metric value (the reward),
    and what the model predicted."""

    position: int
    reward: float
    prediction: str
    target: str
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass
class Candidate:
    """A prompt the optimisation considered: where it came from and every score it got.

    ``scores`` holds one entry per scoring round (split, examples, value, interval, calls spent);
    ``rewards`` the per-example rewards on the validation split, by position.
    """

    id: int
    name: str
    template: Any  # promptyard.core.template.Template
    origin: str  # start | pool | bootstrap | proposal | ...
    parent: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    status: str = "candidate"  # candidate | rejected
    reason: str = ""
    scores: list[dict[str, Any]] = field(default_factory=list)
    rewards: dict[int, float] = field(default_factory=dict)
    train_rewards: dict[int, float] = field(default_factory=dict)
    calls: int = 0

    @property
    def n(self) -> int:
        return len(self.rewards)

    def mean(self, positions: Iterable[int] | None = None) -> float:
        values = list(self.rewards.values()) if positions is None else [self.rewards[p] for p in positions]
        return sum(values) / len(values) if values else math.nan


@dataclass
class OptimizationProblem:
    """What an optimiser works on. ``n_validation`` examples can be scored (positions ``0..n-1``; prefixes
    are nested samples); ``train`` are the training examples (positions into the train split)."""

    start: Any  # the starting Template
    metric: str
    higher_is_better: bool
    task_kind: str  # classification | generation
    labels: list[str]
    train: list[TrainExample]
    n_validation: int
    pool: list[tuple[str, Any]] = field(default_factory=list)  # named candidate templates (given or generated)
    description: str = ""  # what the task is, for a proposer model
    config: Any = None  # the optimiser's config_class instance
    seed: int = 0


def posterior_mean(candidate: Candidate, prior: float, weight: float = 1.0) -> float:
    """The mean reward with ``weight`` pseudo-examples at ``prior``: a candidate seen on 2 examples
    does not beat one seen on 200 by luck."""
    total = sum(candidate.rewards.values())
    return (total + prior * weight) / (candidate.n + weight)


def best_so_far(candidates: list[Candidate], higher_is_better: bool = True) -> Candidate | None:
    """The scored candidate with the best shrunken mean validation reward (ties: the earlier one)."""
    scored = [c for c in candidates if c.status == "candidate" and c.n]
    if not scored:
        return None
    every = [r for c in scored for r in c.rewards.values()]
    prior = sum(every) / len(every)
    sign = 1.0 if higher_is_better else -1.0
    return max(scored, key=lambda c: (sign * posterior_mean(c, prior), -c.id))


def build_config(config_class: type | None, settings: dict[str, str], *, where: str = "--set") -> Any:
    """A ``config_class`` instance from ``key=value`` strings, each converted to the field's type."""
    if config_class is None:
        if settings:
            raise ValidationError(f"this optimiser takes no settings, got {', '.join(sorted(settings))}", where=where)
        return None
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    values: dict[str, Any] = {}
    for key, raw in settings.items():
        f = fields.get(key)
        if f is None:
            raise ValidationError(f"unknown setting {key!r}", where=f"{where} {key}={raw}",
                                  hint=f"settings: {', '.join(fields) or 'none'}")
        values[key] = _convert(raw, f, f"{where} {key}={raw}")
    return config_class(**values)


def _convert(raw: Any, f: dataclasses.Field, where: str) -> Any:
    if not isinstance(raw, str):
        return raw
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("bool"):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1", "yes")
    except ValueError:
        raise ValidationError(f"expected {kind.split(' ')[0]}, got {raw!r}", where=where) from None
    return raw


def config_fields(config_class: type | None) -> list[dict[str, Any]]:
    """Each setting of a config class: name, type, default and help (for ``optimize --help`` and docs)."""
    if config_class is None:
        return []
    return [{"name": f.name, "type": f.type if isinstance(f.type, str) else f.type.__name__,
             "default": f.default, "help": f.metadata.get("help", "")} for f in dataclasses.fields(config_class)]


def check_positive(config: Any, *names: str) -> None:
    """ValidationError naming the first of ``names`` whose value is below 1."""
    for name in names:
        value = getattr(config, name)
        if value < 1:
            raise ValidationError(f"{name} must be 1 or more, got {value}", where=f"--set {name}")


__all__ = ["SPLITS", "Budget", "BudgetExhausted", "Candidate", "ExampleScore", "OptimizationProblem",
           "TrainExample", "best_so_far", "build_config", "check_positive", "config_fields", "posterior_mean"]
