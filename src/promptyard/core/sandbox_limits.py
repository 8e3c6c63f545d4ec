"""The bounds of the sandbox: how much a template may build or run in one render.

One-line templates can burn memory or CPU without touching anything unsafe (``'x' * 10**9``,
``range(10**10)``, ``'{:{}}'.format(1, 10**9)``, nested loops over a long string, a macro that calls
itself twice). :class:`promptyard.core.sandbox.PromptSandbox` calls these checks before the expensive
step where it can, and counts loop iterations, calls and ``range`` items against a per-render budget
(:func:`range_budget`, started by :func:`promptyard.core.render.run_unit`).
"""

from __future__ import annotations

import builtins
import contextvars
import re
from collections.abc import Callable, Iterator
from typing import Any

from jinja2.sandbox import SandboxedEscapeFormatter, SandboxedFormatter

from promptyard.core.errors import SandboxViolation

#: longest ``range`` one call may build, and how many items all ``range`` calls of one render may build
MAX_RANGE = 10_000
MAX_RANGE_TOTAL = 100_000
#: how many ``{% for %}`` iterations and calls one render may make (nested loops over ``'x' * 100000``
#: are 10**10 iterations; a macro calling itself twice, 2**n calls, each ~10 µs)
MAX_LOOP_ITERATIONS = 1_000_000
MAX_CALLS = 100_000
#: longest string or list that ``*`` or a padding width may produce
MAX_SIZE = 100_000
#: largest integer (in bits) ``**`` and ``*`` may build
MAX_INT_BITS = 4096
#: longest text (or list) a render, ``+``, ``~``, ``join``, ``indent`` or ``replace`` may build: far past any
#: model's context, far short of what doubling a string in a loop reaches in a few steps
MAX_TEXT = 10_000_000

PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
#: stock filters that take a width or a count
BOUNDED_FILTERS = ("center", "indent", "batch", "slice", "wordwrap", "truncate", "format", "replace", "join",
                   "tojson")
#: widest JSON indent: it is repeated on every line (``range(10000)|list|tojson(99999)`` is 1 GB)
MAX_INDENT = 100
_WIDTH = re.compile(r"\d+")

_range_budget: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "promptyard_range", default=None)


def violation(message: str, where: str | None = None) -> SandboxViolation:
    return SandboxViolation(f"sandbox violation: {message}", where=where,
                            hint="templates may only use their variables, filters and globals")


def bounded_range(*args: int) -> range:
    """``range`` for templates: at most MAX_RANGE items per call and MAX_RANGE_TOTAL per render."""
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise violation(f"range of {len(rng)} items is larger than the limit of {MAX_RANGE}")
    budget = _range_budget.get()
    if budget is not None:
        budget[0] -= len(rng)
        if budget[0] < 0:
            raise violation(f"ranges in one render may build at most {MAX_RANGE_TOTAL} items")
    return rng


def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    """``lipsum`` for templates: at most MAX_SIZE words (``lipsum(10**6)`` takes minutes and 400 MB)."""
    from jinja2.utils import generate_lorem_ipsum

    words = (n if isinstance(n, int) else 0) * builtins.max(min, max)
    if words > MAX_SIZE:
        raise violation(f"lipsum({n}, min={min}, max={max}) could build {words} words; the limit is {MAX_SIZE}")
    return generate_lorem_ipsum(n, html, min, max)


def check_size(what: str, size: int, limit: int = MAX_TEXT) -> None:
    if size > limit:
        raise violation(f"{what} would build {size} characters or list items; the limit is {limit}")


class BoundedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox, refusing huge widths once nested fields (``{:{}}``) are filled in."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        if any(int(w) > MAX_SIZE for w in _WIDTH.findall(format_spec)):
            raise violation(f"format width in {format_spec[:40]!r} is larger than the limit of {MAX_SIZE}")
        return super().format_field(value, format_spec)


class BoundedEscapeFormatter(BoundedFormatter, SandboxedEscapeFormatter):
    """The same, for ``Markup`` strings (``("{:{}}"|safe).format(...)``)."""


class BudgetedLoop:
    """What a ``{% for %}`` iterates: the iterable, counting every step against the render's budget."""

    def __init__(self, iterable: Any):
        self.iterable = iterable

    def __len__(self) -> int:  # loop.length and friends
        return len(self.iterable)

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable:
            step(1)
            yield item


def step(counter: int) -> None:
    """Count one loop iteration (1) or call (2) against the render's budget (none outside run_unit)."""
    budget = _range_budget.get()
    if budget is not None:
        budget[counter] -= 1
        if budget[counter] < 0:
            what = (f"{MAX_LOOP_ITERATIONS} loop iterations" if counter == 1 else f"{MAX_CALLS} calls")
            raise violation(f"one render may make at most {what}")


def check_ints(what: str, args: tuple, kwargs: dict[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_SIZE:
            raise violation(f"{what}() argument {value} is larger than the limit of {MAX_SIZE}")


_PERCENT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d*)(?:\.(\d+))?")


def check_percent_format(fmt: str, args: Any = None) -> None:
    """Refuse ``"%0999999999d" % 1`` and ``"%*d" % (10**9, 1)`` before they allocate."""
    for width, precision in _PERCENT_WIDTH.findall(fmt):
        if (width and int(width) > MAX_SIZE) or (precision and int(precision) > MAX_SIZE):
            raise violation(f"%-format width in {fmt[:40]!r} is larger than the limit of {MAX_SIZE}")
    if "*" in fmt:
        check_ints("%", args if isinstance(args, tuple) else (args,), {})


def check_replace(text: Any, old: Any, new: Any) -> None:
    """``'x'.replace('', long)`` grows a string by len(new) per character: bound the result first."""
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = len(text) + 1 if old == "" else text.count(old)
        check_size("replace()", len(text) + hits * (len(new) - len(old)))


def bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A stock filter whose integer arguments (widths, counts) are bounded."""
    skip = 2 if hasattr(func, "jinja_pass_arg") else 1  # (context,) value, then the arguments

    def bounded(*args: Any, **kwargs: Any) -> Any:
        check_ints(name, args[skip:], kwargs)
        value = args[skip - 1] if len(args) >= skip else None
        if name == "format" and isinstance(value, str):
            check_percent_format(value, tuple(args[skip:]))
        if name == "replace" and len(args) >= skip + 2:
            check_replace(value, args[skip], args[skip + 1])
        if name == "indent" and isinstance(value, str):
            width = args[skip] if len(args) > skip else kwargs.get("width", 4)
            prefix = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
            check_size("indent", prefix * (value.count("\n") + 1))
        if name == "wordwrap" and isinstance(value, str):  # (width, break_long_words, wrapstring, ...)
            wrap = args[skip + 2] if len(args) > skip + 2 else kwargs.get("wrapstring")
            if isinstance(wrap, str):  # at most one wrapstring per character of the text
                check_size("wordwrap", len(wrap) * len(value))
        if name == "tojson":
            indent = args[skip] if len(args) > skip else kwargs.get("indent")
            width = indent if isinstance(indent, int) else len(indent) if isinstance(indent, str) else 0
            if width > MAX_INDENT:
                raise violation(f"tojson indent of {width} is larger than the limit of {MAX_INDENT}")
        if name == "join" and value is not None:
            items = list(value)  # counted before the separator is repeated
            args = (*args[:skip - 1], items, *args[skip:])
            sep = args[skip] if len(args) > skip else kwargs.get("d", "")
            check_size("join", len(str(sep)) * max(len(items) - 1, 0))
        return func(*args, **kwargs)

    if hasattr(func, "jinja_pass_arg"):
        bounded.jinja_pass_arg = func.jinja_pass_arg  # type: ignore[attr-defined]
    bounded.__name__ = getattr(func, "__name__", name)
    return bounded

def range_budget() -> contextvars.Token:
    """Start the per-render ``range`` and loop budgets; pass the token to :func:`reset_range_budget`."""
    return _range_budget.set([MAX_RANGE_TOTAL, MAX_LOOP_ITERATIONS, MAX_CALLS])


def reset_range_budget(token: contextvars.Token) -> None:
    _range_budget.reset(token)


__all__ = ["BOUNDED_FILTERS", "MAX_CALLS", "MAX_INDENT", "MAX_INT_BITS", "MAX_LOOP_ITERATIONS", "MAX_RANGE",
           "MAX_RANGE_TOTAL", "MAX_SIZE", "MAX_TEXT", "PADDING_METHODS", "BoundedEscapeFormatter",
           "BoundedFormatter", "BudgetedLoop", "bounded_filter", "bounded_lipsum", "bounded_range", "check_ints",
           "check_percent_format", "check_replace", "check_size", "range_budget", "reset_range_budget", "step",
           "violation"]
