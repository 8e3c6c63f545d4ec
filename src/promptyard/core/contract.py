"""The variable contract: checking values against it (inferring it from a template is
:mod:`promptyard.core.inference`, which needs Jinja2's parser; checking does not).

Inferred types are hints: only a *declared* contract has its types enforced, so a template without
declarations accepts any plain value (str, int, float, bool, list, dict) for its variables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Any

from promptyard.core.errors import RenderError
from promptyard.core.template import Variable

_SCALARS = frozenset({str, int, float, bool, type(None)})
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (float, int), "bool": (bool,),
    "list": (list, tuple), "dict": (dict,),
}


def type_name(value: Any) -> str:
    """The contract type name of a Python value (``tuple`` counts as list)."""
    for name in ("bool", "int", "float", "str", "list", "dict"):
        if isinstance(value, _PYTHON_TYPES[name][0]):
            return name
    return type(value).__name__


def matches(value: Any, vtype: str) -> bool:
    """Whether ``value`` fits the declared type: bool is not int; int is accepted for float."""
    if isinstance(value, bool) and vtype != "bool":
        return False
    return isinstance(value, _PYTHON_TYPES[vtype])


# --------------------------------------------------------------------------------------------------
# checking values
# --------------------------------------------------------------------------------------------------

def _not_plain(value: Any) -> str | None:
    """None if ``value`` is plain data all the way down, else what is not (``"function inside list"``).

    Plain: str, int, float, bool, None, list, tuple, dict. Nested values are checked too: a callable
    inside a list is as reachable from a template as one at the top.
    """
    stack: list[tuple[Any, type | None]] = [(value, None)]  # (value, type of the container it is in)
    while stack:
        item, container = stack.pop()
        kind = type(item)
        if kind in _SCALARS:
            continue
        if isinstance(item, (list, tuple)):
            children: Iterable[Any] = item
        elif isinstance(item, dict):
            children = chain(item, item.values())
        elif isinstance(item, (str, int, float)):  # subclasses, e.g. markupsafe.Markup
            continue
        else:
            return kind.__name__ + (f" inside {container.__name__}" if container else "")
        # exact type look-ups skip the scalars (most of any large value) without a tuple each
        stack.extend((child, kind) for child in children if type(child) not in _SCALARS)
    return None


def bind(contract: list[Variable], declared: bool, values: Mapping[str, Any], *,
         allowed_extra: Iterable[str] = (), where: str | None = None) -> dict[str, Any]:
    """The render context: values checked against the contract, defaults applied.

    Every problem (missing, extra, wrongly typed) is collected and raised as one RenderError.
    """
    if not isinstance(values, Mapping):
        raise RenderError(f"variables must be a mapping of name to value, got {type(values).__name__}",
                          where=where)
    problems: list[str] = []
    context: dict[str, Any] = {}
    known = {v.name for v in contract}
    for var in contract:
        if var.name in values:
            value = values[var.name]
            if value is None and not var.required:
                continue
            if declared and not matches(value, var.type):
                problems.append(f"variable {var.name!r} must be {var.type}, "
                                f"got {type_name(value)} ({value!r:.40})")
            elif (foreign := _not_plain(value)) is not None:
                problems.append(f"variable {var.name!r} must be plain data "
                                f"(str, int, float, bool, list, dict), got {foreign}")
            else:
                context[var.name] = value
        elif var.default is not None:
            context[var.name] = var.default
        elif var.required:
            problems.append(f"missing variable {var.name!r} ({var.type})")
    allowed = set(allowed_extra)
    extra = [name for name in values if name not in known and name not in allowed]
    for name in extra:
        problems.append(f"unexpected variable {name!r}")
    if problems:
        hint = f"the template takes: {', '.join(sorted(known)) or 'no variables'}"
        raise RenderError("bad variables", problems=problems, where=where, hint=hint)
    return context


__all__ = ["bind", "matches", "type_name"]
