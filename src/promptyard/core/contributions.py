"""The contribution tables: what plugins register through the ``register_*`` hooks, and the checks at
the edge (a name, the members of the contract, a duplicate name naming both plugins)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from promptyard.core import protocols
from promptyard.core.errors import PluginError, UnknownNameError
from promptyard.core.protocols import DEFAULTS, MODEL_FAMILIES, optional_members

#: what a registered object must have, per table: the members of the Protocols in ``core/protocols.py``
#: (their optional members, with defaults, are in the ``…Defaults`` classes there); tables not listed
#: take plain callables, checked against :data:`CALL_SHAPES`
REQUIRED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "task_types": ("name", "required_variables", "default_metrics", "kind", "version", "row_to_example",
                   "predict"),
    "tuning_methods": ("name", "config_class", "default_search_space", "wrap"),
    "metrics": ("name", "higher_is_better", "compute"),
    "model_loaders": ("name", "can_load", "load"),
    "dataset_loaders": ("name", "can_load", "load"),
    "prompt_optimizers": ("name", "project", "optimize"),
}

#: what a family registered with ``register(obj, family=True)`` must have: it answers for every name
#: ``<obj.name>:<variant>`` (``peft:loha``) with an object of the table's contract, built on first use
FAMILY_ATTRIBUTES: tuple[str, ...] = ("name", "variant_names", "variant")

#: how the host calls a plain callable of these tables: the positional arguments it passes
CALL_SHAPES: dict[str, tuple[str, ...]] = {
    "example_selectors": ("pool", "variables", "k", "seed"),
    "value_providers": ("variables",),
    "template_filters": ("value",),
}


@dataclass
class Entry:
    """One contribution: what was registered, under which name, by which plugin."""

    name: str
    value: Any
    plugin: str
    options: dict[str, Any] = field(default_factory=dict)


class Table:
    """Named contributions of one kind. A duplicate name is an error naming both plugins.

    An entry registered with ``family=True`` stands for the names ``<its name>:<variant>``: ``get`` asks its
    ``variant(variant)`` for the object (checked against the table's contract once, then kept), and
    ``names(expand=True)`` lists them through its ``variant_names()``.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._variants: dict[str, Any] = {}

    def add(self, entry: Entry) -> None:
        # Template filters and globals live in separate Jinja namespaces, so the key includes the kind.
        key = entry.name if "kind" not in entry.options else f"{entry.options['kind']}:{entry.name}"
        existing = self._entries.get(key)
        if existing is not None:
            raise PluginError(
                f"{singular(self.kind)} {entry.name!r} is registered by both plugin {existing.plugin!r} "
                f"and plugin {entry.plugin!r}",
                hint="uninstall one, or leave one out of PROMPTYARD_PLUGINS",
            )
        self._entries[key] = entry

    def get(self, name: str) -> Any:
        entry = self._entries.get(name)
        if entry is not None and not entry.options.get("family"):
            return entry.value
        prefix, _, variant = name.partition(":")
        family = self._entries.get(prefix)
        if family is None or not family.options.get("family") or not variant:
            families = [f"{e.name}:<name>" for e in self._entries.values() if e.options.get("family")]
            known = ", ".join(sorted(self.names()) + families) or "none"
            is_family = family is not None and family.options.get("family")
            what = (f"{name!r} names a family of {self.kind.replace('_', ' ')}; add one of its names"
                    if is_family else f"unknown {singular(self.kind)} {name!r}")
            raise UnknownNameError(what, hint=f"known: {known}")
        return self._variant(family, variant)

    def _variant(self, family: Entry, variant: str) -> Any:
        name = f"{family.name}:{variant}"
        if name not in self._variants:
            value = family.value.variant(variant)  # raises UnknownNameError for a name it does not know
            required = REQUIRED_ATTRIBUTES.get(self.kind)
            if required is not None:
                check_members(self.kind, name, value, required, family.plugin)
            if getattr(value, "name", name) != name:
                raise PluginError(f"{singular(self.kind)} family {family.name!r} answered {name!r} with an object "
                                  f"named {value.name!r}", where=f"plugin {family.plugin}")
            self._variants[name] = value
        return self._variants[name]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        entry = self._entries.get(name)
        if entry is not None:
            return not entry.options.get("family")
        prefix, _, variant = name.partition(":")
        family = self._entries.get(prefix)
        return bool(family and family.options.get("family") and variant in family.value.variant_names())

    def names(self, *, expand: bool = False) -> list[str]:
        """The plain names; with ``expand``, each family's ``<family>:<variant>`` names too (this asks the
        families, which may import what they build from)."""
        out = []
        for key, entry in self._entries.items():
            if not entry.options.get("family"):
                out.append(key)
            elif expand:
                out += [f"{entry.name}:{v}" for v in entry.value.variant_names()]
        return out

    def families(self) -> list[Entry]:
        """The entries registered with ``family=True``."""
        return [e for e in self._entries.values() if e.options.get("family")]

    def entries(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def values(self, *, expand: bool = False) -> list[Any]:
        """The plain contributions; with ``expand``, every family's variants too (see :meth:`names`)."""
        return [self.get(name) for name in self.names(expand=expand)]


def make_entry(table_name: str, plugin: str, args: tuple, options: dict[str, Any]) -> Entry:
    """Normalise the two register call shapes: ``register(obj)`` and ``register(name, value)``."""
    if len(args) == 1 and not isinstance(args[0], str):
        value = args[0]
        name = getattr(value, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"{table_name}: registered object {value!r} has no 'name' attribute",
                              where=f"plugin {plugin}")
        entry = Entry(name, value, plugin, options)
    elif len(args) == 2 and isinstance(args[0], str) and args[0]:
        entry = Entry(args[0], args[1], plugin, options)
    else:
        raise PluginError(f"{table_name}: register() takes an object with a name, or (name, value); "
                          f"got {args!r}", where=f"plugin {plugin}")
    required = REQUIRED_ATTRIBUTES.get(table_name)
    if options.get("family"):
        missing = [a for a in FAMILY_ATTRIBUTES if not hasattr(entry.value, a)]
        if missing or ":" in entry.name:
            raise PluginError(f"{singular(table_name)} family {entry.name!r} "
                              + (f"lacks {', '.join(missing)}" if missing else "has ':' in its name"),
                              where=f"plugin {plugin}", hint="see register(obj, family=True) in docs/plugin_hooks.md")
    elif required is not None:
        check_members(table_name, entry.name, entry.value, required, plugin)
    elif options.get("kind") != "global":
        check_callable(table_name, entry.name, entry.value, plugin)
    return entry


def check_members(table_name: str, name: str, value: Any, required: tuple[str, ...], plugin: str) -> None:
    """Every required member present; the optional ones given have the right shape."""
    what = f"{singular(table_name)} {name!r}"
    hint = "see the contracts in docs/plugin_hooks.md"
    missing = [a for a in required if not hasattr(value, a)]
    if missing:
        raise PluginError(f"{what} lacks {', '.join(missing)}", where=f"plugin {plugin}", hint=hint)
    not_callable = [a for a in required if a != "name" and inspect.isfunction(getattr(_protocol(table_name), a, None))
                    and not callable(getattr(value, a))]
    defaults = DEFAULTS.get(table_name)
    for attr in optional_members(table_name):
        default = inspect.getattr_static(defaults, attr)
        given = getattr(value, attr, None)
        if inspect.isfunction(default) and hasattr(value, attr) and not callable(given):
            not_callable.append(attr)
    if not_callable:
        raise PluginError(f"{what}: {', '.join(not_callable)} must be callable", where=f"plugin {plugin}",
                          hint=hint)
    if table_name == "model_loaders" and hasattr(value, "kinds"):
        problem = kinds_problem(value.kinds)
        if problem:
            raise PluginError(f"{what}: kinds {problem}", where=f"plugin {plugin}", hint=hint)


def kinds_problem(kinds: Any) -> str:
    """What is wrong with a model loader's ``kinds`` ("" when nothing is)."""
    if isinstance(kinds, Mapping):
        bad = [f"{k!r}: {v!r}" for k, v in kinds.items() if not isinstance(k, str) or v not in MODEL_FAMILIES]
        if bad or not kinds:
            return (f"maps {', '.join(bad)}; each kind must map to one of {', '.join(MODEL_FAMILIES)}" if bad
                    else "is empty")
        return ""
    if isinstance(kinds, str) or not isinstance(kinds, tuple | list) or not kinds:
        return f"must be a non-empty tuple of kind names or a mapping kind -> {'/'.join(MODEL_FAMILIES)}"
    own = [k for k in kinds if k not in MODEL_FAMILIES]
    if own:
        return (f"names {', '.join(map(repr, own))}: a kind of the loader's own must say how it runs, "
                f"e.g. kinds = {{{own[0]!r}: 'causal'}}")
    return ""


def _protocol(table_name: str) -> Any:
    return {"task_types": protocols.TaskType, "tuning_methods": protocols.TuningMethod,
            "metrics": protocols.Metric, "model_loaders": protocols.ModelLoader,
            "dataset_loaders": protocols.DatasetLoader, "prompt_optimizers": protocols.PromptOptimizer}[table_name]


def check_callable(table_name: str, name: str, value: Any, plugin: str) -> None:
    """A plain callable that the host can call with the arguments of :data:`CALL_SHAPES`."""
    what = f"{singular(table_name)} {name!r}"
    if not callable(value):
        raise PluginError(f"{what} is not callable", where=f"plugin {plugin}")
    shape = CALL_SHAPES.get(table_name)
    if shape is None:
        return
    if hasattr(value, "jinja_pass_arg"):  # @pass_context / @pass_environment filters get that first
        shape = ("context", *shape)
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):  # builtins without a signature: nothing to check
        return
    try:
        signature.bind(*shape)
    except TypeError:
        raise PluginError(f"{what} cannot be called as {name}({', '.join(shape)})", where=f"plugin {plugin}",
                          hint="see docs/plugin_hooks.md for the arguments the host passes") from None


def singular(table_name: str) -> str:
    return table_name.rstrip("s").replace("_", " ")
