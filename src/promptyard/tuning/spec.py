"""What a training run is asked to do (a picklable :class:`TrainSpec`) and what it gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptyard.core.configs import build_config, invalid
from promptyard.core.errors import TuningError, UsageError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class TrainingSettings:
    """Knobs of the loop itself (every method has them); set with ``--set key=value``."""

    lr: float | None = field(default=None, metadata={"help": "learning rate; default: the method's own"})
    epochs: int = field(default=1, metadata={"help": "passes over the training split (>= 1)"})
    max_steps: int = field(default=0, metadata={"help": "stop after this many optimizer steps; 0 = no limit"})
    batch_size: int = field(default=8, metadata={"help": "examples per micro-batch (>= 1)"})
    grad_accum: int = field(default=1, metadata={"help": "micro-batches per optimizer step (>= 1)"})
    warmup_ratio: float = field(default=0.0, metadata={"help": "share of steps with linear warm-up, [0, 1)"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay (>= 0)"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm; 0 = off"})
    eval_every: int = field(default=50, metadata={"help": "evaluate every N optimizer steps; 0 = each epoch"})
    patience: int = field(default=3, metadata={"help": "stop after N evals without improvement; 0 = off"})
    max_length: int = field(default=256, metadata={"help": "longest training sequence in tokens (>= 8)"})
    train_sample: int = field(default=0, metadata={"help": "train on N rows of the train split; 0 = all"})
    val_sample: int = field(default=200, metadata={"help": "validate on N validation rows; 0 = all"})
    eval_batch_size: int = field(default=16, metadata={"help": "batch size for validation"})
    keep: str = field(default="best", metadata={"help": "which adapter to keep: best (by the validation "
                                                        "metric) or last"})
    precision: str = field(default="auto", metadata={"help": "auto (bf16/fp16 on GPU, fp32 on CPU), fp32, "
                                                             "bf16, fp16"})

    def __post_init__(self) -> None:
        positive = ("epochs", "batch_size", "grad_accum", "eval_batch_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise invalid("training", name, getattr(self, name), "an integer >= 1")
        for name in ("max_steps", "eval_every", "patience", "train_sample", "val_sample"):
            if getattr(self, name) < 0:
                raise invalid("training", name, getattr(self, name), "an integer >= 0")
        if self.lr is not None and not 0 < self.lr < 10:
            raise invalid("training", "lr", self.lr, "a number in (0, 10)")
        if not 0 <= self.warmup_ratio < 1:
            raise invalid("training", "warmup_ratio", self.warmup_ratio, "a number in [0, 1)")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise invalid("training", "weight_decay/max_grad_norm", (self.weight_decay, self.max_grad_norm),
                          "numbers >= 0")
        if self.max_length < 8:
            raise invalid("training", "max_length", self.max_length, "an integer >= 8")
        if self.keep not in ("best", "last"):
            raise invalid("training", "keep", self.keep, "best or last")
        if self.precision not in PRECISIONS:
            raise invalid("training", "precision", self.precision, ", ".join(PRECISIONS))


@dataclass
class TrainSpec:
    """Everything a training run needs, as plain values (so Ray can ship it to a worker)."""

    model: str
    data: str = ""  # a data set reference; unused (empty) when ``mix`` is given
    method: str = "lora"
    #: a registry reference (``name@production``), a Template, or None for the task's default prompt
    prompt: Any = None
    #: task type name; default: the prompt's task type, else classification when the data has labels
    task: str | None = None
    #: ``--set`` overrides for the method's config and the training settings, e.g. {"r": "8", "lr": "3e-4"}
    config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    data_options: dict[str, Any] = field(default_factory=dict)
    task_options: dict[str, Any] = field(default_factory=dict)
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    registry: str | None = None  # registry file, for resolving prompt references
    #: deprecated and ignored: the loop reports progress as :mod:`promptyard.core.events`, which only a
    #: listener (the CLI, unless ``--quiet``) draws; kept so that existing callers keep working
    quiet: bool = False
    run_dir: str | None = None  # where curves and checkpoints go; default: a new folder in the work dir
    #: a task mix (see :mod:`promptyard.tuning.task_mix`): several (prompt, data, task) triples tuned into
    #: one adapter with mixing weights; then ``data``, ``prompt``, ``task`` and the options above are unused
    mix: dict[str, Any] | None = None


@dataclass
class TrainResult:
    """The best adapter, the curves and everything lineage needs."""

    adapter_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    lineage: dict[str, Any]
    run_dir: Path
    curves_json: Path | None = None
    curves_png: Path | None = None


def split_overrides(method: Any, overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Route ``--set`` keys to the method's config or the training settings; unknown keys are an error."""
    import dataclasses

    method_keys = {f.name for f in dataclasses.fields(method.config_class)}
    train_keys = {f.name for f in dataclasses.fields(TrainingSettings)}
    method_part, train_part = {}, {}
    for key, value in overrides.items():
        if key in method_keys:
            method_part[key] = value
        elif key in train_keys:
            train_part[key] = value
        else:
            raise TuningError(f"unknown setting {key!r}",
                              where=f"--set {key}={value}",
                              hint=f"{method.name} settings: {', '.join(sorted(method_keys)) or 'none'}; "
                                   f"training settings: {', '.join(sorted(train_keys))}")
    return method_part, train_part


def training_settings(overrides: dict[str, Any]) -> TrainingSettings:
    class _Training:
        name = "training"
        config_class = TrainingSettings

    return build_config(_Training, overrides)


def parse_sets(pairs: list[str]) -> dict[str, str]:
    """``["lr=3e-4", "r=8"]`` -> ``{"lr": "3e-4", "r": "8"}``: ``--set`` of ``tune run`` and ``tune search``.

    Values stay text; each is converted to its setting's type (from the method's or the loop's config
    dataclass) when the run is planned, so ``3e-4``, ``true`` and ``a,b`` mean the same everywhere.
    """
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {pair!r}", where="--set",
                             hint="e.g. --set lr=3e-4 --set r=8")
        out[key.strip()] = value.strip()
    return out
