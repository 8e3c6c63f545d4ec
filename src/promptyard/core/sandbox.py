"""The Jinja2 sandbox every template renders in, and the cache of compiled sources.

Three layers keep a template from reaching outside its variables:

1. a static check of the parsed template (:mod:`promptyard.core.static_check`: names or attributes
   starting with ``_``, known escape attributes such as ``mro``, ``include``/``import``/``extends``)
   that refuses the template before it is ever compiled, so a bad template fails at commit time;
2. :class:`PromptSandbox`, Jinja2's ``ImmutableSandboxedEnvironment`` (no ``list.append`` or
   ``dict.update``) extended through its own hooks (``call``, ``call_binop``, ``getitem``, the format
   wrapper, the code generator) so that every operation that builds a string or a list reserves its size
   before building it, every loop step, call and filter is counted, and a deadline stops a long render:
   the limits and the budget are in :mod:`promptyard.core.sandbox_limits`, the size bounds in
   :mod:`promptyard.core.sandbox_filters` and :mod:`promptyard.core.text_size`;
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
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.runtime import BlockReference, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup, escape

from promptyard.core import host as plugins
from promptyard.core.sandbox_filters import (
    BoundedEscapeFormatter,
    BoundedFormatter,
    bounded_sum,
    check_str_method,
    counted_filter,
)
from promptyard.core.sandbox_limits import (
    BudgetedLoop,
    TextBuffer,
    bounded_lipsum,
    bounded_range,
    budget,
    check_repeat,
    end_budget,
    limit_error,
    limits,
    reserve,
    start_budget,
    take_output,
)
from promptyard.core.static_check import UNSAFE_ATTRIBUTES, static_check
from promptyard.core.text_size import expanded_size, percent_size, printed, text_size

_LOOP_FILTER = "_promptyard_loop"
_STOCK_FILTERS = frozenset(jinja2.filters.FILTERS)


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja2's code generator, routing printing, ``~``, buffers and loops through the sandbox's budget."""

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        # instead of str(...): sized first, and refused without a text form. A plain str prints as itself
        # (nothing is built), tested inline because it is the hot path: (t if type(t := x) is str else ...)
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:
            self.write("environment.to_text(")
        else:
            self._printed = self.temporary_identifier()
            self.write(f"({self._printed} if type({self._printed} := ")

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:
            self.write(f", {'context.eval_ctx.autoescape' if frame.eval_ctx.volatile else 'True'})")
        else:
            self.write(f") is str else environment.to_text({self._printed}, False))")

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        escaped = ("context.eval_ctx.volatile" if frame.eval_ctx.volatile
                   else "True" if frame.eval_ctx.autoescape else "False")
        self.write("environment.concat_text((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(f"), {escaped})")

    @optimizeconst
    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            return super().visit_Getitem(node, frame)
        # Jinja2 writes x[a:b] directly, bypassing the sandbox: a slice is a copy, so it is sized first
        self.write("environment.sliced(")
        self.visit(node.node, frame)
        for part in (node.arg.start, node.arg.stop, node.arg.step):
            self.write(", ")
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
        self.write(")")
        return None

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._literal(super().visit_List, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # an assignment target: {% for a, b in … %}
            return super().visit_Tuple(node, frame)
        return self._literal(super().visit_Tuple, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._literal(super().visit_Dict, node, frame)

    def _literal(self, visit: Callable[..., None], node: nodes.Expr, frame: Frame) -> None:
        # a literal holding other containers is counted through them ([t, t] in a loop doubles); a
        # constant one was folded by the optimizer and never gets here
        self.write("environment.nested(")
        visit(node, frame)
        self.write(")")

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.text_buffer()")

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # a copy with the iterable wrapped: the parsed AST is also what contract inference reads.
        # A recursive loop's later levels come in through loop(...): PromptSandbox.call wraps those.
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
    """The sandbox: Jinja2's immutable sandbox plus a budget on every allocation, loop step and call."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, **kwargs: Any):
        super().__init__(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
                         keep_trailing_newline=False, **kwargs)
        self.globals["range"] = bounded_range
        self.globals["lipsum"] = bounded_lipsum
        self.filters["sum"] = bounded_sum
        self.count_filters()

    def count_filters(self) -> None:
        """Wrap every filter not yet wrapped (plugin ones too): counted calls, stock ones sized."""
        for name, func in list(self.filters.items()):
            if name != _LOOP_FILTER and not getattr(func, "__promptyard_counted__", False):
                counted = counted_filter(name, func, stock=name in _STOCK_FILTERS)
                counted.__promptyard_counted__ = True  # type: ignore[attr-defined]
                self.filters[name] = counted
        self.filters[_LOOP_FILTER] = BudgetedLoop

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in UNSAFE_ATTRIBUTES:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Jinja returns an Undefined that only fails when printed; a list of them prints "[Undefined]".
        # Refusing at access time makes every route (|map(attribute=...), |sort …) fail the same way.
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    # -- what builds text: printing, '~', buffers -------------------------------------------------

    def to_text(self, value: Any, escaped: bool) -> str:
        """What ``{{ value }}`` prints: sized before it is built; no heap addresses."""
        if not escaped:
            return printed(value)  # the plain-template path prints with the same function
        reserve("printing a value", text_size(value, "str", limits().max_text) * 6)
        return escape(value)

    def concat_text(self, parts: tuple, escaped: bool) -> str:
        """``a ~ b ~ c``, its length reserved before the text is built."""
        cap = limits().max_text
        reserve("'~'", sum(len(p) if type(p) is str else text_size(p, "str", cap) for p in parts))
        if escaped:
            return jinja2.runtime.markup_join(parts)
        return "".join([p if type(p) is str else str(p) for p in parts])

    def nested(self, value: Any, count: int | None = None) -> Any:
        """``value`` (a container the template builds) unless it nests more than max_text items in all."""
        b = budget()
        if b is not None:
            cap = b.limits.max_text
            n = expanded_size(value, b.shapes, cap) if count is None else count
            if n > cap:
                raise limit_error("max_text", f"a list, tuple or dict would nest {n} items in all "
                                              "(counted through nested ones)")
            if count is not None:
                b.shapes[id(value)] = (value, n)
        return value

    def text_buffer(self) -> TextBuffer:
        return TextBuffer()

    # -- operators, calls, subscripts ---------------------------------------------------------------

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        lim = limits()
        if operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 \
                    and abs(left).bit_length() * right > lim.max_int_bits:
                raise limit_error("max_int_bits", f"{left!r:.20} ** {right} would build a larger number")
            return left ** right
        if operator == "%":
            if isinstance(left, str):
                widest, size = percent_size(left, right, lim.max_text)
                check_repeat("%-format width", widest)
                reserve("'%'", size)
            return left % right
        if operator == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                reserve("'+'", len(left) + len(right))
                if not isinstance(left, str) and (b := budget()) is not None:
                    cap = lim.max_text
                    n = expanded_size(left, b.shapes, cap) + expanded_size(right, b.shapes, cap) - 1
                    return self.nested(left + right, n)
            return left + right
        if isinstance(left, int) and isinstance(right, int) \
                and abs(left).bit_length() + abs(right).bit_length() > lim.max_int_bits:
            raise limit_error("max_int_bits", "'*' would build a larger number")
        # "*": repeating a string or list is how a one-line template eats all memory
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(count, int):
                check_repeat("'*'", len(seq) * count)
                if not isinstance(seq, str) and (b := budget()) is not None:
                    n = (expanded_size(seq, b.shapes, lim.max_text) - 1) * max(count, 0) + 1
                    return self.nested(seq * count, n)
        return left * right

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's signature)
        b = budget()
        if b is None:  # outside a render (constant folding at compile time): the stock sandbox only
            return super().call(__context, __obj, *args, **kwargs)
        b.call()
        if isinstance(__obj, types.BuiltinMethodType) and isinstance(getattr(__obj, "__self__", None), str):
            args = check_str_method(__obj.__self__, __obj.__name__, args, kwargs)
        elif type(__obj) is LoopContext and args:  # loop(children) of a recursive loop: count its steps too
            args = (BudgetedLoop(args[0]), *args[1:])
        elif type(__obj) is BlockReference:  # self.block(): Jinja would join the block's output unchecked
            return __self._call_block(__obj)
        elif __obj is dict:  # dict(a=t, b=t) in a loop nests like [t, t]
            return __self.nested(super().call(__context, __obj, *args, **kwargs))
        b.depth += 1
        try:
            if b.depth > b.limits.max_call_depth:
                raise limit_error("max_call_depth", "macro calls or recursive loop(...) nested too deeply")
            return super().call(__context, __obj, *args, **kwargs)
        finally:
            b.depth -= 1

    def _call_block(self, block: BlockReference) -> str:
        buffer = TextBuffer()
        for chunk in block._stack[block._depth](block._context):  # noqa: SLF001 (what BlockReference.__call__ runs)
            buffer.append(chunk)
        text = "".join(buffer)
        return Markup(text) if block._context.eval_ctx.autoescape else text  # noqa: SLF001

    def sliced(self, obj: Any, start: Any, stop: Any, step: Any) -> Any:
        """``obj[start:stop:step]``, its length reserved first (a slice of a str or list is a copy)."""
        window = slice(start, stop, step)
        if isinstance(obj, (str, list, tuple)):
            reserve("a slice", len(range(*window.indices(len(obj)))))
        return obj[window]

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
            reserve("str.format()", len(fmt))  # the literal text; each field is reserved as it is formatted
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
            # the rendered text is bounded as it streams, not once complete
            return concat(take_output(root(ctx)))
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
    env.count_filters()
    return SandboxEnv(env, frozenset(env.globals))


def sandbox_env() -> SandboxEnv:
    """The sandbox for the current plugin host; rebuilt (cache and all) when plugins change."""
    global _current

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




__all__ = ["PromptSandbox", "SandboxEnv", "SecurityError", "build_env", "end_budget", "sandbox_env", "start_budget"]
