"""The contribution tables: what plugins register through the ``register_*`` hooks, and the checks at
the edge (a name, the attributes of the contract, a duplicate name naming both plugins)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.errors import PluginError, UnknownNameError

#: what a registered object must have, per table (the Protocols in ``core/interfaces.py``);
#: tables not listed take plain callables
REQUIRED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "task_types": ("name", "required_variables", "default_metrics", "kind", "version", "row_to_example",
                   "predict"),
    "tuning_methods": ("name", "config_class", "default_search_space", "wrap"),
    "metrics": ("name", "higher_is_better", "compute"),
    "model_loaders": ("name", "can_load", "load"),
    "dataset_loaders": ("name", "can_load", "load"),
}


@dataclass
class Entry:
    """One contribution: what was registered, under which name, by which plugin."""

    name: str
    value: Any
    plugin: str
    options: dict[str, Any] = field(default_factory=dict)


class Table:
    """Named contributions of one kind. A duplicate name is an error naming both plugins."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

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
        if entry is None:
            known = ", ".join(sorted(self.names())) or "none"
            raise UnknownNameError(f"unknown {singular(self.kind)} {name!r}", hint=f"known: {known}")
        return entry.value

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def values(self) -> list[Any]:
        return [e.value for e in self._entries.values()]


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
    if required is not None:
        missing = [a for a in required if not hasattr(entry.value, a)]
        if missing:
            raise PluginError(f"{singular(table_name)} {entry.name!r} lacks {', '.join(missing)}",
                              where=f"plugin {plugin}",
                              hint="see promptyard.core.protocols and docs/plugins.md")
    elif not callable(entry.value) and options.get("kind") != "global":
        raise PluginError(f"{singular(table_name)} {entry.name!r} is not callable", where=f"plugin {plugin}")
    return entry


def singular(table_name: str) -> str:
    return table_name.rstrip("s").replace("_", " ")
