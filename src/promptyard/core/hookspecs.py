"""Every hook promptyard calls. Plugin authors implement these with ``@promptyard.hookimpl``.

Contribution hooks receive a ``register`` callback; the host owns the tables and the rule for a
duplicate name (a startup error naming both plugins). Hook arguments are only ever added, never
removed or renamed; an implementation takes only the arguments it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("promptyard")
hookimpl = pluggy.HookimplMarker("promptyard")

Register = Callable[..., None]

# --------------------------------------------------------------------------------------------------
# startup: contributions, collected once when the plugin manager is built
# --------------------------------------------------------------------------------------------------


@hookspec
def register_task_types(register: Register) -> None:
    """Contribute task types (classification, generation …). Called once at startup.

    :param register: call ``register(task_type)`` with an object that follows
        :class:`promptyard.core.protocols.TaskType`; its ``name`` is the key.
    """


@hookspec
def register_tuning_methods(register: Register) -> None:
    """Contribute tuning methods (lora, prompt_tuning …). Called once at startup.

    :param register: call ``register(method)`` with an object that follows
        :class:`promptyard.core.protocols.TuningMethod`.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Contribute metrics. Called once at startup.

    :param register: call ``register(metric)`` with an object that follows
        :class:`promptyard.core.protocols.Metric`.
    """


@hookspec
def register_example_selectors(register: Register) -> None:
    """Contribute few-shot example selectors for *dynamic* templates. Called once at startup.

    :param register: call ``register(name, selector)``; ``selector(pool, variables, k, seed)`` gets the
        template's example pool (a list of dicts), the render's variables, how many to pick and the
        seed, and returns the indices into ``pool`` of the chosen examples, in the order they should
        appear. It must be deterministic for a given seed: the choice is recorded to replay a render.
    """


@hookspec
def register_template_filters(register: Register) -> None:
    """Contribute Jinja2 filters and globals, still rendered inside the sandbox. Called once at startup.

    :param register: call ``register(name, function)`` for a filter (``{{ text | name }}``), or
        ``register(name, function, kind="global")`` for a global (``{{ name(...) }}``). Filters get
        sandboxed values and must not reach outside them (files, network, ``__`` attributes).
    """


@hookspec
def register_value_providers(register: Register) -> None:
    """Contribute value providers for *dynamic* templates: values computed from the input at render time.

    Called once at startup.

    :param register: call ``register(name, provider)``; ``provider(variables: dict) -> Any`` is called
        when a dynamic template uses ``name``, and its (JSON-able) result is recorded with the render.
    """


@hookspec
def register_model_loaders(register: Register) -> None:
    """Contribute model loaders: how a model reference becomes a model and tokenizer. Called once at startup.

    :param register: call ``register(loader)`` with an object that follows
        :class:`promptyard.core.protocols.ModelLoader`. Loaders are asked in registration order;
        the first whose ``can_load(ref)`` is true loads it.
    """


@hookspec
def register_dataset_loaders(register: Register) -> None:
    """Contribute data set loaders (jsonl, csv, named embedded data sets). Called once at startup.

    :param register: call ``register(loader)`` with an object that follows
        :class:`promptyard.core.protocols.DatasetLoader`. Loaders are asked in registration order;
        the first whose ``can_load(ref)`` is true loads it.
    """


@hookspec
def register_prompt_optimizers(register: Register) -> None:
    """Contribute prompt optimisers (successive_halving, bootstrap_fewshot …). Called once at startup.

    :param register: call ``register(optimizer)`` with an object that follows
        :class:`promptyard.core.protocols.PromptOptimizer`; its ``name`` is the ``--optimizer`` value.
        The host hands ``optimize`` a context that scores candidates and charges the model-call budget;
        an optimiser never loads a model, reads the test split or writes the registry.
    """


@hookspec
def register_commands(app: Any) -> None:
    """Add typer commands or sub-apps to the ``promptyard`` CLI. Called each time the CLI starts.

    A command name that another plugin (or promptyard) already uses is a startup error naming both.
    Import heavy modules inside the command function, not at module level: every ``promptyard``
    invocation imports the plugin.

    :param app: the root ``typer.Typer``; use ``@app.command()`` or ``app.add_typer(sub, name=...)``.
    """


# --------------------------------------------------------------------------------------------------
# registry: observers, called after the write has committed. A failing observer is reported and
# never rolls the write back.
# --------------------------------------------------------------------------------------------------


@hookspec
def on_version_committed(registry: Any, version: Any) -> None:
    """Called after a new prompt version has been committed.

    :param registry: the :class:`promptyard.Registry` that wrote it.
    :param version: the new version (name, number, hash, message, author).
    """


@hookspec
def on_label_moved(registry: Any, move: Any) -> None:
    """Called after a label moved (``label``, ``rollback``), for prompts and adapters alike.

    :param registry: the :class:`promptyard.Registry` that wrote it.
    :param move: the recorded move (item name, label, from, to, who, when, reason).
    """


# --------------------------------------------------------------------------------------------------
# tune
# --------------------------------------------------------------------------------------------------


@hookspec
def on_adapter_registered(registry: Any, version: Any) -> None:
    """Called after a trained adapter has been registered as a new adapter version.

    :param registry: the :class:`promptyard.Registry` that wrote it.
    :param version: the adapter version, with its lineage.
    """


# --------------------------------------------------------------------------------------------------
# eval
# --------------------------------------------------------------------------------------------------


@hookspec
def on_eval_finished(run: Any) -> None:
    """Called after an evaluation run has been stored.

    :param run: the stored run (id, cells, metrics, lineage).
    """
