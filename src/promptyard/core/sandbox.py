"""The Jinja2 sandbox every template renders in, and the cache of compiled sources.

Three layers keep a template from reaching outside its variables:

1. a static check of the parsed template (:mod:`promptyard.core.static_check`: names or attributes
   starting with ``_``, known escape attributes such as ``mro``, ``include``/``import``/``extends``)
   that refuses the template before it is ever compiled, so a bad template fails at commit time;
2. :class:`PromptSandbox`, an ``ImmutableSandboxedEnvironment`` (no ``list.append`` or ``dict.update``)
   that also bounds the cheap ways to burn memory or CPU (``range``, ``**``, ``*`` on strings, padding
   widths in ``str.format`` and ``ljust``/``center``, the text built by ``+``, ``~``, ``join``,
   ``indent`` and ``replace``, loop iterations and calls, and the rendered text itself: the checks and
   limits are in :mod:`promptyard.core.sandbox_limits`);
3. the variable contract (:mod:`promptyard.core.contract`) only lets plain data in: str, int, float,
   bool, list, dict.
"""

from __future__ import annotations

import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup

from promptyard.core.sandbox_limits import (
    BOUNDED_FILTERS,
    MAX_INT_BITS,
    MAX_SIZE,
    PADDING_METHODS,
    BoundedEscapeFormatter,
    BoundedFormatter,
    BudgetedLoop,
    bounded_filter,
    bounded_lipsum,
    bounded_range,
    check_ints,
    check_percent_format,
    check_replace,
    check_size,
    range_budget,
    reset_range_budget,
    step,
    violation,
)
from promptyard.core.static_check import UNSAFE_ATTRIBUTES, static_check

_LOOP_FILTER = "_promptyard_loop"


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja2's code generator, with every ``~`` concatenation's result checked against MAX_TEXT."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # the result is checked after it is built: each ``~`` at most adds up texts already under the limit
        self.write("environment.check_text(")
        super().visit_Concat(node, frame)
        self.write(")")

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if node.recursive:  # loop(...) re-enters through LoopContext; the recursion limit bounds it
            return super().visit_For(node, frame)
        # a copy with the iterable wrapped: the parsed AST is also what contract inference reads
        budgeted = nodes.Filter(node.iter, _LOOP_FILTER, [], [], None, None, lineno=node.iter.lineno)
        copy = nodes.For(node.target, budgeted, node.body, node.else_, node.test, node.recursive,
                         lineno=node.lineno)
        copy.set_environment(self.environment)
        super().visit_For(copy, frame)

    def pull_dependencies(self, nodes: Any) -> None:
        super().pull_dependencies(nodes)
        # the loop filter is in no parsed template, so Jinja2 would not bind it in the generated code
        self.filters.setdefault(_LOOP_FILTER, self.temporary_identifier())
        self.writeline(f"{self.filters[_LOOP_FILTER]} = environment.filters[{_LOOP_FILTER!r}]")


class PromptSandbox(ImmutableSandboxedEnvironment):
    """The sandbox: Jinja2's immutable sandbox plus bounds on CPU and memory tricks."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, **kwargs: Any):
        super().__init__(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
                         keep_trailing_newline=False, **kwargs)
        self.globals["range"] = bounded_range
        self.globals["lipsum"] = bounded_lipsum
        self.filters[_LOOP_FILTER] = BudgetedLoop
        for name in BOUNDED_FILTERS:
            self.filters[name] = bounded_filter(name, self.filters[name])

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
                raise violation(f"{left!r:.20} ** {right} is larger than the limit of {MAX_INT_BITS} bits")
            return left ** right
        if operator == "%":
            if isinstance(left, str):
                check_percent_format(left, right)
            return left % right
        if operator == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                check_size("'+'", len(left) + len(right))
            return left + right
        if isinstance(left, int) and isinstance(right, int) \
                and abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
            raise violation(f"'*' would build a number larger than the limit of {MAX_INT_BITS} bits")
        # "*": repeating a string or list is how a one-line template eats all memory
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > MAX_SIZE:
                raise violation(f"'*' would build {len(seq) * count} items; the limit is {MAX_SIZE}")
        return left * right

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's signature)
        step(2)
        owner = getattr(__obj, "__self__", None)
        if isinstance(__obj, types.BuiltinMethodType) and isinstance(owner, str):
            if __obj.__name__ in PADDING_METHODS:
                check_ints(__obj.__name__, args, kwargs)
            elif __obj.__name__ == "replace" and len(args) >= 2:
                check_replace(owner, args[0], args[1])
            elif __obj.__name__ == "join" and len(args) == 1:
                items = list(args[0])  # counted before the separator is repeated
                check_size("join()", len(owner) * max(len(items) - 1, 0))
                args = (items,)
        return super().call(__context, __obj, *args, **kwargs)

    def check_text(self, text: Any) -> Any:
        """``text`` unless it is longer than MAX_TEXT (the generated code calls this on every ``~``)."""
        check_size("'~'", len(text))
        return text

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is None:  # not a str's format or format_map
            return None
        fmt = value.__self__
        formatter = (BoundedEscapeFormatter(self, escape=fmt.escape) if isinstance(fmt, Markup)
                     else BoundedFormatter(self))
        is_format_map = value.__name__ == "format_map"

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            if is_format_map:  # as jinja2's own wrapper does
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                args, kwargs = (), args[0]
            return type(fmt)(formatter.vformat(fmt, args, kwargs))

        return bounded_format


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
            check_size("the rendered text", sum(map(len, parts)))
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
    from promptyard.core import host as plugins

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




__all__ = ["PromptSandbox", "SandboxEnv", "SecurityError", "build_env", "range_budget", "reset_range_budget",
           "sandbox_env"]
