"""How long ``str(x)``, ``repr(x)`` or ``json.dumps(x)`` would be, found without building it.

A list holding the same 10M-character string 250 times takes 2 KB; printed, it is 2.5 GB. The sandbox
asks :func:`text_size` before it prints, joins, formats or serializes a value. The walk visits each
distinct container once (aliases are counted, not walked again) and stops as soon as the size passes
the caller's limit, so it costs at most the value's real size in memory.

It also refuses values whose only text form is a heap address (``{{ range }}`` would print
``<function bounded_range at 0x7f…>``): functions, methods, classes, modules, generators, iterators and
objects with Python's default repr.

Jinja2's own types (Undefined, Namespace, loop and macro objects) are sized too, but only a render on the
Jinja path makes them: the plain-template path sizes plain data without importing Jinja2.
"""

from __future__ import annotations

import json
import re
import types
from typing import Any

from promptyard.core.errors import RenderError
from promptyard.core.sandbox_limits import limits, reserve, steps

_CHUNK = 4096
_ADDRESS_TYPES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.LambdaType, type,
                  types.ModuleType, types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType,
                  types.MethodWrapperType, types.WrapperDescriptorType, types.MethodDescriptorType,
                  types.CodeType, types.FrameType, types.TracebackType)
_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))
_SMALL = {bool: 5, type(None): 4, float: 24, complex: 50}


def _str_len(s: str, mode: str) -> int:
    if mode == "str":
        return len(s)
    dump = repr if mode == "repr" else json.dumps
    if len(s) <= _CHUNK:
        return len(dump(s))
    # chunk by chunk: bounded memory; quotes may be escaped in one chunk and not another, so add them
    total = sum(len(dump(s[i:i + _CHUNK])) - 2 for i in range(0, len(s), _CHUNK))
    return total + 2 + s.count("'") + s.count('"')


def unprintable(value: Any) -> RenderError:
    """The error for printing a value that has no text form but a heap address."""
    if isinstance(value, (types.GeneratorType, types.BuiltinFunctionType, types.FunctionType, types.MethodType)) \
            and not isinstance(value, types.GeneratorType):
        what = f"function {getattr(value, '__name__', '?')!r}"
        hint = "call it, e.g. range(3), or print a value"
    elif isinstance(value, type):
        what, hint = f"class {value.__name__!r}", "print a value, not a class"
    else:
        what = f"a {type(value).__name__}"
        hint = "a generator or iterator needs |list or |join; other objects need a filter that makes text"
    return RenderError(f"cannot print {what}: it has no text form", hint=hint)


def _has_address_repr(value: Any) -> bool:
    if isinstance(value, _ADDRESS_TYPES):
        return True
    cls = type(value)
    return cls.__repr__ is object.__repr__ and (cls.__str__ is object.__str__ or cls.__str__ is object.__repr__)


def text_size(value: Any, mode: str = "str", limit: int = 1 << 62) -> int:
    """Length of ``str(value)`` (mode ``"str"``), ``repr(value)`` or ``json.dumps(value)``; > limit once past it.

    An upper bound, exact for plain strings; raises RenderError for a value with no text form.
    """
    cls = type(value)
    if cls is str:  # the hot path: printing a variable
        return _str_len(value, mode)
    return _Walk(mode, limit).size(value, mode)


def printed(value: Any) -> str:
    """What ``{{ value }}`` prints (not autoescaped): sized and reserved before it is built; no heap addresses."""
    if type(value) is str:
        return value  # str(s) is s: nothing is built (the output is charged as it streams)
    reserve("printing a value", text_size(value, "str", limits().max_text))
    return str(value)


class _Walk:
    __slots__ = ("depth_sum", "items", "limit", "memo", "mode")

    def __init__(self, mode: str, limit: int):
        self.mode, self.limit = mode, limit
        self.memo: dict[int, int] = {}
        self.items = 0  # scalars and containers met (json indent and pprint add per item)
        self.depth_sum = 0  # sum of nesting depths (json indent and pprint indent per level)

    def size(self, value: Any, mode: str, depth: int = 0) -> int:
        self.items += 1
        self.depth_sum += depth
        cls = type(value)
        if isinstance(value, str):  # str, Markup
            return _str_len(value, mode)
        if cls is int:
            bits = value.bit_length()
            return 20 if bits < 64 else bits * 30103 // 100000 + 2
        if cls in _SMALL:
            return _SMALL[cls]
        if isinstance(value, (list, tuple, set, frozenset, dict, *_VIEWS)):
            return self._container(value, depth)
        # only a render on the Jinja path makes these, and it has imported Jinja2 already
        from jinja2.runtime import LoopContext, Macro, Undefined
        from jinja2.utils import Namespace

        if isinstance(value, Undefined):
            str(value)  # StrictUndefined raises its own error here
            return 0
        if isinstance(value, Namespace):
            return self._container(value, depth)
        if isinstance(value, (bytes, bytearray)):
            return 4 * len(value) + 14
        if isinstance(value, (range, LoopContext, Macro)):
            return len(repr(value))
        if _has_address_repr(value):
            raise unprintable(value)
        # a plugin's own type with its own text form: it answers for its size
        return len(str(value) if mode == "str" else repr(value))

    def _container(self, value: Any, depth: int) -> int:
        key = id(value)
        seen = self.memo.get(key)
        if seen is not None:
            return seen
        flat = _flat_size(value, self.mode, self.limit)
        if flat is not None:  # a list of plain strings or small numbers: sized at C speed
            self.items += len(value)
            self.depth_sum += (depth + 1) * len(value)
            self.memo[key] = flat
            return flat
        steps("sizing a value", len(value))  # walked in Python: counted like loop steps
        self.memo[key] = 5  # a cycle prints as [...]
        inner = "json" if self.mode == "json" else "repr"
        namespace = not isinstance(value, (list, tuple, set, frozenset, dict, *_VIEWS))  # a Jinja2 Namespace
        size = 2 + (11 if namespace else 12 if isinstance(value, _VIEWS) else 0)
        if namespace:
            value = dict(value._Namespace__attrs)  # noqa: SLF001 (what its repr prints)
        pairs = value.items() if isinstance(value, (dict, type({}.items()))) else None
        for item in (pairs if pairs is not None else value):
            if pairs is not None:
                k, v = item
                size += self.size(k, inner, depth + 1) + self.size(v, inner, depth + 1) + 4
            else:
                size += self.size(item, inner, depth + 1) + 2
            if size > self.limit:  # stop early; not memoized, the caller refuses it anyway
                return size
        self.memo[key] = size
        return size


def _flat_size(value: Any, mode: str, limit: int) -> int | None:
    """Size of a list or tuple holding only str (or only ints of at most 18 digits) in ``mode``, else None."""
    if not isinstance(value, (list, tuple)) or not value:
        return None
    kinds = set(map(type, value))
    if kinds == {str}:
        chars = sum(map(len, value))
        if chars > limit:  # too long already: not worth scanning (the same string 250 times is 250 scans)
            return chars
        if mode == "str" or mode == "repr" and all(map(str.isprintable, value)) or mode == "json" and all(
                map(str.isascii, value)) and all(map(str.isprintable, value)):
            quotes = sum(map(str.count, value, "'" * len(value))) + sum(map(str.count, value, '"' * len(value)))
            extra = 4 + (1 if mode != "str" else 0)  # quotes, comma, space; escaped backslash/quote, roughly
            backslashes = sum(map(str.count, value, "\\" * len(value)))
            return 2 + chars + extra * len(value) + quotes + backslashes
        return None
    if kinds == {int} and -10**18 < min(value) and max(value) < 10**18:
        return 2 + 22 * len(value)
    return None


def json_size(value: Any, indent: int, limit: int) -> int:
    """Length of Jinja's ``tojson`` of ``value`` with ``indent`` spaces per level (an upper bound)."""
    walk = _Walk("json", limit)
    size = walk.size(value, "json")
    # htmlsafe_json_dumps turns < > & ' into \\u003c (6 characters); each newline adds indent per level
    return size * 6 + (walk.items * 2 + walk.depth_sum * indent if indent else 0)


def pprint_size(value: Any, limit: int) -> int:
    """Length of ``pprint.pformat(value)``: its repr plus a newline and one space per level for each item."""
    walk = _Walk("repr", limit)
    size = walk.size(value, "repr")
    return size + 2 * walk.items + walk.depth_sum


_PERCENT = re.compile(r"%(?:\(([^)]*)\))?([-#0 +]*)(\*|\d*)(?:\.(\*|\d*))?[hlL]?([diouxXeEfFgGcrsa%])")


def percent_size(fmt: str, args: Any, limit: int) -> tuple[int, int]:
    """(longest width or precision, length of ``fmt % args``): an upper bound, found before formatting."""
    positional = list(args) if isinstance(args, tuple) else [args]
    widest, total, i = 0, len(fmt), 0

    def take() -> Any:
        nonlocal i
        value = positional[i] if i < len(positional) else ""
        i += 1
        return value

    for name, _flags, width, precision, conv in _PERCENT.findall(fmt):
        if conv == "%":
            continue
        w = take() if width == "*" else int(width or 0)
        p = take() if precision == "*" else int(precision or 0)
        w = w if isinstance(w, int) else 0
        p = p if isinstance(p, int) else 0
        widest = max(widest, abs(w), abs(p))
        value = args.get(name, "") if name and isinstance(args, dict) else take() if not name else ""
        mode = "repr" if conv in "ra" else "str"
        size = text_size(value, mode, limit) * (10 if conv == "a" else 1)
        total += max(abs(w), size + abs(p) + 24)
        if total > limit:
            break
    return widest, total


def expanded_size(value: Any, memo: dict[int, tuple[Any, int]], limit: int) -> int:
    """Items in ``value`` counted through every nested list, tuple and dict, aliases counted each time.

    ``[t, t]`` repeated in a loop is a few bytes that compares, hashes and sorts in 2**n steps (C code no
    deadline can stop); the sandbox refuses to build a container whose count passes ``limit``. Walks each
    distinct container once (``memo``, kept by the render's budget, also keeps them alive so ids stay valid).
    """
    if not isinstance(value, (list, tuple, dict)):
        return 1
    key = id(value)
    hit = memo.get(key)
    if hit is not None and hit[0] is value:
        return hit[1]
    items = value.values() if isinstance(value, dict) else value
    if not any(issubclass(kind, (list, tuple, dict)) for kind in set(map(type, items))):
        return len(value) + 1  # flat: counted at C speed, not remembered
    memo[key] = (value, 1)  # a cycle counts once
    n = 1
    for item in items:
        n += expanded_size(item, memo, limit)
        if n > limit:
            break
    if n > len(value) + 1:  # only containers of containers are remembered: the rest are cheap to count again
        memo[key] = (value, n)
    else:
        del memo[key]
    return n


__all__ = ["expanded_size", "json_size", "percent_size", "pprint_size", "printed", "text_size", "unprintable"]
