"""The variable contract: inferring it from a template, and checking values against it.

Inference is deliberately simple (see docs/templates.md):

- every name the template reads but never sets is a variable (``jinja2.meta.find_undeclared_variables``),
  minus the sandbox globals (``range``, plugin globals …) and, for *dynamic* templates, ``examples`` and the
  registered value providers;
- type hint: ``list`` when the name is iterated in a ``for``, or indexed with an integer; ``dict`` when an
  attribute or a string key of it is read; otherwise ``str``;
- ``required`` is false when the name is only ever used under ``|default(...)`` or ``is defined``.

Inferred types are hints: only a *declared* contract has its types enforced, so a template without
declarations accepts any plain value (str, int, float, bool, list, dict) for its variables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Any

from jinja2 import meta, nodes

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
# inference
# --------------------------------------------------------------------------------------------------

def _hints(ast: nodes.Template, names: set[str]) -> tuple[dict[str, str], set[str], dict[str, int]]:
    """Type hints, names seen outside ``default``/``is defined``, and first line of each name."""
    hints: dict[str, str] = {}
    required: set[str] = set()
    first_line: dict[str, int] = {}
    guarded: set[int] = set()

    for node in ast.find_all(nodes.For):
        if isinstance(node.iter, nodes.Name) and node.iter.name in names:
            hints.setdefault(node.iter.name, "list")
        # {% for k, v in d.items() %} -> dict
        it = node.iter
        if isinstance(it, nodes.Call) and isinstance(it.node, nodes.Getattr) \
                and isinstance(it.node.node, nodes.Name) and it.node.node.name in names \
                and it.node.attr in ("items", "keys", "values"):
            hints[it.node.node.name] = "dict"
    for node in ast.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name in names:
            hints.setdefault(node.node.name, "dict")
    for node in ast.find_all(nodes.Getitem):
        if isinstance(node.node, nodes.Name) and node.node.name in names \
                and isinstance(node.arg, nodes.Const):
            hints.setdefault(node.node.name, "dict" if isinstance(node.arg.value, str) else "list")
    for node in ast.find_all((nodes.Filter, nodes.Test)):
        if isinstance(node.node, nodes.Name) and (
                (isinstance(node, nodes.Filter) and node.name in ("default", "d"))
                or (isinstance(node, nodes.Test) and node.name in ("defined", "undefined"))):
            guarded.add(id(node.node))
    # {% if x is defined %}...{{ x }}...{% endif %}: uses inside the guarded block are optional too
    for node in ast.find_all(nodes.If):
        test = node.test
        if isinstance(test, nodes.Test) and test.name == "defined" and isinstance(test.node, nodes.Name):
            for child in node.body:
                for name in child.find_all(nodes.Name):
                    if name.name == test.node.name:
                        guarded.add(id(name))
    for node in ast.find_all(nodes.Name):
        if node.name in names and node.ctx == "load":
            first_line.setdefault(node.name, node.lineno)
            if id(node) not in guarded:
                required.add(node.name)
    return hints, required, first_line


def infer(asts: Iterable[tuple[str, nodes.Template]],
          reserved: Iterable[str] = ()) -> tuple[list[Variable], dict[str, str]]:
    """The contract inferred from parsed sources, and where each variable is first used."""
    reserved = set(reserved)
    hints: dict[str, str] = {}
    required: set[str] = set()
    where: dict[str, str] = {}
    order: list[str] = []
    for location, ast in asts:
        names = set(meta.find_undeclared_variables(ast)) - reserved
        h, r, lines = _hints(ast, names)
        lines.update({n: 1 for n in sorted(names) if n not in lines})
        for name in lines:  # first use, in source order
            if name not in where:
                where[name] = f"{location} line {lines.get(name, 1)}"
                order.append(name)
        for name, hint in h.items():
            hints.setdefault(name, hint)
        required |= r
    why = {"list": "inferred (list: iterated or indexed)", "dict": "inferred (dict: keys read)"}
    variables = [Variable(name=n, type=hints.get(n, "str"), required=n in required,
                          description=why.get(hints.get(n, ""), "inferred"))
                 for n in order]
    return variables, where


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


__all__ = ["bind", "infer", "matches", "type_name"]
