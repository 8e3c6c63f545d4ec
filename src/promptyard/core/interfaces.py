"""The contracts plugins implement: task types, tuning methods, metrics, model and data set loaders.

These are Protocols: a plugin's class need not inherit from them, only have the attributes. The
details of each (and a worked example) are in ``docs/plugins.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class Example:
    """One data row made ready for a template: the template variables and the expected target."""

    variables: dict[str, Any]
    target: Any
    choices: list[str] | None = None  # verbalised label choices, for log-likelihood scoring
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class TaskType(Protocol):
    """What a kind of task needs from templates and data, and how a model output becomes a prediction."""

    name: str
    description: str
    #: template variables every prompt for this task must accept (e.g. ``("text",)``)
    required_variables: tuple[str, ...]
    #: metric names computed when a suite names none
    default_metrics: tuple[str, ...]

    def row_to_example(self, row: Mapping[str, Any], *, options: Mapping[str, Any] | None = None) -> Example:
        """Turn one data row into template variables and a target."""
        ...


@runtime_checkable
class TuningMethod(Protocol):
    """A way to adapt a base model: a PEFT method or (full / last-N-layers) fine-tuning."""

    name: str
    description: str
    #: a dataclass whose fields carry ``metadata={"help": ...}`` and are checked in ``__post_init__``
    config_class: type
    #: model kinds it works on: ``"causal"``, ``"encoder"``
    model_kinds: tuple[str, ...]
    #: task type names it supports; ``None`` means every task type
    supported_tasks: tuple[str, ...] | None

    def default_search_space(self) -> dict[str, Any]:
        """Ray-Tune-style space, e.g. ``{"lr": {"loguniform": [1e-5, 1e-2]}, "r": {"choice": [4, 8]}}``."""
        ...

    def wrap(self, model: Any, config: Any, **context: Any) -> Any:
        """Return the trainable model (a ``PeftModel``, or ``model`` with only some parameters trainable)."""
        ...


@runtime_checkable
class Metric(Protocol):
    """A metric: predictions and references in, named scores out."""

    name: str
    higher_is_better: bool

    def compute(self, predictions: Sequence[Any], references: Sequence[Any], **kwargs: Any) -> dict[str, float]:
        """Return ``{score_name: value}``; the first key is the headline score."""
        ...


@dataclass
class LoadedModel:
    """A model and tokenizer with what lineage needs to know about them."""

    model: Any
    tokenizer: Any
    ref: str
    kind: str  # "causal" or "encoder"
    content_hash: str  # sha256 of the weight files
    path: str | None = None


@runtime_checkable
class ModelLoader(Protocol):
    """Turns a model reference (``smollm2-135m``, a local directory, a hub id) into a :class:`LoadedModel`."""

    name: str

    def can_load(self, ref: str) -> bool: ...

    def load(self, ref: str, *, kind: str = "causal", num_labels: int | None = None) -> LoadedModel: ...


@runtime_checkable
class DatasetLoader(Protocol):
    """Turns a data set reference (``rotten_tomatoes``, ``file.jsonl``, ``file.csv``) into rows."""

    name: str

    def can_load(self, ref: str) -> bool: ...

    def load(self, ref: str, **options: Any) -> Any: ...
