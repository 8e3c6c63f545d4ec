"""Check and render templates of the four kinds, in the sandbox, against the variable contract.

- :func:`check_template` parses every source (at commit time), refuses sandbox escapes and returns the
  contract: the declared variables, else the ones inferred from the template.
- :func:`render` checks the variables (one RenderError listing every problem), applies defaults and
  renders: *single* and *dynamic* to text, *multi* to messages plus joined text, *structured* to
  sections under headings.

Three ways to a template's units, chosen once per template: *raw* mode substitutes ``{{ name }}`` in
literal text; a *plain* template (only text and ``{{ name }}``: :mod:`promptyard.core.plain`) is rendered
by substitution too, printing exactly what the sandbox prints; anything else is compiled by Jinja2 in the
sandbox (:mod:`promptyard.core.render_jinja`). Only the Jinja path imports Jinja2 and builds the plugin
host, so a cold ``prompt render`` of a plain prompt loads neither; a plain template still consults the
host when one is built or external plugins are installed, since a plugin global changes what a name means.

Prepared templates are cached by source, so rendering the same version again costs a dictionary look-up
plus the render itself. See docs/templates.md for the user-facing rules.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.contract import bind, matches
from promptyard.core.errors import ValidationError
from promptyard.core.plain import (
    BUILTIN_GLOBALS,
    JINJA_GLOBALS,
    plain_contract,
    plain_sources,
    plain_unit,
    printed_names,
)
from promptyard.core.plugin_state import built_host, external_plugins_wanted
from promptyard.core.sandbox_limits import SandboxLimits, end_budget, start_budget
from promptyard.core.structured import check_structured, compose
from promptyard.core.template import KINDS, Template, Variable

#: ``{{ name }}`` placeholders of raw mode
RAW_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}")
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass
class Rendered:
    """A rendered template: ``text`` for every kind, ``messages`` for *multi*, ``record`` for *dynamic*."""

    kind: str
    text: str
    messages: list[dict[str, str]] | None = None
    record: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "messages": self.messages, "record": self.record}


@dataclass
class Prepared:
    """A template checked and compiled once: what every later render of it reuses."""

    kind: str
    units: list[tuple[str, str, Callable[[dict[str, Any]], str]]]  # (location, role/section, render)
    contract: list[Variable]
    declared: bool
    providers: tuple[str, ...] = ()
    #: a plain template's printed names (None on the Jinja path): a context lacking one goes to Jinja2
    printed: frozenset[str] | None = None
    #: how one unit runs: each unit's own function (raw and plain), else run_unit's error translation
    run: Callable[[str, Callable[[dict[str, Any]], str], dict[str, Any]], str] | None = None


#: key -> (the state it was prepared under, Prepared): on the Jinja path the sandbox of the plugin host, on
#: the plain path the reserved global names, _RAW in raw mode; a changed state prepares the template again
_prepared: OrderedDict[tuple, tuple[Any, Prepared]] = OrderedDict()
#: the Jinja form of plain templates, for a render whose context lacks a printed name
_fallback: OrderedDict[tuple, tuple[Any, Prepared]] = OrderedDict()
_RAW = object()
_prepared_lock = threading.Lock()
_MAX_PREPARED = 2048


# --------------------------------------------------------------------------------------------------
# raw mode: literal text, only ``{{ name }}`` substituted
# --------------------------------------------------------------------------------------------------

def _raw_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _raw_unit(source: str, names: set[str] | None) -> Callable[[dict[str, Any]], str]:
    # like Jinja2 (keep_trailing_newline=False), one trailing newline of the source is dropped
    if source.endswith("\n"):
        source = source[:-2] if source.endswith("\r\n") else source[:-1]

    def render_raw(context: dict[str, Any]) -> str:
        def substitute(match: re.Match) -> str:
            name = match.group(1)
            if (names is None or name in names) and name in context:
                return _raw_value(context[name])
            return match.group(0)

        return RAW_PLACEHOLDER.sub(substitute, source)

    return render_raw


# --------------------------------------------------------------------------------------------------
# preparing: structure checks, parsing, contract
# --------------------------------------------------------------------------------------------------

def _check_structure(t: Template) -> None:
    if t.kind not in KINDS:
        raise ValidationError(f"unknown kind {t.kind!r}", where="kind", hint=f"one of {', '.join(KINDS)}")
    if t.kind == "multi" and not t.parts:
        raise ValidationError("a multi template needs at least one part", where="parts")
    if t.kind == "structured":
        check_structured(t)
    if t.kind == "dynamic":
        from promptyard.core.dynamic import check_dynamic  # the plugin host (selectors): dynamic kinds only

        check_dynamic(t)
    seen: set[str] = set()
    for i, var in enumerate(t.variables):
        if var.name in seen:
            raise ValidationError(f"variable {var.name!r} is declared twice", where=f"variables[{i}]")
        seen.add(var.name)
        if var.default is not None and not matches(var.default, var.type):
            raise ValidationError(f"default {var.default!r:.40} of variable {var.name!r} is not a {var.type}",
                                  where=f"variables[{i}].default")
        if not _IDENTIFIER.fullmatch(var.name):
            raise ValidationError(f"variable name {var.name!r} is not an identifier (letters, digits, '_', "
                                  "not starting with '_' or a digit)", where=f"variables[{i}]")


def _plain_prepared(t: Template, reserved: frozenset[str]) -> Prepared | None:
    """``t`` prepared by the plain path, or None when any source of it needs Jinja2."""
    sources = t.sources()
    pieces = plain_sources(sources, reserved)
    if pieces is None:
        return None
    located = [(loc, p) for (loc, _), p in zip(sources, pieces, strict=True)]
    inferred, _ = plain_contract(located)
    declared = bool(t.variables)
    if declared:
        if any(v.name not in {d.name for d in t.variables} for v in inferred):
            return None  # the Jinja path refuses it, naming each undeclared variable and where it is used
        contract = list(t.variables)
    else:
        contract = inferred
    roles = _unit_labels(t)
    units = [(loc, roles[i], plain_unit(loc, p)) for i, (loc, p) in enumerate(located)]
    return Prepared(t.kind, units, contract, declared, printed=printed_names(pieces), run=_run_own)


def _raw_prepared(t: Template) -> Prepared:
    declared = bool(t.variables)
    names = {v.name for v in t.variables} if declared else None
    roles = _unit_labels(t)
    units = [(loc, roles[i], _raw_unit(src, names)) for i, (loc, src) in enumerate(t.sources())]
    if declared:
        contract = list(t.variables)
    else:
        seen: dict[str, None] = {}
        for _, src in t.sources():
            seen.update(dict.fromkeys(RAW_PLACEHOLDER.findall(src)))
        contract = [Variable(name=n, description="inferred (raw placeholder)") for n in seen]
    return Prepared(t.kind, units, contract, declared, run=_run_own)


def _run_own(location: str, fn: Callable[[dict[str, Any]], str], context: dict[str, Any]) -> str:
    return fn(context)  # raw and plain units raise promptyard's errors themselves, placed


#: promptyard.core.render_jinja and promptyard.core.dynamic, imported on first use: Jinja2 and the plugin host
#: (kept here: an import statement in a function costs microseconds on every render)
_lazy: dict[str, Any] = {}


def _jinja() -> Any:
    module = _lazy.get("jinja")
    if module is None:
        from promptyard.core import render_jinja as module

        _lazy["jinja"] = module
    return module


def _jinja_prepared(t: Template, key: tuple, cache: OrderedDict | None = None) -> Prepared:
    """``t`` compiled by Jinja2 in the sandbox of the current plugin host (cached by content and host)."""
    cache = _prepared if cache is None else cache
    jinja = _jinja()
    senv = jinja.sandbox_env()
    hit = cache.get(key)
    if hit is not None and hit[0] is senv:
        return hit[1]
    _check_structure(t)
    units, contract, providers = jinja.build_units(t, senv)
    roles = _unit_labels(t)
    prepared = Prepared(t.kind, [(loc, roles[i], fn) for i, (loc, fn) in enumerate(units)], contract,
                        bool(t.variables), providers, run=jinja.run_unit)
    _remember(cache, key, senv, prepared)
    return prepared


_globals_seen: tuple[Any, frozenset[str]] | None = None


def reserved_globals() -> frozenset[str]:
    """The global names of the sandbox a template would render in, without building the sandbox: the
    constants of Jinja2 and the built-ins, unless a plugin host is built or needed (then its globals)."""
    global _globals_seen
    host = built_host()
    if host is None:
        if not external_plugins_wanted():
            return BUILTIN_GLOBALS
        from promptyard.core.host import get_host  # pluggy and the plugins: only when plugins may add globals

        host = get_host()
    tables = host.tables  # a new dict whenever plugins are (un)registered
    seen = _globals_seen
    if seen is None or seen[0] is not tables:
        names = {e.name for e in tables["template_filters"].entries() if e.options.get("kind") == "global"}
        seen = _globals_seen = (tables, JINJA_GLOBALS | names)
    return seen[1]


def _remember(cache: OrderedDict, key: tuple, state: Any, prepared: Prepared) -> None:
    with _prepared_lock:
        cache[key] = (state, prepared)
        if len(cache) > _MAX_PREPARED:
            cache.popitem(last=False)


def _unit_labels(t: Template) -> list[str]:
    if t.kind == "multi":
        return [p.role for p in t.parts]
    if t.kind == "structured":
        return list(t.sections)
    return [t.kind]


def _key(t: Template) -> tuple:
    # Cheap to build on every render; the Template itself is mutable, so it cannot be the key.
    extra: Any = None
    if t.kind == "structured":
        extra = json.dumps(t.output_schema, sort_keys=True, default=repr)
    elif t.kind == "dynamic":
        extra = (t.selector, t.k, len(t.examples))  # what check_dynamic looked at
    return (t.kind, t.raw, tuple(t.sources()),
            tuple((v.name, v.type, v.required, repr(v.default)) for v in t.variables), extra)


def prepare(t: Template) -> Prepared:
    """The checked, prepared form of ``t`` (cached by content, and by plugin state where it matters)."""
    key = _key(t)
    hit = _prepared.get(key)
    if hit is not None:
        state, prepared = hit
        if prepared.run is not _run_own:  # the Jinja path: valid while the plugin host's sandbox is the same
            if state is _jinja().sandbox_env():
                return prepared
        elif state is _RAW or state is reserved_globals():
            return prepared
    if t.raw:
        _check_structure(t)
        prepared = _raw_prepared(t)
        _remember(_prepared, key, _RAW, prepared)
        return prepared
    if t.kind != "dynamic":  # examples, selectors and value providers come from the plugin host
        reserved = reserved_globals()
        _check_structure(t)
        plain = _plain_prepared(t, reserved)
        if plain is not None:
            _remember(_prepared, key, reserved, plain)
            return plain
    return _jinja_prepared(t, key)


def check_template(t: Template) -> list[Variable]:
    """Parse every source in the sandbox and return the variable contract (declared, else inferred).

    Raises TemplateSyntaxError (``where="<location> line L, column C"``), SandboxViolation for an escape
    attempt, or ValidationError for a bad structure or a variable used but not declared.
    """
    return list(prepare(t).contract)


# --------------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------------

def render(t: Template, variables: Mapping[str, Any] | None = None, *, seed: int | None = None,
           record: Mapping[str, Any] | None = None, limits: SandboxLimits | None = None) -> Rendered:
    """Render ``t`` with ``variables``, every source of it within one budget of ``limits``.

    ``seed`` overrides the template's seed for *dynamic* example selection; ``record`` (a previous
    ``Rendered.record``) re-renders exactly the same examples and provider values. ``limits`` defaults
    to :func:`promptyard.core.sandbox_limits.current_limits`.
    """
    token = start_budget(limits)
    try:
        return _render(t, variables, seed, record)
    finally:
        end_budget(token)


def _render(t: Template, variables: Mapping[str, Any] | None, seed: int | None,
            record: Mapping[str, Any] | None) -> Rendered:
    prepared = prepare(t)
    context = bind(prepared.contract, prepared.declared, variables if variables is not None else {})
    if prepared.printed is not None and not prepared.printed <= context.keys():
        # a printed name the context lacks (an optional variable left out): Jinja2 says so, in its words
        prepared = _jinja_prepared(t, _key(t), _fallback)
    run = prepared.run
    if t.kind == "dynamic":
        dynamic_context = _lazy.get("dynamic_context")
        if dynamic_context is None:  # selectors and value providers: the plugin host
            from promptyard.core.dynamic import dynamic_context

            _lazy["dynamic_context"] = dynamic_context
        extra, rec = dynamic_context(t, prepared, context, seed=seed, record=record)
        context = {**context, **extra}
        (location, _, fn), = prepared.units
        return Rendered("dynamic", run(location, fn, context), None, rec)
    outputs = [(label, run(location, fn, context)) for location, label, fn in prepared.units]
    if t.kind == "multi":
        messages = [{"role": role, "content": text} for role, text in outputs]
        return Rendered("multi", "\n".join(text for _, text in outputs), messages)
    if t.kind == "structured":
        return Rendered("structured", compose(t, dict(outputs)))
    return Rendered(t.kind, outputs[0][1])


__all__ = ["Prepared", "Rendered", "check_template", "prepare", "render"]
