"""The plugin manager: built-ins and third-party plugins, and the tables they contribute to.

Built-ins are listed in :data:`DEFAULT_PLUGINS` and registered exactly like outside plugins.
Third-party plugins are found through the ``promptyard`` entry-point group. ``PROMPTYARD_PLUGINS``
is an allow-list of external plugin names (comma separated, entry-point or distribution names);
``PROMPTYARD_PLUGINS=none`` (or an empty value) loads no external plugin. A plugin that fails to
import, register or validate is recorded in :attr:`PluginHost.failures` and skipped; two plugins
contributing the same name is a :class:`PluginError` naming both. What each table's entries must
provide is checked at registration (:mod:`promptyard.core.contributions`, against the contracts in
:mod:`promptyard.core.protocols`); the lookups over the tables — which loader loads a model, which method
loads an adapter — are in :mod:`promptyard.core.lookups`.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import threading
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import pluggy

from promptyard._version import __version__
from promptyard.core import hookspecs
from promptyard.core.contributions import REQUIRED_ATTRIBUTES, Entry, Table, make_entry
from promptyard.core.errors import PluginError
from promptyard.core.plugin_state import ENTRY_POINT_GROUP, allowed_plugins, discover_entry_points, normalise

__all__ = [
    "CONTRIBUTION_HOOKS", "DEFAULT_PLUGINS", "ENTRY_POINT_GROUP", "REQUIRED_ATTRIBUTES", "Entry", "LoadFailure",
    "PluginHost", "PluginInfo", "Table", "current_host", "get_host", "hook_names", "hook_signature", "lookup",
    "registered", "reset_host",
]

log = logging.getLogger(__name__)

#: module names of the built-in plugins, registered in this order
DEFAULT_PLUGINS: tuple[str, ...] = (
    "promptyard.plugins.selectors",
    "promptyard.plugins.filters",
    "promptyard.plugins.model_loaders",
    "promptyard.plugins.data_loaders",
    "promptyard.plugins.tasks",
    "promptyard.plugins.tuning",
    "promptyard.plugins.metrics",
    "promptyard.plugins.optimizers",
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
    "register_prompt_optimizers": "prompt_optimizers",
}


@dataclass
class PluginInfo:
    """Where a registered plugin came from."""

    name: str
    origin: str  # "builtin", "external" (entry point) or "runtime" (registered by code)
    module: str | None = None
    distribution: str | None = None
    version: str | None = None


@dataclass
class LoadFailure:
    """A plugin that raised or failed validation; it was skipped (or, for an observer, that call was)."""

    plugin: str
    stage: str  # "import", "register", "check", a contribution hook's name, or an observer's name
    error: str  # one line
    distribution: str | None = None
    version: str | None = None
    details: str = ""  # the traceback, for --debug

    def message(self) -> str:
        """The one-line warning the CLI prints."""
        if self.stage not in ("import", "register", "check") and self.stage not in CONTRIBUTION_HOOKS:
            return f"warning: plugin {self.plugin!r} failed in {self.stage}: {self.error}"
        return f"warning: plugin {self.plugin!r} skipped: {self.error}"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "details"}


class PluginHost:
    """A pluggy manager plus the contribution tables built from it."""

    def __init__(self, *, load_external: bool = True, default_plugins: tuple[str, ...] | None = None):
        self.pm = pluggy.PluginManager("promptyard")
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[LoadFailure] = []
        self.tables: dict[str, Table] = {}
        self.infos: dict[str, PluginInfo] = {}
        self.loaded_external = False

        for module_name in DEFAULT_PLUGINS if default_plugins is None else default_plugins:
            info = PluginInfo(module_name, "builtin", module_name, "promptyard", __version__)
            # A broken built-in is a promptyard bug, but it must not take the whole CLI down.
            self._load(info, lambda m=module_name: importlib.import_module(m))
        if load_external:
            self._load_entry_points()
        self._check_pending()
        self.collect()

    # -- loading --------------------------------------------------------------------------------

    def _load(self, info: PluginInfo, load: Any) -> bool:
        """Import (``load()``) and register one plugin; record a failure instead of raising."""
        try:
            plugin = load()
        except Exception as exc:  # a broken plugin must not take the rest down
            self._fail(info, "import", f"import failed: {_one_line(exc)}", exc)
            return False
        try:
            self.pm.register(plugin, name=info.name)
        except Exception as exc:  # e.g. a hookimpl whose arguments the hookspec does not have
            self._fail(info, "register", f"registration failed: {_one_line(exc)}", exc)
            return False
        self.infos[info.name] = info
        return True

    def _fail(self, info: PluginInfo | str, stage: str, error: str, exc: BaseException | None = None) -> None:
        if isinstance(info, str):
            info = self.infos.get(info) or PluginInfo(info, "runtime")
        details = "".join(traceback.format_exception(exc)) if exc is not None else ""
        failure = LoadFailure(info.name, stage, error, info.distribution, info.version, details)
        if not any((f.plugin, f.stage, f.error) == (failure.plugin, stage, error) for f in self.failures):
            self.failures.append(failure)

    def record_failure(self, plugin: str, stage: str, exc: BaseException) -> None:
        """Record that ``plugin`` raised ``exc`` in ``stage`` (a hook name) without unregistering it."""
        self._fail(plugin, stage, _one_line(exc), exc)

    def _load_entry_points(self) -> None:
        allowed = allowed_plugins()
        known: set[str] = set()
        for name, value, dist_name, dist_version in discover_entry_points():
            from importlib import metadata  # only with an external plugin: it costs 20 ms of a cold start

            ep = metadata.EntryPoint(name, value, ENTRY_POINT_GROUP)
            info = PluginInfo(ep.name, "external", ep.value, dist_name, dist_version)
            names = {normalise(ep.name), normalise(info.distribution or "")}
            known |= names - {""}
            if allowed is not None and not names & allowed:
                continue
            taken = self.infos.get(ep.name)
            if taken is not None:
                self._fail(info, "register", f"plugin name {ep.name!r} is already taken by "
                           f"{taken.distribution or taken.module}; rename the entry point")
                continue
            if self._load(info, ep.load):
                self.loaded_external = True
        for missing in sorted((allowed or set()) - known):  # a typo must not pass in silence
            close = difflib.get_close_matches(missing, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}?" if close else (
                f"installed: {', '.join(sorted(known))}" if known else "no external plugin is installed")
            self._fail(PluginInfo(missing, "external"), "import",
                       f"PROMPTYARD_PLUGINS names it, but no installed plugin is called that ({hint})")

    def _check_pending(self) -> None:
        """Report (and unregister) plugins that implement a hook promptyard does not have, or forgot @hookimpl."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or repr(exc.plugin)
            unknown = sorted(
                hook_name for hook_name, caller in vars(self.pm.hook).items()
                if not hook_name.startswith("_") and not caller.has_spec()
                and any(impl.plugin is exc.plugin for impl in caller.get_hookimpls())
            )
            parts = []
            for hook_name in unknown:
                close = difflib.get_close_matches(hook_name, hook_names(), n=1)
                suggestion = f" (did you mean {close[0]!r}?)" if close else ""
                parts.append(f"unknown hook {hook_name!r}{suggestion}")
            self.pm.unregister(exc.plugin)
            self._fail(name, "check", "; ".join(parts) or _one_line(exc), exc)
            self.infos.pop(name, None)
            self._check_pending()
            return
        # pluggy ignores a method named like a hook but not marked: the plugin would silently do nothing
        for name, plugin in list(self.pm.list_name_plugin()):
            implemented = {caller.name for caller in self.pm.get_hookcallers(plugin) or []}
            unmarked = [hook for hook in hook_names()
                        if hook not in implemented and callable(getattr(plugin, hook, None))]
            if unmarked:
                self.pm.unregister(plugin)
                self._fail(name, "check", "; ".join(f"{hook!r} is not marked with @hookimpl" for hook in unmarked)
                           + " (from promptyard import hookimpl)")
                self.infos.pop(name, None)

    def register(self, plugin: Any, name: str | None = None) -> str:
        """Register a plugin object or module at run time (tests, notebooks) and rebuild the tables.

        A misspelt hook or a raising contribution hook is recorded in :attr:`failures` and the
        plugin is skipped; a duplicate contribution name raises :class:`PluginError` and leaves the
        host as it was.
        """
        try:
            plugin_name = self.pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"cannot register plugin {name or plugin!r}: {_one_line(exc)}") from exc
        module = getattr(plugin, "__name__", type(plugin).__module__)
        self.infos[plugin_name] = PluginInfo(plugin_name, "runtime", module)
        self._check_pending()
        try:
            self.collect()
        except PluginError:
            self.unregister(name=plugin_name)
            raise
        return plugin_name

    def unregister(self, plugin: Any = None, name: str | None = None) -> None:
        """Remove a plugin, the failures recorded against it while it was registered, and its contributions."""
        plugin_name = name or self.pm.get_name(plugin)
        if self.pm.get_plugin(plugin_name) is not None:
            self.pm.unregister(plugin, name=name)
            self.failures = [f for f in self.failures if f.plugin != plugin_name]
        self.infos.pop(plugin_name, None)
        self.collect()

    # -- contributions --------------------------------------------------------------------------

    def collect(self) -> None:
        """(Re)build every contribution table by calling each plugin's register hooks one by one.

        Calling hookimpls individually is what lets a duplicate-name error name both plugins, and
        lets a plugin that raises be reported and skipped (all of it) while the others register.
        """
        while True:
            pending: list[tuple[str, Entry]] = []
            broken: dict[str, tuple[str, str, BaseException]] = {}
            for hook_name, table_name in CONTRIBUTION_HOOKS.items():
                # get_hookimpls() is in registration order: built-ins (registered first) register first
                for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                    if impl.plugin_name in broken:
                        continue
                    found: list[Entry] = []

                    def register(*args: Any, _plugin: str = impl.plugin_name, _found=found,
                                 _table: str = table_name, **options: Any) -> None:
                        _found.append(make_entry(_table, _plugin, args, options))

                    try:
                        impl.function(**{arg: register for arg in impl.argnames})
                    except Exception as exc:
                        broken[impl.plugin_name] = (hook_name, f"{hook_name} raised {_one_line(exc)}", exc)
                        continue
                    pending.extend((table_name, entry) for entry in found)
            if not broken:
                break
            # Skip a broken plugin entirely: half of a plugin is harder to reason about than none.
            for plugin_name, (hook_name, error, exc) in broken.items():
                self._fail(plugin_name, hook_name, error, exc)
                self.pm.unregister(name=plugin_name)
                self.infos.pop(plugin_name, None)
        tables = {table: Table(table) for table in CONTRIBUTION_HOOKS.values()}
        for table_name, entry in pending:
            tables[table_name].add(entry)  # duplicates raise PluginError: a startup error, by design
        self.tables = tables

    def table(self, name: str) -> Table:
        return self.tables[name]

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def call_observers(self, hook_name: str, **kwargs: Any) -> list[LoadFailure]:
        """Call an observer hook; an observer that raises is logged (a warning) and returned, never propagated."""
        failures = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(**{a: kwargs[a] for a in impl.argnames if a in kwargs})
            except Exception as exc:
                info = self.infos.get(impl.plugin_name) or PluginInfo(impl.plugin_name, "runtime")
                failure = LoadFailure(info.name, hook_name, _one_line(exc), info.distribution, info.version,
                                      "".join(traceback.format_exception(exc)))
                # Not kept in self.failures: those are start-up failures the CLI reports at every start.
                failures.append(failure)
                log.warning("%s", failure.message())
        return failures

    def call_each(self, hook_name: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """Yield ``(plugin name, implementation)`` for ``hook_name`` in registration order, for callers
        that need to attribute what each implementation did (``register_commands``)."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            yield impl.plugin_name, lambda impl=impl: impl.function(
                **{a: kwargs[a] for a in impl.argnames if a in kwargs})

    def plugin_names(self) -> list[str]:
        return [name for name, _ in self.pm.list_name_plugin()]

    def describe(self) -> list[dict[str, Any]]:
        """Every registered plugin: origin, version, hooks implemented and what it registered per table."""
        order = {"builtin": 0, "external": 1, "runtime": 2}
        rows = []
        for name, plugin in self.pm.list_name_plugin():
            info = self.infos.get(name) or PluginInfo(name, "runtime")
            contributions = {
                table_name: [e.name + (":*" if e.options.get("family") else "")  # a family: every NAME:variant
                             for e in table.entries() if e.plugin == name]
                for table_name, table in self.tables.items()
            }
            rows.append({
                "name": name, "origin": info.origin, "module": info.module,
                "distribution": info.distribution, "version": info.version,
                "hooks": sorted(c.name for c in self.pm.get_hookcallers(plugin) or []),
                "registered": {t: names for t, names in contributions.items() if names},
            })
        return sorted(rows, key=lambda r: (order.get(r["origin"], 3), r["origin"] != "builtin" and r["name"]))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def hook_names() -> list[str]:
    """Every hook promptyard defines, in the order of ``core/hookspecs.py``."""
    return [name for name, fn in vars(hookspecs).items()
            if inspect.isfunction(fn) and hasattr(fn, "promptyard_spec")]


def hook_signature(name: str) -> str:
    """``name(arg: Type, ...) -> Ret`` as written in ``core/hookspecs.py`` (annotations unquoted)."""
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(
        p.name if p.annotation is inspect.Parameter.empty else f"{p.name}: {_annotation(p.annotation)}"
        for p in sig.parameters.values()
    )
    if sig.return_annotation is inspect.Signature.empty:
        return f"{name}({params})"
    return f"{name}({params}) -> {_annotation(sig.return_annotation)}"


def _annotation(annotation: Any) -> str:
    # hookspecs uses `from __future__ import annotations`, so annotations are the source text already
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


_host: PluginHost | None = None
_lock = threading.Lock()


def current_host() -> PluginHost | None:
    """The process-wide host if one was built, else None (builds nothing)."""
    return _host


def get_host(*, load_external: bool = True) -> PluginHost:
    """The process-wide plugin host, built on first use.

    ``load_external=False`` (the CLI's ``--no-plugins``) rebuilds it without entry-point plugins if
    the current one loaded any.
    """
    global _host
    with _lock:
        if _host is None or (not load_external and _host.loaded_external):
            _host = PluginHost(load_external=load_external)
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
    """The names contributed to ``table``, in registration order."""
    return get_host().table(table).names()
