"""The Jinja2 sandbox every template renders in, and the cache of compiled sources.

Three layers keep a template from reaching outside its variables:

1. a static check of the parsed template (names or attributes starting with ``_``, known escape
   attributes such as ``mro`` or ``func_globals``, ``include``/``import``/``extends``) that refuses the
   template before it is ever compiled, so a bad template fails at commit time;
2. :class:`PromptSandbox`, an ``ImmutableSandboxedEnvironment`` (no ``list.append`` or ``dict.update``)
   that also bounds the cheap ways to burn memory or CPU (``range``, ``**``, ``*`` on strings, padding
   widths in ``str.format`` and ``ljust``/``center``);
3. the variable contract (:mod:`promptyard.core.contract`) only lets plain data in: str, int, float,
   bool, list, dict.
"""

from __future__ import annotations

import contextvars
import re
import string
import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import StrictUndefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from promptyard.core.errors import SandboxViolation

#: longest ``range`` one call may build, and how many items all ``range`` calls of one render may build
MAX_RANGE = 10_000
MAX_RANGE_TOTAL = 100_000
#: longest string or list that ``*`` or a padding width may produce
MAX_SIZE = 100_000
#: largest integer (in bits) ``**`` and ``*`` may build
MAX_INT_BITS = 4096

#: attribute names refused anywhere, even on objects the stock sandbox would allow them on
UNSAFE_ATTRIBUTES = frozenset({
    "mro", "func_globals", "func_code", "func_closure", "func_defaults", "gi_frame", "gi_code",
    "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code", "f_globals", "f_locals",
    "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "co_code", "im_func", "im_self", "im_class",
})
_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
_WIDTH = re.compile(r"\d+")

_range_budget: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "promptyard_range", default=None)


def _violation(message: str, where: str | None = None) -> SandboxViolation:
    return SandboxViolation(f"sandbox violation: {message}", where=where,
                            hint="templates may only use their variables, filters and globals")


def bounded_range(*args: int) -> range:
    """``range`` for templates: at most MAX_RANGE items per call and MAX_RANGE_TOTAL per render."""
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise _violation(f"range of {len(rng)} items is larger than the limit of {MAX_RANGE}")
    budget = _range_budget.get()
    if budget is not None:
        budget[0] -= len(rng)
        if budget[0] < 0:
            raise _violation(f"ranges in one render may build at most {MAX_RANGE_TOTAL} items")
    return rng


def _check_format_spec(fmt: str) -> None:
    """Refuse ``str.format`` strings whose field widths would build huge strings."""
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format will raise its own clear error
    for _, _, spec, _ in parsed:
        if spec and any(int(w) > MAX_SIZE for w in _WIDTH.findall(spec)):
            raise _violation(f"format width in {spec!r} is larger than the limit of {MAX_SIZE}")


class PromptSandbox(ImmutableSandboxedEnvironment):
    """The sandbox: Jinja2's immutable sandbox plus bounds on CPU and memory tricks."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, **kwargs: Any):
        super().__init__(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
                         keep_trailing_newline=False, **kwargs)
        self.globals["range"] = bounded_range

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in UNSAFE_ATTRIBUTES:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 \
                    and abs(left).bit_length() * right > MAX_INT_BITS:
                raise _violation(f"{left!r:.20} ** {right} is larger than the limit of {MAX_INT_BITS} bits")
            return left ** right
        if isinstance(left, int) and isinstance(right, int) \
                and abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
            raise _violation(f"'*' would build a number larger than the limit of {MAX_INT_BITS} bits")
        # "*": repeating a string or list is how a one-line template eats all memory
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > MAX_SIZE:
                raise _violation(f"'*' would build {len(seq) * count} items; the limit is {MAX_SIZE}")
        return left * right

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's signature)
        if (isinstance(__obj, types.BuiltinMethodType) and isinstance(getattr(__obj, "__self__", None), str)
                and __obj.__name__ in _PADDING_METHODS):
            for value in (*args, *kwargs.values()):
                if isinstance(value, int) and value > MAX_SIZE:
                    raise _violation(f"{__obj.__name__}() width {value} is larger than "
                                     f"the limit of {MAX_SIZE}")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _check_format_spec(value.__self__)
        return wrapped


# --------------------------------------------------------------------------------------------------
# static check: refuse what the sandbox would refuse, before the template is ever stored
# --------------------------------------------------------------------------------------------------

def _unsafe_name(name: str) -> bool:
    return name.startswith("_") or name in UNSAFE_ATTRIBUTES


def static_check(ast: nodes.Template, location: str) -> None:
    """Raise SandboxViolation for constructs no prompt needs and every escape uses."""
    for node in ast.find_all((nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Include,
                              nodes.Import, nodes.FromImport, nodes.Extends)):
        where = f"{location} line {node.lineno}"
        if isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            tag = type(node).__name__.lower().replace("fromimport", "from ... import")
            raise _violation(f"'{tag}' is not supported: a template cannot load other templates", where)
        if isinstance(node, nodes.Name) and node.name.startswith("_"):
            raise _violation(f"name {node.name!r} starts with '_'", where)
        if isinstance(node, nodes.Getattr) and _unsafe_name(node.attr):
            raise _violation(f"attribute {node.attr!r} is not accessible", where)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
                and isinstance(node.arg.value, str) and _unsafe_name(node.arg.value):
            raise _violation(f"item {node.arg.value!r} is not accessible", where)
        if isinstance(node, nodes.Filter) and node.name == "attr":
            for arg in node.args:
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str) and _unsafe_name(arg.value):
                    raise _violation(f"attribute {arg.value!r} is not accessible", where)


# --------------------------------------------------------------------------------------------------
# environments and the compiled-source cache
# --------------------------------------------------------------------------------------------------

@dataclass
class Compiled:
    """One parsed, checked and compiled source, with what contract inference needs from its AST."""

    template: jinja2.Template
    ast: nodes.Template


@dataclass
class SandboxEnv:
    """A sandbox with the plugin filters and globals of one plugin-host state, and its compile cache."""

    env: PromptSandbox
    builtin_names: frozenset[str]
    cache: OrderedDict[str, Compiled] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    max_entries: int = 4096

    def compile(self, source: str, location: str) -> Compiled:
        """Parse, statically check and compile ``source``; cached by source text (LRU)."""
        hit = self.cache.get(source)
        if hit is not None:
            return hit
        ast = self.env.parse(source)  # jinja2.TemplateSyntaxError is translated by the caller
        static_check(ast, location)
        compiled = Compiled(self.env.from_string(ast), ast)
        with self.lock:
            self.cache[source] = compiled
            if len(self.cache) > self.max_entries:
                self.cache.popitem(last=False)
        return compiled


_env_lock = threading.Lock()
_current: tuple[Any, SandboxEnv] | None = None


def build_env(filter_entries: Iterator[Any] = iter(())) -> SandboxEnv:
    """A fresh sandbox with the given ``template_filters`` table entries added."""
    env = PromptSandbox()
    for entry in filter_entries:
        if entry.options.get("kind") == "global":
            env.globals[entry.name] = entry.value
        else:
            env.filters[entry.name] = entry.value
    return SandboxEnv(env, frozenset(env.globals))


def sandbox_env() -> SandboxEnv:
    """The sandbox for the current plugin host; rebuilt (cache and all) when plugins change."""
    global _current
    from promptyard.core.plugins import get_host

    host = get_host()
    tables = host.tables  # a new dict whenever plugins are (un)registered
    current = _current
    if current is not None and current[0] is tables:
        return current[1]
    with _env_lock:
        if _current is None or _current[0] is not tables:
            _current = (tables, build_env(tables["template_filters"].entries()))
        return _current[1]


def range_budget() -> contextvars.Token:
    """Start the per-render ``range`` budget; pass the token to ``_range_budget.reset``."""
    return _range_budget.set([MAX_RANGE_TOTAL])


def reset_range_budget(token: contextvars.Token) -> None:
    _range_budget.reset(token)


__all__ = ["MAX_RANGE", "MAX_SIZE", "PromptSandbox", "SandboxEnv", "SecurityError", "bounded_range",
           "build_env", "range_budget", "reset_range_budget", "sandbox_env", "static_check"]
