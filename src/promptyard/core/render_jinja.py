"""The Jinja path of rendering: size checks, parsing and compiling in the sandbox, contract inference, and
running one compiled source with every failure turned into a RenderError.

:mod:`promptyard.core.render` comes here for every template that is not raw or plain (see
:mod:`promptyard.core.plain`); this module brings Jinja2 and the plugin host (plugin filters and globals,
a dynamic template's value providers).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import jinja2

from promptyard.core.errors import PromptyardError, RenderError, SandboxViolation, ValidationError
from promptyard.core.host import get_host
from promptyard.core.inference import infer
from promptyard.core.sandbox import SandboxEnv, SecurityError, end_budget, sandbox_env, start_budget
from promptyard.core.sandbox_limits import budget, current_limits, limit_error
from promptyard.core.syntax import too_deep, translate
from promptyard.core.template import Template, Variable

_SANDBOX_HINT = "templates may only use their variables, filters and globals"
_PRIVATE_ATTRIBUTE = re.compile(r"attribute '_")
#: names a *dynamic* template gets from promptyard, not from the caller
DYNAMIC_RESERVED = ("examples",)

#: (location, render) of each source
Units = list[tuple[str, Callable[[dict[str, Any]], str]]]


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


def build_units(t: Template, senv: SandboxEnv) -> tuple[Units, list[Variable], tuple[str, ...]]:
    """Compile every source of ``t``: its units, its contract (declared, else inferred), its value providers."""
    declared = bool(t.variables)
    declared_names = {v.name for v in t.variables}
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
    return [(loc, c.render) for loc, c in compiled], contract, providers


def _used_names(compiled: list[tuple[str, Any]]) -> set[str]:
    from jinja2 import meta

    names: set[str] = set()
    for _, c in compiled:
        names |= meta.find_undeclared_variables(c.ast)
    return names


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

    Runs within the budget :func:`promptyard.core.render.render` started; alone, it starts one of its own.
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


__all__ = ["DYNAMIC_RESERVED", "build_units", "run_unit", "sandbox_env"]
