"""The plugin manager: built-ins and third-party plugins, and the tables they contribute to.

Built-ins are listed in :data:`DEFAULT_PLUGINS` and registered exactly like outside plugins.
Third-party plugins are found through the ``promptyard`` entry-point group. ``PROMPTYARD_PLUGINS``
is an allow-list of external plugin names (comma separated); ``PROMPTYARD_PLUGINS=none`` (or an
empty value) loads no external plugin.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from promptyard.core import hookspecs
from promptyard.core.errors import PluginError, UnknownNameError

ENTRY_POINT_GROUP = "promptyard"

#: module names of the built-in plugins, registered in this order
DEFAULT_PLUGINS: tuple[str, ...] = (
    "promptyard.plugins.selectors",
    "promptyard.plugins.filters",
    "promptyard.plugins.models",
    "promptyard.plugins.datasets",
    "promptyard.plugins.tasks",
    "promptyard.plugins.tuning",
    "promptyard.plugins.metrics",
)

#: contribution hooks whose ``register`` callback fills a named table: hook name -> table name
CONTRIBUTION_HOOKS: dict[str, str] = {
    "register_task_types": "task_types",
    "register_tuning_methods": "tuning_methods",
    "register_metrics": "metrics",
    "register_example_selectors": "example_selectors",
    "register_template_filters": "template_filters",
    "register_value_providers": "value_providers",
    "register_model_loaders": "model_loaders",
    "register_dataset_loaders": "dataset_loaders",
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
                f"{self.kind} {entry.name!r} is registered by both plugin {existing.plugin!r} "
                f"and plugin {entry.plugin!r}",
                hint="uninstall one, or leave one out of PROMPTYARD_PLUGINS",
            )
        self._entries[key] = entry

    def get(self, name: str) -> Any:
        entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(sorted(self.names())) or "none"
            raise UnknownNameError(f"unknown {self.kind.rstrip('s').replace('_', ' ')} {name!r}",
                                   hint=f"known: {known}")
        return entry.value

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def values(self) -> list[Any]:
        return [e.value for e in self._entries.values()]


@dataclass
class LoadFailure:
    """A plugin that raised while importing or registering; it was skipped."""

    plugin: str
    stage: str  # "import", "register", "check"
    error: str


class PluginHost:
    """A pluggy manager plus the contribution tables built from it."""

    def __init__(self, *, load_external: bool | None = None, default_plugins: tuple[str, ...] | None = None):
        self.pm = pluggy.PluginManager("promptyard")
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[LoadFailure] = []
        self.tables: dict[str, Table] = {}
        self.distributions: dict[str, str] = {}  # plugin name -> "dist version"
        for module_name in DEFAULT_PLUGINS if default_plugins is None else default_plugins:
            module = importlib.import_module(module_name)
            self.pm.register(module, name=module_name)
        if load_external if load_external is not None else True:
            self._load_entry_points()
        self._check_pending()
        self.collect()

    # -- loading --------------------------------------------------------------------------------

    def _allowed(self) -> set[str] | None:
        raw = os.environ.get("PROMPTYARD_PLUGINS")
        if raw is None:
            return None
        names = {n.strip() for n in raw.split(",") if n.strip()}
        return set() if names <= {"none"} else names

    def _load_entry_points(self) -> None:
        allowed = self._allowed()
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allowed is not None and ep.name not in allowed:
                continue
            if self.pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
                self.pm.register(plugin, name=ep.name)
            except Exception as exc:  # a broken plugin must not take the rest down
                self.failures.append(LoadFailure(ep.name, "import", f"{type(exc).__name__}: {exc}"))
                continue
            if ep.dist is not None:
                self.distributions[ep.name] = f"{ep.dist.name} {ep.dist.version}"

    def _check_pending(self) -> None:
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or repr(exc.plugin)
            self.pm.unregister(exc.plugin)
            self.failures.append(LoadFailure(name, "check", str(exc)))
            self._check_pending()

    def register(self, plugin: Any, name: str | None = None) -> str:
        """Register a plugin object or module at run time (tests, notebooks) and rebuild the tables."""
        plugin_name = self.pm.register(plugin, name=name)
        self._check_pending()
        self.collect()
        return plugin_name

    def unregister(self, plugin: Any = None, name: str | None = None) -> None:
        self.pm.unregister(plugin, name=name)
        self.collect()

    # -- contributions --------------------------------------------------------------------------

    def collect(self) -> None:
        """(Re)build every contribution table by calling each plugin's register hooks one by one.

        Calling hookimpls individually is what lets a duplicate-name error name both plugins, and
        lets a plugin that raises be reported and skipped while the others register.
        """
        tables = {table: Table(table) for table in CONTRIBUTION_HOOKS.values()}
        self.failures = [f for f in self.failures if f.stage != "register"]
        for hook_name, table_name in CONTRIBUTION_HOOKS.items():
            caller = getattr(self.pm.hook, hook_name)
            # get_hookimpls() is in registration order: built-ins (registered first) register first
            for impl in caller.get_hookimpls():
                table = tables[table_name]
                pending: list[Entry] = []

                def register(*args: Any, _plugin: str = impl.plugin_name, _pending=pending,
                             _table: str = table_name, **options: Any) -> None:
                    _pending.append(_make_entry(_table, _plugin, args, options))

                try:
                    impl.function(**{arg: register for arg in impl.argnames})
                except Exception as exc:
                    self.failures.append(LoadFailure(impl.plugin_name, "register",
                                                     f"{hook_name}: {type(exc).__name__}: {exc}"))
                    continue
                for entry in pending:
                    table.add(entry)  # duplicates raise PluginError: a startup error, by design
        self.tables = tables

    def table(self, name: str) -> Table:
        return self.tables[name]

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def call_observers(self, hook_name: str, **kwargs: Any) -> list[LoadFailure]:
        """Call an observer hook; an observer that raises is reported, never propagated."""
        failures = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(**{a: kwargs[a] for a in impl.argnames if a in kwargs})
            except Exception as exc:
                failure = LoadFailure(impl.plugin_name, hook_name, f"{type(exc).__name__}: {exc}")
                failures.append(failure)
                print(f"promptyard: plugin {impl.plugin_name!r} failed in {hook_name}: {failure.error}",
                      file=sys.stderr)
        return failures

    def plugin_names(self) -> list[str]:
        return [name for name, _ in self.pm.list_name_plugin()]


def _make_entry(table_name: str, plugin: str, args: tuple, options: dict[str, Any]) -> Entry:
    """Normalise the two register call shapes: ``register(obj)`` and ``register(name, value)``."""
    if len(args) == 1 and not isinstance(args[0], str):
        value = args[0]
        name = getattr(value, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"{table_name}: registered object {value!r} has no 'name' attribute",
                              where=f"plugin {plugin}")
        return Entry(name, value, plugin, options)
    if len(args) == 2 and isinstance(args[0], str):
        return Entry(args[0], args[1], plugin, options)
    raise PluginError(f"{table_name}: register() takes an object with a name, or (name, value); got {args!r}",
                      where=f"plugin {plugin}")


_host: PluginHost | None = None
_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host, built on first use."""
    global _host
    with _lock:
        if _host is None:
            _host = PluginHost()
        return _host


def reset_host(host: PluginHost | None = None) -> None:
    """Replace (or drop) the process-wide host; tests use this to start from a clean state."""
    global _host
    with _lock:
        _host = host


def lookup(table: str, name: str) -> Any:
    """The contribution ``name`` in ``table`` (``task_types``, ``metrics`` …); UnknownNameError if none."""
    return get_host().table(table).get(name)


def registered(table: str) -> list[str]:
    return get_host().table(table).names()


ObserverCall = Callable[..., list[LoadFailure]]
