"""The contracts plugins implement: task types, tuning methods, metrics, model and data set loaders.

Each contract has two halves. The Protocol (``TaskType``, ``TuningMethod`` …) lists the *required*
members: a plugin's class need not inherit from it, only have them, and registration reports a missing
one by name. The ``…Defaults`` class beside it lists the *optional* members with the default the host
uses when a plugin leaves one out (:func:`member`); a plugin may inherit from it to say so explicitly.
Members added to a contract later are always optional, so a plugin written against an older contract
keeps working. The reference for plugin authors is ``docs/plugin_hooks.md``.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from promptyard.core import adapter_format
from promptyard.core.dataset import Dataset
from promptyard.core.errors import UsageError

__all__ = [
    "DEFAULTS", "DataLoaderDefaults", "Dataset", "DatasetLoader", "Example", "ExampleSelector", "LoadedModel",
    "Metric", "MetricContext", "MetricDefaults", "ModelLoader", "ModelLoaderDefaults", "OptimizerContext",
    "PromptOptimizer", "PromptOptimizerDefaults", "TaskType", "TaskTypeDefaults",
    "TemplateFilter", "TuningMethod", "TuningMethodDefaults", "ValueProvider", "member", "optional_members",
]

#: the two ways promptyard runs a model; a model loader may name kinds of its own that run as one of them
MODEL_FAMILIES = ("causal", "encoder")


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


# -- task types ------------------------------------------------------------------------------------


@runtime_checkable
class TaskType(Protocol):
    """What a kind of task needs from templates and data, and how a model output becomes a prediction.

    Optional members and their defaults: :class:`TaskTypeDefaults`.
    """

    #: the key in the ``task_types`` table and a prompt's ``task_type`` (``sentiment``)
    name: str
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

        ``output`` is a list of floats, one per ``Example.choices`` (log-likelihoods or logits), when
        choices are scored, and the generated text when a ``generation`` task generates.
        """
        ...


class TaskTypeDefaults:
    """The optional members of a task type, as the host fills them in when a task leaves them out."""

    #: one line for ``plugins list`` and the docs
    description: str = ""
    #: fixed label names of a classification task; ``None``: the labels come from the data
    labels: tuple[str, ...] | None = None

    def label_names(self, options: Mapping[str, Any] | None = None) -> list[str]:
        """The label names in order: ``options["labels"]``, else the task's ``labels``."""
        labels = (options or {}).get("labels") or member("task_types", self, "labels")
        if not labels:
            raise UsageError(f"task {getattr(self, 'name', '?')!r} needs its label set",
                             hint="give the data a label column, or give the task fixed labels")
        return [str(x) for x in labels]

    def choices(self, options: Mapping[str, Any] | None = None) -> list[str]:
        """The text each label is scored (and trained) as, in label order: ``options["verbalizers"]``
        maps a label to its words; a label without one is its own text."""
        verbalizers = (options or {}).get("verbalizers") or {}
        names = member("task_types", self, "label_names")(options)
        return [str(verbalizers.get(label, label)) for label in names]


# -- tuning methods --------------------------------------------------------------------------------


@runtime_checkable
class TuningMethod(Protocol):
    """A way to adapt a base model: a PEFT method or (full / last-N-layers) fine-tuning.

    Optional members and their defaults: :class:`TuningMethodDefaults`.
    """

    #: the key in the ``tuning_methods`` table and the ``--method`` value (``lora``)
    name: str
    #: a dataclass whose fields all have defaults and carry ``metadata={"help": ...}``; its
    #: ``__post_init__`` raises :class:`~promptyard.core.errors.ValidationError` naming a bad field
    config_class: type

    def default_search_space(self) -> dict[str, Any]:
        """The space searched when the user gives none; keys are ``config_class`` field names.

        Ray-Tune-style: ``{"lr": {"loguniform": [1e-5, 1e-2]}, "r": {"choice": [4, 8]},
        "dropout": {"uniform": [0.0, 0.2]}, "num_virtual_tokens": {"randint": [4, 33]}}``.
        """
        ...

    def wrap(self, model: Any, config: Any, **context: Any) -> Any:
        """Return the trainable model (a ``PeftModel``, or ``model`` with only some parameters trainable).

        ``config`` is a ``config_class`` instance. ``context`` may carry ``kind`` (``"causal"`` or
        ``"encoder"``: how the model runs), ``model_kind`` (the loader's own name for it), ``tokenizer``,
        ``task_type``, ``model_path``, ``init_text`` (the prompt's words, for initialising a soft
        prompt) and ``train_features`` (the training rows as token ids, for a data-driven initialisation
        such as LoRA's EVA); accept ``**context`` and ignore what you do not use.
        """
        ...


class TuningMethodDefaults:
    """The optional members of a tuning method, as the host fills them in when a method leaves them out."""

    description: str = ""
    #: model kinds it works on (``"causal"``, ``"encoder"``, or a model loader's own kind name)
    model_kinds: tuple[str, ...] = MODEL_FAMILIES
    #: task type names it supports; ``None`` means every task type
    supported_tasks: tuple[str, ...] | None = None
    #: the learning rate when neither ``--set lr=`` nor a config field named ``lr`` gives one
    default_lr: float = 1e-3
    #: why a model kind is unsupported, added to that error and to ``tune methods``
    unsupported_note: str = ""

    def save(self, model: Any, folder: Path) -> None:
        """Write the trained adapter into ``folder`` (which exists and is empty).

        Default: PEFT's ``save_pretrained`` (safetensors) for a ``PeftModel``; for a model returned by
        ``wrap`` itself, its trainable parameters as ``trained_parameters.safetensors``.
        """
        adapter_format.save_default(model, folder)

    def load(self, model: Any, folder: Path) -> Any:
        """Put the adapter saved by :meth:`save` in ``folder`` on the base ``model``; return the model to run.

        Default: PEFT's ``PeftModel.from_pretrained`` for a PEFT folder; otherwise the saved
        ``trained_parameters.safetensors`` copied into the model.
        """
        return adapter_format.load_default(model, folder)


# -- metrics ---------------------------------------------------------------------------------------


@runtime_checkable
class Metric(Protocol):
    """A metric: predictions and references in, named scores out. Optional members: :class:`MetricDefaults`."""

    name: str
    higher_is_better: bool

    def compute(
        self, predictions: Sequence[Any], references: Sequence[Any], **kwargs: Any
    ) -> dict[str, float]:
        """Return ``{score_name: value}``; the first key is the headline score."""
        ...


class MetricDefaults:
    """The optional members of a metric, as the host fills them in when a metric leaves them out."""

    description: str = ""
    #: what it is computed from: ``"prediction"`` (against the reference), ``"reply"`` (the raw model
    #: output, with ``schema=`` for structured prompts), ``"latency"`` (seconds), ``"tokens"``, or
    #: ``"judged"`` (generation cells: the per-example scores its ``judge`` member returns, from a model the
    #: host runs for it through a :class:`MetricContext`; ``compute`` then gets those scores as predictions)
    inputs: str = "prediction"
    #: a dataclass of settings (``--set NAME.key=value``, a suite's ``metric_options``), each with a default
    #: and ``metadata={"help": ...}``; ``__post_init__`` raises ValidationError naming a bad field. Default: none
    config_class: type | None = None
    #: ``prepare(context) -> None`` (``judged`` metrics): called when a cell is prepared, before any model
    #: call; resolve and check what the settings name through ``context`` and raise ValidationError on bad
    #: input. Default none
    prepare: Any = None
    #: ``judge(context, items) -> list[float]`` (``judged`` metrics): one score per item, each item a dict with
    #: ``input`` (the prompt the model was given), ``reply``, ``reference`` and ``variables``. Default none
    judge: Any = None
    #: ``per_example(predictions, references, **kwargs) -> list[float] | None``: scores whose mean is the
    #: headline. Default none: the bootstrap re-runs ``compute`` on each resample (slower)
    per_example: Any = None
    #: ``resampler(predictions, references, **kwargs) -> (idx[n_boot, n] -> values[n_boot])``: a vectorised
    #: recompute of the headline over resampled indices. Default none
    resampler: Any = None
    #: a string that changes whenever ``compute`` could return something else for the same inputs (a hash
    #: of the code, a version). With one, a cell re-run over the same predictions replays the stored scores
    #: and intervals from the response cache instead of recomputing them. Default none: always computed
    fingerprint: str | None = None


@runtime_checkable
class MetricContext(Protocol):
    """What the host hands a ``judged`` metric's ``prepare`` and ``judge``: its settings and the model calls.
    Everything it resolves is recorded in the cell's lineage and in the cache key of every call after.
    (The host implements this; a plugin only calls it.)"""

    #: the metric's settings (a ``config_class`` instance), or None
    config: Any
    #: the variables a judge prompt may use: ``input``, ``reply``, ``reference`` and the data's own
    variables: tuple[str, ...]

    def resolve_prompt(self, ref: str) -> Any:
        """The ``Template`` of a registry prompt reference (``grader@production``) or template file; its exact
        version and content hash go into the lineage and the cache key. Raises a clear error for a bad one."""
        ...

    def use_model(self, ref: str) -> None:
        """Name the model ``generate`` and ``score_choices`` run (loaded on first call; its content hash goes
        into the lineage and the cache key). Raises ValidationError for a model that cannot generate."""
        ...

    def generate(self, texts: list[str], *, max_new_tokens: int = 16, chat: bool = False) -> list[str]:
        """Greedy replies of the model to ``texts`` (through its chat template when ``chat``), cached."""
        ...

    def score_choices(self, texts: list[str], choices: list[str], *, chat: bool = False) -> list[list[float]]:
        """Per text, the log-likelihood of each of ``choices`` as its continuation, cached."""
        ...


# -- model loaders ---------------------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A model and tokenizer with what lineage needs to know about them."""

    model: Any
    tokenizer: Any
    ref: str
    kind: str  # "causal", "encoder", or a kind the loader declares in ``kinds``
    content_hash: str  # sha256 of the weight files
    path: str | None = None


@runtime_checkable
class ModelLoader(Protocol):
    """Turns a model reference (``smollm2-135m``, a local directory, a hub id) into a :class:`LoadedModel`.

    Optional members and their defaults: :class:`ModelLoaderDefaults`.
    """

    name: str

    def can_load(self, ref: str) -> bool: ...

    def load(self, ref: str, *, kind: str = "causal", num_labels: int | None = None) -> LoadedModel: ...


class ModelLoaderDefaults:
    """The optional members of a model loader, as the host fills them in when a loader leaves them out."""

    description: str = ""
    #: the kinds of model it loads, its natural kind first: ``("causal",)``, ``("causal", "encoder")``,
    #: or kinds of its own mapped to how promptyard runs them: ``{"inhouse-lm": "causal"}``
    kinds: tuple[str, ...] | Mapping[str, str] = ("causal",)

    def kind_of(self, ref: str) -> str:
        """The natural kind of ``ref`` without loading it. Default: the first of ``kinds``."""
        return next(iter(member("model_loaders", self, "kinds")))

    def locate(self, ref: str) -> str | None:
        """The local transformers folder (config, tokenizer, weights) ``load(ref)`` would read, if it is on
        disk already: nothing is loaded, converted or downloaded. Its weight files' hash is the loaded
        model's ``content_hash``, so an evaluation answered wholly by the response cache never loads the
        model. Default: None (unknown; the model is loaded to learn its hash)."""
        return None


# -- data set loaders ------------------------------------------------------------------------------


@runtime_checkable
class DatasetLoader(Protocol):
    """Turns a data set reference (``rotten_tomatoes``, ``file.jsonl``, ``file.csv``) into a :class:`Dataset`.

    ``load`` returns a :class:`~promptyard.core.dataset.Dataset`, or rows (an iterable of dicts), which
    the host wraps in one named after the reference. Optional members: :class:`DataLoaderDefaults`.
    """

    name: str

    def can_load(self, ref: str) -> bool: ...

    def load(self, ref: str, **options: Any) -> Dataset | Any: ...


class DataLoaderDefaults:
    """The optional members of a data set loader, as the host fills them in when a loader leaves them out."""

    description: str = ""
    #: named data sets it provides, name -> one line (``promptyard data list`` shows them)
    catalog: Mapping[str, str] = {}  # noqa: RUF012 - read-only default, never mutated


# -- plain callables: selectors, value providers, template filters ---------------------------------
# Registered as ``register(name, fn)``; registration checks that the host can call them this way
# (``CALL_SHAPES`` in core/contributions.py).


@runtime_checkable
class ExampleSelector(Protocol):
    """Picks few-shot examples for a *dynamic* template; deterministic for a seed."""

    def __call__(self, pool: list[dict[str, Any]], variables: dict[str, Any], k: int, seed: int) -> list[int]:
        """Indices into ``pool`` of the chosen examples, in the order they appear."""
        ...


@runtime_checkable
class ValueProvider(Protocol):
    """A value a *dynamic* template computes from the render's variables (recorded for replay)."""

    def __call__(self, variables: dict[str, Any]) -> Any: ...


@runtime_checkable
class TemplateFilter(Protocol):
    """A Jinja filter, ``{{ value | name(*args) }}`` (a ``@pass_context`` filter gets the context first)."""

    def __call__(self, value: Any, *args: Any) -> Any: ...


# -- prompt optimisers -----------------------------------------------------------------------------


@runtime_checkable
class OptimizerContext(Protocol):
    """What the host hands :meth:`PromptOptimizer.optimize`: the problem, the budget, and the calls that
    run the model for the optimiser. Every candidate it adds is recorded, rejected ones too. (The host
    implements this; a plugin only calls it.)"""

    #: the :class:`promptyard.core.optimization.OptimizationProblem`
    problem: Any
    #: the :class:`promptyard.core.optimization.Budget`; ``score`` and ``propose`` charge it
    budget: Any
    #: every candidate added so far, in order (``Candidate`` objects); the first is the starting prompt
    candidates: list[Any]

    def add(self, template: Any, *, name: str, origin: str, parent: Any = None,
            details: Mapping[str, Any] | None = None, reject: str | None = None) -> Any:
        """Record a candidate (a ``Template`` or a template mapping) and return it. One that breaks the
        starting template's variable contract, or does not parse, comes back with ``status="rejected"``
        and is never scored (``reject="why"`` records one the optimiser rejects itself); one equal to an
        earlier candidate comes back as that candidate."""
        ...

    def score(self, candidate: Any, n: int, *, split: str = "validation") -> list[Any]:
        """Scores (``ExampleScore``) of ``candidate`` on the first ``n`` examples of ``split``
        (``validation`` or ``train``; never ``test``). Raises ``BudgetExhausted`` before any model call
        when the uncached examples would go over the budget."""
        ...

    def propose(self, request: str, *, max_new_tokens: int = 96) -> str:
        """One reply of the proposer model to ``request`` (one model call, charged to the budget)."""
        ...

    def log(self, **event: Any) -> None:
        """Append an event (a bandit pull, a round) to the optimisation's stored history."""
        ...


@runtime_checkable
class PromptOptimizer(Protocol):
    """A way to search for a better prompt under a budget of model calls.

    Optional members and their defaults: :class:`PromptOptimizerDefaults`.
    """

    #: the key in the ``prompt_optimizers`` table and the ``--optimizer`` value
    name: str

    def project(self, problem: Any, calls: int | None) -> dict[str, Any]:
        """Plan without a model call: ``{"calls": projected calls within ``calls``, "min_calls": the calls
        one round needs, "min_validation": validation examples needed, "rounds": ...}``. The host refuses a
        budget below ``min_calls`` and a validation split smaller than ``min_validation``; raise
        ValidationError for a problem it cannot work on."""
        ...

    def optimize(self, context: OptimizerContext) -> Any:
        """Search, and return the chosen candidate (or ``None``: the host takes the best so far).

        ``BudgetExhausted`` may escape: the host then takes the best candidate so far.
        """
        ...


class PromptOptimizerDefaults:
    """The optional members of a prompt optimiser, as the host fills them in when one leaves them out."""

    #: one line for ``plugins list`` and the docs
    description: str = ""
    #: a dataclass of settings (``--set key=value``), each with a default and ``metadata={"help": ...}``;
    #: ``__post_init__`` raises ValidationError naming a bad field. Default: no settings
    config_class: type | None = None
    #: when true the host checks ``--proposer`` (a model that can generate) before any model call, and
    #: ``context.propose`` asks it
    needs_proposer: bool = False


# -- filling in defaults ---------------------------------------------------------------------------

#: per contribution table, the class holding its optional members and their defaults
DEFAULTS: dict[str, type] = {
    "task_types": TaskTypeDefaults,
    "tuning_methods": TuningMethodDefaults,
    "metrics": MetricDefaults,
    "model_loaders": ModelLoaderDefaults,
    "dataset_loaders": DataLoaderDefaults,
    "prompt_optimizers": PromptOptimizerDefaults,
}


def optional_members(table: str) -> list[str]:
    """The names of the optional members of ``table``'s contract, in the order the class lists them."""
    defaults = DEFAULTS.get(table)
    if defaults is None:
        return []
    names = list(getattr(defaults, "__annotations__", {}))
    names += [n for n, v in vars(defaults).items() if inspect.isfunction(v) and n not in names]
    return [n for n in names if not n.startswith("_")]


def member(table: str, obj: Any, name: str) -> Any:
    """``obj.name``, or the contract's default for it when ``obj`` leaves that optional member out.

    A default method is bound to ``obj``, so it sees the plugin's own members.
    """
    try:
        return getattr(obj, name)
    except AttributeError:
        pass
    defaults = DEFAULTS[table]
    if name not in optional_members(table):
        raise AttributeError(f"{name!r} is not an optional member of the {table} contract")
    value = inspect.getattr_static(defaults, name)
    return types.MethodType(value, obj) if inspect.isfunction(value) else value
