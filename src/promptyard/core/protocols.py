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

    #: the values the prompt template is rendered with
    variables: dict[str, Any]
    #: the reference a metric compares the prediction with (a label, a text); ``None`` if the row has none
    target: Any
    #: verbalised label choices (``["negative", "positive"]``) for ``kind == "classification"`` tasks:
    #: each is scored as a continuation of the rendered prompt by log-likelihood, or is one class of an
    #: encoder's classification head (same order)
    choices: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class TaskType(Protocol):
    """What a kind of task needs from templates and data, and how a model output becomes a prediction."""

    #: the key in the ``task_types`` table and a prompt's ``task_type`` (``sentiment``)
    name: str
    #: one line for ``plugins list`` and the docs
    description: str
    #: template variables every prompt for this task must accept (e.g. ``("text",)``)
    required_variables: tuple[str, ...]
    #: metric names computed when a suite names none; the first is the headline metric
    default_metrics: tuple[str, ...]
    #: how predictions are made: ``"classification"`` (score each of ``Example.choices`` by
    #: log-likelihood, or by a classification head for encoders, and take the best) or
    #: ``"generation"`` (generate text; the loss falls on the target's tokens, the prompt's are masked)
    kind: str
    #: bump when ``row_to_example`` or ``predict`` change behaviour: it is part of the eval cache key
    version: str

    def row_to_example(self, row: Mapping[str, Any], *, options: Mapping[str, Any] | None = None) -> Example:
        """Turn one data row into template variables and a target.

        ``options`` carries the run's configuration (``labels``, ``verbalizers``, extra ``variables``);
        raise :class:`~promptyard.core.errors.DataError` naming a missing or bad field.
        """
        ...

    def predict(self, output: Any, options: Mapping[str, Any] | None = None) -> Any:
        """Turn a model output into a prediction comparable with ``Example.target``.

        ``output`` is a list of floats, one per ``Example.choices`` (log-likelihoods or logits), for
        ``kind == "classification"``, and the generated text for ``kind == "generation"``.
        """
        ...


@runtime_checkable
class TuningMethod(Protocol):
    """A way to adapt a base model: a PEFT method or (full / last-N-layers) fine-tuning."""

    #: the key in the ``tuning_methods`` table and the ``--method`` value (``lora``)
    name: str
    description: str
    #: a dataclass whose fields all have defaults and carry ``metadata={"help": ...}``; its
    #: ``__post_init__`` raises :class:`~promptyard.core.errors.ValidationError` naming a bad field
    config_class: type
    #: model kinds it works on: ``"causal"``, ``"encoder"``
    model_kinds: tuple[str, ...]
    #: task type names it supports; ``None`` means every task type
    supported_tasks: tuple[str, ...] | None

    def default_search_space(self) -> dict[str, Any]:
        """The space searched when the user gives none; keys are ``config_class`` field names.

        Ray-Tune-style: ``{"lr": {"loguniform": [1e-5, 1e-2]}, "r": {"choice": [4, 8]},
        "dropout": {"uniform": [0.0, 0.2]}, "num_virtual_tokens": {"randint": [4, 33]}}``.
        """
        ...

    def wrap(self, model: Any, config: Any, **context: Any) -> Any:
        """Return the trainable model (a ``PeftModel``, or ``model`` with only some parameters trainable).

        ``config`` is a ``config_class`` instance. ``context`` may carry ``kind`` (``"causal"`` or
        ``"encoder"``), ``tokenizer``, ``task_type`` and ``prompt_text`` (the rendered prompt, for
        initialising a soft prompt); accept ``**context`` and ignore what you do not use.
        """
        ...


@runtime_checkable
class Metric(Protocol):
    """A metric: predictions and references in, named scores out."""

    name: str
    higher_is_better: bool

    def compute(
        self, predictions: Sequence[Any], references: Sequence[Any], **kwargs: Any
    ) -> dict[str, float]:
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
