"""Filters and ``str`` methods in the sandbox: each call counted, each result's size reserved before it is built.

:func:`counted_filter` wraps every filter (stock and plugin): a call against ``max_calls`` and the
deadline. For the stock filters that build text or lists, a *bound* (same signature as the filter,
without its context argument) gives an upper bound of the result's size, reserved with
:func:`promptyard.core.sandbox_limits.reserve` before the filter runs. Filters that walk an iterable
(``join``, ``list``, ``sort`` …) get it as a list, built item by item against the budget, so a generator
cannot grow one without bound. ``sum`` is replaced: ``sum(start=[])`` is quadratic in Python. The
``str.format`` formatter sizes each field before formatting it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

from jinja2.filters import make_attrgetter
from jinja2.sandbox import SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.utils import pass_environment

from promptyard.core.sandbox_limits import (
    budget,
    check_repeat,
    limit_error,
    limits,
    reserve,
    steps,
)
from promptyard.core.text_size import expanded_size, json_size, percent_size, pprint_size, text_size

_WIDTH = re.compile(r"\d+")


def text(value: Any) -> int:
    """Length of ``str(value)``, capped just past max_text (a longer one is refused anyway)."""
    if type(value) is str:
        return len(value)
    return text_size(value, "str", limits().max_text)


def _case(value: Any, *args: Any, **kwargs: Any) -> int:
    n = text(value)  # 'ß'.upper() is 'SS': up to 3 characters per character outside ASCII
    return n if isinstance(value, str) and value.isascii() else 3 * n


def _escaped(value: Any, *args: Any, **kwargs: Any) -> int:
    if not isinstance(value, str):
        return 6 * text(value)
    return len(value) + 4 * (value.count("&") + value.count("'") + value.count('"')) \
        + 3 * (value.count("<") + value.count(">"))


def _urlencode(value: Any) -> int:
    n = text_size(value, "repr", limits().max_text)
    return 3 * n if isinstance(value, str) and value.isascii() else 12 * n


def _width(name: str, width: Any) -> int:
    if isinstance(width, int) and not isinstance(width, bool):
        check_repeat(f"{name}() argument", width)
        return width
    return 0


def _center(value: Any, width: int = 80) -> int:
    return max(text(value), _width("center", width))


def _indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> int:
    n = text(value)
    prefix = len(width) if isinstance(width, str) else _width("indent", width)
    lines = value.count("\n") + 1 if isinstance(value, str) else n + 1
    return n + prefix * lines


def _truncate(value: Any, length: int = 255, killwords: bool = False, end: str = "...", leeway: Any = None) -> int:
    return text(value) + len(str(end))


def _wordwrap(value: Any, width: int = 79, break_long_words: bool = True, wrapstring: Any = None,
              break_on_hyphens: bool = True) -> int:
    _width("wordwrap", width)
    wrap = len(wrapstring) if isinstance(wrapstring, str) else 2
    return text(value) * (1 + wrap)  # at worst one wrapstring after every character


def _replace(value: Any, old: Any, new: Any, count: Any = None) -> int:
    n = text(value)
    if not (isinstance(old, str) and isinstance(new, str)) or len(new) <= len(old):
        return n
    hits = (n + 1 if old == "" else value.count(old) if isinstance(value, str) else n // len(old))
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return n + hits * (len(new) - len(old))


def _format(value: Any, *args: Any, **kwargs: Any) -> int:
    fmt = value if isinstance(value, str) else str(value) if text(value) <= limits().max_text else ""
    widest, size = percent_size(fmt, kwargs or args, limits().max_text)
    check_repeat("%-format width", widest)
    return size


def _join(env: Any, value: Any, d: Any = "", attribute: Any = None) -> int:
    if attribute is None and isinstance(value, (list, tuple)) and set(map(type, value)) <= {str}:
        sep = len(d) if type(d) is str else text(d)
        return sum(map(len, value)) + sep * max(len(value) - 1, 0)  # the usual case, at C speed
    items = value if attribute is None else map(make_attrgetter(env, attribute), value)
    cap, size, n = limits().max_text, 0, 0
    for item in items:
        size += len(item) if type(item) is str else text_size(item, "str", cap)
        n += 1
        if size > cap:
            break
    return size + text(d) * max(n - 1, 0)


def _tojson(value: Any, indent: Any = None) -> int:
    width = indent if isinstance(indent, int) else len(indent) if isinstance(indent, str) else 0
    if width > limits().max_indent:
        raise limit_error("max_indent", f"tojson indent of {width} is larger than the limit")
    return json_size(value, width, limits().max_text)


def _items(value: Any, *args: Any, **kwargs: Any) -> int:
    return len(value)


def _batch(value: Any, linecount: Any, fill_with: Any = None) -> int:
    return 2 * len(value) + _width("batch", linecount)


def _slice(value: Any, slices: Any, fill_with: Any = None) -> int:
    return 2 * len(value) + _width("slice", slices)


#: name -> upper bound of the result's size, called with the filter's own arguments
BOUNDS: dict[str, Callable[..., int]] = {
    "upper": _case, "lower": _case, "capitalize": _case, "title": _case,
    "trim": lambda v, *a, **k: text(v), "striptags": lambda v: text(v), "string": lambda v: text(v),
    "safe": lambda v: text(v), "wordcount": lambda v: text(v),
    "escape": _escaped, "e": _escaped, "forceescape": _escaped,
    "urlencode": _urlencode,
    "urlize": lambda v, *a, **k: text(v) * (16 + sum(len(str(x)) for x in (*a, *k.values()) if isinstance(x, str))),
    "center": _center, "indent": _indent, "truncate": _truncate, "wordwrap": _wordwrap, "replace": _replace,
    "format": _format, "join": _join, "tojson": _tojson,
    "pprint": lambda v: pprint_size(v, limits().max_text),
    "xmlattr": lambda v, autospace=True: 6 * text_size(v, "repr", limits().max_text) + 2,
    "list": _items, "sort": _items, "unique": _items, "dictsort": _items, "reverse": _items, "groupby": _items,
    "batch": _batch, "slice": _slice,
}
#: filters whose value is walked whole: a generator is turned into a list first, item by item
MATERIALIZE = frozenset({"join", "list", "sort", "unique", "dictsort", "reverse", "groupby", "batch", "slice", "sum",
                         "tojson", "pprint", "xmlattr", "urlencode"})


#: filters whose Python code walks their input item by item (or word by word, character by character):
#: name -> how many steps, counted against max_loop_iterations before they run (a sort of 10M items is 40 s)
_LEN = len
#: (None: the number of items of the input, found inline)
WORK: dict[str, Callable[[Any], int] | None] = {
    **dict.fromkeys(("sort", "unique", "dictsort", "groupby", "batch", "slice", "sum", "min", "max", "map", "select",
                     "reject", "selectattr", "rejectattr", "join", "list", "reverse", "items", "xmlattr", "random",
                     "pprint", "tojson")),
    "striptags": lambda v: v.count("&") if isinstance(v, str) else 0,  # each entity is unescaped in Python
    **dict.fromkeys(("title", "wordwrap", "urlize", "truncate"), lambda v: _LEN(v) // 2 if isinstance(v, str) else 0),
    "urlencode": lambda v: _LEN(v) if isinstance(v, (str, dict, list, tuple)) else 0,
}


def materialize(value: Any) -> Any:
    """``value`` if it is a str, list, tuple or dict; else its items as a list, each one reserved and counted."""
    if isinstance(value, (str, list, tuple, dict)):
        return value
    items, chunk = [], 4096
    for item in value:
        items.append(item)
        if len(items) % chunk == 0:
            reserve("a list", chunk)
            steps("a generator", chunk)
    reserve("a list", len(items) % chunk)
    steps("a generator", len(items) % chunk)
    return items


@pass_environment
def bounded_sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """Jinja's ``sum``, in linear time when it concatenates lists (``sum(start=[])`` is quadratic)."""
    items = materialize(iterable)
    if attribute is not None:
        items = list(map(make_attrgetter(environment, attribute), items))
    if isinstance(start, (list, tuple)) and all(isinstance(x, (list, tuple)) for x in items):
        for x in items:
            if not isinstance(x, type(start)):
                raise TypeError(f"can only concatenate {type(start).__name__} (not {type(x).__name__!r}) "
                                f"to {type(start).__name__}")
        reserve("sum", len(start) + sum(map(len, items)))
        b = budget()
        if b is not None:
            cap = b.limits.max_text
            n = 1 + sum(expanded_size(x, b.shapes, cap) - 1 for x in (start, *items))
            if n > cap:
                raise limit_error("max_text", f"sum would nest {n} items in all (counted through nested lists)")
        return type(start)(itertools.chain(start, *items))
    return sum(items, start)



def counted_filter(name: str, func: Callable[..., Any], stock: bool) -> Callable[..., Any]:
    """``func`` counted against max_calls; a stock filter's result size reserved before it runs."""
    pass_arg = getattr(func, "jinja_pass_arg", None)
    skip = 1 if pass_arg is not None else 0  # (context,) value, then the arguments
    bound = BOUNDS.get(name) if stock else None
    walk = stock and name in MATERIALIZE
    counts_work = stock and name in WORK
    work = WORK.get(name) if stock else None

    def counted(*args: Any, **kwargs: Any) -> Any:
        b = budget()
        if b is not None:
            b.call()
        if len(args) > skip and (bound is not None or walk or counts_work):
            value = args[skip]
            if walk and not isinstance(value, (str, list, tuple, dict)):
                value = materialize(value)
                args = (*args[:skip], value, *args[skip + 1:])
            if counts_work and b is not None:
                n = work(value) if work is not None else len(value) if hasattr(value, "__len__") else 0
                if n > b.loops or n >= 65536:  # past the budget, or long enough to read the clock
                    b.steps(f"|{name}", n)
                else:
                    b.loops -= n
            if bound is not None:
                if name == "join":  # its attribute= is looked up through the sandbox's getattr
                    size = bound(getattr(args[0], "environment", None), value, *args[skip + 1:], **kwargs)
                else:
                    size = bound(value, *args[skip + 1:], **kwargs)
                if b is not None:
                    b.reserve(f"|{name}", size)
                else:
                    reserve(f"|{name}", size)
        return func(*args, **kwargs)

    if pass_arg is not None:
        counted.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    counted.__name__ = getattr(func, "__name__", name)
    counted.__wrapped__ = func  # type: ignore[attr-defined]
    return counted


# --------------------------------------------------------------------------------------------------
# str methods called from a template (``s.upper()``, ``sep.join(xs)``): bound by method name
# --------------------------------------------------------------------------------------------------

def _method_join(owner: str, items: Any) -> int:
    if isinstance(items, str):  # one piece per character
        return len(items) + len(owner) * max(len(items) - 1, 0)
    return sum(len(x) for x in items if isinstance(x, str)) + len(owner) * max(len(items) - 1, 0)


def _pad(name: str) -> Callable[..., int]:
    def bound(owner: str, width: Any = 0, *args: Any) -> int:
        return max(len(owner), _width(name, width))

    return bound


def _expandtabs(owner: str, tabsize: Any = 8) -> int:
    return len(owner) + owner.count("\t") * _width("expandtabs", tabsize)


def _translate(owner: str, table: Any) -> int:
    widest = max((len(v) for v in table.values() if isinstance(v, str)), default=1) if isinstance(table, dict) else 1
    return len(owner) * max(widest, 1)


def _split(owner: str, *args: Any, **kwargs: Any) -> int:
    return 2 * len(owner) + 1  # the pieces' characters, and one list item per piece


STR_METHODS: dict[str, Callable[..., int]] = {
    "upper": lambda o: _case(o), "lower": lambda o: _case(o), "capitalize": lambda o: _case(o),
    "title": lambda o: _case(o), "swapcase": lambda o: _case(o), "casefold": lambda o: _case(o),
    "center": _pad("center"), "ljust": _pad("ljust"), "rjust": _pad("rjust"), "zfill": _pad("zfill"),
    "expandtabs": _expandtabs, "translate": _translate, "join": _method_join,
    "replace": lambda o, old, new, count=-1: _replace(o, old, new, count),
    "split": _split, "rsplit": _split, "splitlines": _split, "partition": _split, "rpartition": _split,
    "encode": lambda o, *a, **k: 4 * len(o),
}


def check_str_method(owner: str, name: str, args: tuple, kwargs: dict[str, Any]) -> tuple:
    """Reserve what ``owner.name(*args)`` would build; returns args (an iterable handed to join as a list)."""
    if name == "join" and len(args) == 1 and not isinstance(args[0], (str, list, tuple)):
        args = (list(materialize(args[0])),)  # a dict joins its keys
    bound = STR_METHODS.get(name)
    if bound is not None:
        if "_loop_vars" in kwargs or "_block_vars" in kwargs:  # Jinja adds these in loops; the call drops them
            kwargs = {k: v for k, v in kwargs.items() if k not in ("_loop_vars", "_block_vars")}
        reserve(f"str.{name}()", bound(owner, *args, **kwargs))
    return args


class BoundedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox: each field's text reserved before it is formatted (``"{0}" * n``)."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion in ("r", "a"):
            size = text_size(value, "repr", limits().max_text)
            reserve("str.format()", size * (10 if conversion == "a" else 1))
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        widths = [int(w) for w in _WIDTH.findall(format_spec)]
        widest = max(widths, default=0)
        check_repeat("format width", widest)
        size = len(value) if type(value) is str else text_size(value, "str", limits().max_text)
        reserve("str.format()", size + widest + 24)
        return super().format_field(value, format_spec)


class BoundedEscapeFormatter(BoundedFormatter, SandboxedEscapeFormatter):
    """The same, for ``Markup`` strings (``("{:{}}"|safe).format(...)``)."""


__all__ = ["BOUNDS", "MATERIALIZE", "WORK", "BoundedEscapeFormatter", "BoundedFormatter", "bounded_sum",
           "check_str_method", "counted_filter", "materialize", "text"]
