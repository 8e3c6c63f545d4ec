"""Check and render templates of the four kinds, in the sandbox, against the variable contract.

- :func:`check_template` parses every source (at commit time), refuses sandbox escapes and returns the
  contract: the declared variables, else the ones inferred from the template.
- :func:`render` checks the variables (one RenderError listing every problem), applies defaults and
  renders: *single* and *dynamic* to text, *multi* to messages plus joined text, *structured* to
  sections under headings.

Parsed and compiled templates are cached by source, so rendering the same version again costs a
dictionary look-up plus Jinja2's own render. See docs/templates.md for the user-facing rules.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2

from promptyard.core.contract import bind, infer, matches
from promptyard.core.dynamic import check_dynamic, dynamic_context
from promptyard.core.errors import PromptyardError, RenderError, SandboxViolation, ValidationError
from promptyard.core.host import get_host
from promptyard.core.sandbox import SandboxEnv, SecurityError, end_budget, sandbox_env, start_budget
from promptyard.core.sandbox_limits import SandboxLimits, budget, current_limits, limit_error
from promptyard.core.structured import check_structured, compose
from promptyard.core.syntax import too_deep, translate
from promptyard.core.template import KINDS, Template, Variable

#: ``{{ name }}`` placeholders of raw mode
RAW_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}")
_SANDBOX_HINT = "templates may only use their variables, filters and globals"
_PRIVATE_ATTRIBUTE = re.compile(r"attribute '_")
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: names a *dynamic* template gets from promptyard, not from the caller
DYNAMIC_RESERVED = ("examples",)


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


_prepared: OrderedDict[tuple, tuple[SandboxEnv, Prepared]] = OrderedDict()
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


def _reserved(t: Template, senv: SandboxEnv) -> set[str]:
    reserved = set(senv.builtin_names)
    if t.kind == "dynamic":

        reserved |= set(DYNAMIC_RESERVED) | set(get_host().table("value_providers").names())
    return reserved


def _check_size(t: Template, senv: SandboxEnv) -> None:
    """Refuse a template too big to compile in reasonable time and memory, before parsing it."""
    limits, sources = current_limits(), t.sources()
    where = sources[0][0] if len(sources) == 1 else "template"
    size = sum(len(source) for _, source in sources)
    if size > limits.max_template_chars:
        raise limit_error("max_template_chars", f"the template's sources are {size} characters long", where=where)
    # the text between tags is one token, whatever its length; the cost of compiling is in the tags
    tokens = 0
    for _, source in sources:
        try:
            lexed = senv.env.lexer.tokeniter(source, None)
            tokens += sum(1 for _ in itertools.islice((k for k in lexed if k[1] != "whitespace"),
                                                       limits.max_template_tokens + 1 - tokens))
        except jinja2.TemplateSyntaxError:  # the parser reports it, with its place
            break
        if tokens > limits.max_template_tokens:
            raise limit_error("max_template_tokens", f"the template has more than {limits.max_template_tokens} "
                                                     "Jinja tokens", where=where)


def _compile_all(t: Template, senv: SandboxEnv) -> list[tuple[str, Any]]:
    """(location, Compiled) for every source; syntax errors carry line and column."""
    _check_size(t, senv)
    compiled = []
    for location, source in t.sources():
        try:
            compiled.append((location, senv.compile(source, location)))
        except jinja2.TemplateSyntaxError as exc:
            raise translate(senv.env, exc, source, location) from None
        except (RecursionError, SyntaxError, MemoryError) as exc:  # Python's own limits on nesting
            raise too_deep(senv.env, exc, source, location) from None
    return compiled


def _build(t: Template, senv: SandboxEnv) -> Prepared:
    _check_structure(t)
    declared = bool(t.variables)
    declared_names = {v.name for v in t.variables}
    roles = _unit_labels(t)
    if t.raw:
        names = declared_names if declared else None
        units = [(loc, roles[i], _raw_unit(src, names)) for i, (loc, src) in enumerate(t.sources())]
        if declared:
            contract = list(t.variables)
        else:
            seen: dict[str, None] = {}
            for _, src in t.sources():
                seen.update(dict.fromkeys(RAW_PLACEHOLDER.findall(src)))
            contract = [Variable(name=n, description="inferred (raw placeholder)") for n in seen]
        return Prepared(t.kind, units, contract, declared)
    compiled = _compile_all(t, senv)
    reserved = _reserved(t, senv)
    inferred, first_use = infer(((loc, c.ast) for loc, c in compiled), reserved=reserved)
    used_all = _used_names(compiled)
    providers: tuple[str, ...] = ()
    if t.kind == "dynamic":

        providers = tuple(n for n in get_host().table("value_providers").names() if n in used_all)
    if declared:
        undeclared = [v.name for v in inferred if v.name not in declared_names]
        if undeclared:
            raise ValidationError(
                "the template uses undeclared variable(s) " + ", ".join(
                    f"{n!r} ({first_use[n]})" for n in undeclared),
                where="variables",
                hint="declare them under 'variables', or remove the declarations to infer them")
        clash = sorted(declared_names & (set(DYNAMIC_RESERVED) | set(providers)))
        if clash:
            raise ValidationError(f"{', '.join(map(repr, clash))} provided by promptyard in a dynamic template "
                                  "(examples, value providers): cannot be declared", where="variables")
        contract = list(t.variables)
    else:
        contract = inferred
    units = [(loc, roles[i], c.render) for i, (loc, c) in enumerate(compiled)]
    return Prepared(t.kind, units, contract, declared, providers)


def _used_names(compiled: list[tuple[str, Any]]) -> set[str]:
    from jinja2 import meta

    names: set[str] = set()
    for _, c in compiled:
        names |= meta.find_undeclared_variables(c.ast)
    return names


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
    """The checked, compiled form of ``t`` (cached by content and plugin state)."""
    senv = sandbox_env()
    key = _key(t)
    hit = _prepared.get(key)
    if hit is not None and hit[0] is senv:
        return hit[1]
    prepared = _build(t, senv)
    with _prepared_lock:
        _prepared[key] = (senv, prepared)
        if len(_prepared) > _MAX_PREPARED:
            _prepared.popitem(last=False)
    return prepared


def check_template(t: Template) -> list[Variable]:
    """Parse every source in the sandbox and return the variable contract (declared, else inferred).

    Raises TemplateSyntaxError (``where="<location> line L, column C"``), SandboxViolation for an escape
    attempt, or ValidationError for a bad structure or a variable used but not declared.
    """
    return list(prepare(t).contract)


# --------------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------------

def _template_line(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def run_unit(location: str, fn: Callable[[dict[str, Any]], str], context: dict[str, Any]) -> str:
    """Render one source; every failure becomes a RenderError (SandboxViolation for escapes).

    Runs within the budget :func:`render` started; alone, it starts one of its own.
    """
    token = start_budget() if budget() is None else None
    try:
        return fn(context)
    except PromptyardError as exc:
        if exc.where is None:  # raised by a sandbox bound or a plugin: say which source
            line = _template_line(exc)
            exc.where = f"{location} line {line}" if line else location
        raise
    except SecurityError as exc:
        line = _template_line(exc)
        where = f"{location} line {line}" if line else location
        raise SandboxViolation(f"sandbox violation: {exc}", where=where, hint=_SANDBOX_HINT) from None
    except jinja2.UndefinedError as exc:
        line = _template_line(exc)
        where = f"{location} line {line}" if line else location
        if _PRIVATE_ATTRIBUTE.search(str(exc)):  # reached through a computed name: still an escape attempt
            raise SandboxViolation(f"sandbox violation: {exc}", where=where, hint=_SANDBOX_HINT) from None
        raise RenderError(f"rendering failed: {exc}", where=where) from None
    except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError,
            MemoryError, jinja2.TemplateError) as exc:
        line = _template_line(exc)
        where = f"{location} line {line}" if line else location
        raise RenderError(f"rendering failed: {type(exc).__name__}: {exc}", where=where) from None
    except Exception as exc:  # a plugin filter's or global's own bug: reported, traceback kept for --debug
        line = _template_line(exc)
        where = f"{location} line {line}" if line else location
        raise RenderError(f"rendering failed in a filter or global: {type(exc).__name__}: {exc}",
                          where=where) from exc
    finally:
        if token is not None:
            end_budget(token)


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
    if t.kind == "dynamic":

        extra, rec = dynamic_context(t, prepared, context, seed=seed, record=record)
        context = {**context, **extra}
        (location, _, fn), = prepared.units
        return Rendered("dynamic", run_unit(location, fn, context), None, rec)
    outputs = [(label, run_unit(location, fn, context)) for location, label, fn in prepared.units]
    if t.kind == "multi":
        messages = [{"role": role, "content": text} for role, text in outputs]
        return Rendered("multi", "\n".join(text for _, text in outputs), messages)
    if t.kind == "structured":

        return Rendered("structured", compose(t, dict(outputs)))
    return Rendered(t.kind, outputs[0][1])


__all__ = ["Prepared", "Rendered", "check_template", "prepare", "render", "run_unit"]
