"""The Jinja2 sandbox every template renders in, and the cache of compiled sources.

Three layers keep a template from reaching outside its variables:

1. a static check of the parsed template (:mod:`promptyard.core.static_check`: names or attributes
   starting with ``_``, known escape attributes such as ``mro``, ``include``/``import``/``extends``)
   that refuses the template before it is ever compiled, so a bad template fails at commit time;
2. :class:`PromptSandbox`, an ``ImmutableSandboxedEnvironment`` (no ``list.append`` or ``dict.update``)
   that also bounds the cheap ways to burn memory or CPU (``range``, ``**``, ``*`` on strings, padding
   widths in ``str.format`` and ``ljust``/``center``, the text built by ``+``, ``~``, ``join``,
   ``indent`` and ``replace``, and the rendered text itself);
3. the variable contract (:mod:`promptyard.core.contract`) only lets plain data in: str, int, float,
   bool, list, dict.
"""

from __future__ import annotations

import builtins
import contextvars
import re
import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter, SecurityError
from markupsafe import Markup

from promptyard.core.errors import SandboxViolation
from promptyard.core.static_check import UNSAFE_ATTRIBUTES, static_check

#: longest ``range`` one call may build, and how many items all ``range`` calls of one render may build
MAX_RANGE = 10_000
MAX_RANGE_TOTAL = 100_000
#: longest string or list that ``*`` or a padding width may produce
MAX_SIZE = 100_000
#: largest integer (in bits) ``**`` and ``*`` may build
MAX_INT_BITS = 4096
#: longest text (or list) a render, ``+``, ``~``, ``join``, ``indent`` or ``replace`` may build: far past any
#: model's context, far short of what doubling a string in a loop reaches in a few steps
MAX_TEXT = 10_000_000

_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
#: stock filters that take a width or a count
_BOUNDED_FILTERS = ("center", "indent", "batch", "slice", "wordwrap", "truncate", "format", "replace", "join",
                    "tojson")
#: widest JSON indent: it is repeated on every line (``range(10000)|list|tojson(99999)`` is 1 GB)
MAX_INDENT = 100
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


def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    """``lipsum`` for templates: at most MAX_SIZE words (``lipsum(10**6)`` takes minutes and 400 MB)."""
    from jinja2.utils import generate_lorem_ipsum

    words = (n if isinstance(n, int) else 0) * builtins.max(min, max)
    if words > MAX_SIZE:
        raise _violation(f"lipsum({n}, min={min}, max={max}) could build {words} words; the limit is {MAX_SIZE}")
    return generate_lorem_ipsum(n, html, min, max)


def _check_size(what: str, size: int, limit: int = MAX_TEXT) -> None:
    if size > limit:
        raise _violation(f"{what} would build {size} characters or list items; the limit is {limit}")


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox, refusing huge widths once nested fields (``{:{}}``) are filled in."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        if any(int(w) > MAX_SIZE for w in _WIDTH.findall(format_spec)):
            raise _violation(f"format width in {format_spec[:40]!r} is larger than the limit of {MAX_SIZE}")
        return super().format_field(value, format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, SandboxedEscapeFormatter):
    """The same, for ``Markup`` strings (``("{:{}}"|safe).format(...)``)."""


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja2's code generator, with every ``~`` concatenation's result checked against MAX_TEXT."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # the result is checked after it is built: each ``~`` at most adds up texts already under the limit
        self.write("environment.check_text(")
        super().visit_Concat(node, frame)
        self.write(")")


class PromptSandbox(ImmutableSandboxedEnvironment):
    """The sandbox: Jinja2's immutable sandbox plus bounds on CPU and memory tricks."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, **kwargs: Any):
        super().__init__(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
                         keep_trailing_newline=False, **kwargs)
        self.globals["range"] = bounded_range
        self.globals["lipsum"] = bounded_lipsum
        for name in _BOUNDED_FILTERS:
            self.filters[name] = _bounded_filter(name, self.filters[name])

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in UNSAFE_ATTRIBUTES:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Jinja returns an Undefined that only fails when printed; a list of them prints "[Undefined]".
        # Refusing at access time makes every route (|map(attribute=...), |sort …) fail the same way.
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 \
                    and abs(left).bit_length() * right > MAX_INT_BITS:
                raise _violation(f"{left!r:.20} ** {right} is larger than the limit of {MAX_INT_BITS} bits")
            return left ** right
        if operator == "%":
            if isinstance(left, str):
                _check_percent_format(left, right)
            return left % right
        if operator == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                _check_size("'+'", len(left) + len(right))
            return left + right
        if isinstance(left, int) and isinstance(right, int) \
                and abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
            raise _violation(f"'*' would build a number larger than the limit of {MAX_INT_BITS} bits")
        # "*": repeating a string or list is how a one-line template eats all memory
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > MAX_SIZE:
                raise _violation(f"'*' would build {len(seq) * count} items; the limit is {MAX_SIZE}")
        return left * right

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's signature)
        owner = getattr(__obj, "__self__", None)
        if isinstance(__obj, types.BuiltinMethodType) and isinstance(owner, str):
            if __obj.__name__ in _PADDING_METHODS:
                _check_ints(__obj.__name__, args, kwargs)
            elif __obj.__name__ == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1])
            elif __obj.__name__ == "join" and len(args) == 1:
                items = list(args[0])  # counted before the separator is repeated
                _check_size("join()", len(owner) * max(len(items) - 1, 0))
                args = (items,)
        return super().call(__context, __obj, *args, **kwargs)

    def check_text(self, text: Any) -> Any:
        """``text`` unless it is longer than MAX_TEXT (the generated code calls this on every ``~``)."""
        _check_size("'~'", len(text))
        return text

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is None:  # not a str's format or format_map
            return None
        fmt = value.__self__
        formatter = (_BoundedEscapeFormatter(self, escape=fmt.escape) if isinstance(fmt, Markup)
                     else _BoundedFormatter(self))
        is_format_map = value.__name__ == "format_map"

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            if is_format_map:  # as jinja2's own wrapper does
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                args, kwargs = (), args[0]
            return type(fmt)(formatter.vformat(fmt, args, kwargs))

        return bounded_format


def _check_ints(what: str, args: tuple, kwargs: dict[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_SIZE:
            raise _violation(f"{what}() argument {value} is larger than the limit of {MAX_SIZE}")


_PERCENT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d*)(?:\.(\d+))?")


def _check_percent_format(fmt: str, args: Any = None) -> None:
    """Refuse ``"%0999999999d" % 1`` and ``"%*d" % (10**9, 1)`` before they allocate."""
    for width, precision in _PERCENT_WIDTH.findall(fmt):
        if (width and int(width) > MAX_SIZE) or (precision and int(precision) > MAX_SIZE):
            raise _violation(f"%-format width in {fmt[:40]!r} is larger than the limit of {MAX_SIZE}")
    if "*" in fmt:
        _check_ints("%", args if isinstance(args, tuple) else (args,), {})


def _check_replace(text: Any, old: Any, new: Any) -> None:
    """``'x'.replace('', long)`` grows a string by len(new) per character: bound the result first."""
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = len(text) + 1 if old == "" else text.count(old)
        _check_size("replace()", len(text) + hits * (len(new) - len(old)))


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A stock filter whose integer arguments (widths, counts) are bounded."""
    skip = 2 if hasattr(func, "jinja_pass_arg") else 1  # (context,) value, then the arguments

    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_ints(name, args[skip:], kwargs)
        value = args[skip - 1] if len(args) >= skip else None
        if name == "format" and isinstance(value, str):
            _check_percent_format(value, tuple(args[skip:]))
        if name == "replace" and len(args) >= skip + 2:
            _check_replace(value, args[skip], args[skip + 1])
        if name == "indent" and isinstance(value, str):
            width = args[skip] if len(args) > skip else kwargs.get("width", 4)
            prefix = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
            _check_size("indent", prefix * (value.count("\n") + 1))
        if name == "wordwrap" and isinstance(value, str):  # (width, break_long_words, wrapstring, ...)
            wrap = args[skip + 2] if len(args) > skip + 2 else kwargs.get("wrapstring")
            if isinstance(wrap, str):  # at most one wrapstring per character of the text
                _check_size("wordwrap", len(wrap) * len(value))
        if name == "tojson":
            indent = args[skip] if len(args) > skip else kwargs.get("indent")
            width = indent if isinstance(indent, int) else len(indent) if isinstance(indent, str) else 0
            if width > MAX_INDENT:
                raise _violation(f"tojson indent of {width} is larger than the limit of {MAX_INDENT}")
        if name == "join" and value is not None:
            items = list(value)  # counted before the separator is repeated
            args = (*args[:skip - 1], items, *args[skip:])
            sep = args[skip] if len(args) > skip else kwargs.get("d", "")
            _check_size("join", len(str(sep)) * max(len(items) - 1, 0))
        return func(*args, **kwargs)

    if hasattr(func, "jinja_pass_arg"):
        bounded.jinja_pass_arg = func.jinja_pass_arg  # type: ignore[attr-defined]
    bounded.__name__ = getattr(func, "__name__", name)
    return bounded


# --------------------------------------------------------------------------------------------------
# environments and the compiled-source cache
# --------------------------------------------------------------------------------------------------

@dataclass
class Compiled:
    """One parsed, checked and compiled source, with what contract inference needs from its AST."""

    template: jinja2.Template
    ast: nodes.Template
    render: Callable[[dict[str, Any]], str]


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
        template = self.env.from_string(ast)
        compiled = Compiled(template, ast, _fast_render(self.env, template, dict(self.env.globals)))
        with self.lock:
            self.cache[source] = compiled
            if len(self.cache) > self.max_entries:
                self.cache.popitem(last=False)
        return compiled


def _fast_render(env: PromptSandbox, template: jinja2.Template,
                 env_globals: dict[str, Any]) -> Callable[[dict[str, Any]], str]:
    """``template.render`` without its per-call copy of the globals ChainMap (the hot path)."""
    root, new_context, concat = template.root_render_func, template.new_context, env.concat

    def render(context: dict[str, Any]) -> str:
        ctx = new_context({**env_globals, **context}, shared=True)
        try:
            parts = list(root(ctx))  # a loop yields the same string many times: count before joining
            _check_size("the rendered text", sum(map(len, parts)))
            return concat(parts)
        except Exception:
            env.handle_exception()  # re-raises with the template's own line numbers
            raise  # unreachable; handle_exception always raises

    return render


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
    from promptyard.core import plugins

    # the host's lock is only needed to build it; once built, reading the global is enough
    host = plugins._host or plugins.get_host()
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
           "build_env", "range_budget", "reset_range_budget", "sandbox_env"]
