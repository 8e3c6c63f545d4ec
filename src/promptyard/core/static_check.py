"""The sandbox's first layer: refuse a parsed template that reaches for what no prompt needs.

Names or attributes starting with ``_``, known escape attributes such as ``mro`` or ``func_globals``
(also when handed to ``|attr``, ``|map(attribute=...)`` …) and ``include``/``import``/``extends`` are
refused before the template is compiled, so a bad template fails at commit time, with every problem listed.
Computed names are left to the sandbox at render time (:mod:`promptyard.core.sandbox`).
"""

from __future__ import annotations

from collections.abc import Iterator

from jinja2 import nodes

from promptyard.core.errors import SandboxViolation

#: attribute names refused anywhere, even on objects the stock sandbox would allow them on
UNSAFE_ATTRIBUTES = frozenset({
    "mro", "func_globals", "func_code", "func_closure", "func_defaults", "gi_frame", "gi_code",
    "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code", "f_globals", "f_locals",
    "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "co_code", "im_func", "im_self", "im_class",
})
_ATTRIBUTE_FILTERS = frozenset({"attr", "selectattr", "rejectattr", "groupby", "sort", "unique", "sum", "min",
                                "max"})


def _unsafe_name(name: str) -> bool:
    return name.startswith("_") or name in UNSAFE_ATTRIBUTES


def static_check(ast: nodes.Template, location: str) -> None:
    """Raise one SandboxViolation listing every construct no prompt needs and every escape uses."""
    problems: dict[str, int] = {}  # problem -> first line
    for node in _postorder(ast):  # innermost first: x.__class__.__mro__ reports __class__ first
        for problem in _node_problems(node):
            problems[problem] = min(problems.get(problem, node.lineno), node.lineno)
    if problems:
        ordered = sorted(problems, key=lambda p: problems[p])
        raise SandboxViolation("sandbox violation", problems=ordered,
                               where=f"{location} line {problems[ordered[0]]}",
                               hint="templates may only use their variables, filters and globals")


def _postorder(node: nodes.Node) -> Iterator[nodes.Node]:
    for child in node.iter_child_nodes():
        yield from _postorder(child)
    yield node


def _node_problems(node: nodes.Node) -> list[str]:
    if isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        tag = type(node).__name__.lower().replace("fromimport", "from ... import")
        return [f"'{tag}' is not supported: a template cannot load other templates"]
    if isinstance(node, nodes.Name) and node.name.startswith("_"):
        return [f"name {node.name!r} starts with '_'"]
    if isinstance(node, nodes.Getattr) and _unsafe_name(node.attr):
        return [f"attribute {node.attr!r} is not accessible"]
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
            and isinstance(node.arg.value, str) and _unsafe_name(node.arg.value):
        return [f"item {node.arg.value!r} is not accessible"]
    if isinstance(node, nodes.Filter):
        # attribute names handed to filters: x|attr('__class__'), x|map(attribute='__class__') …
        named = [kw.value for kw in node.kwargs if kw.key == "attribute"]
        if node.name in _ATTRIBUTE_FILTERS:
            named += node.args[:1]
        return [f"attribute {arg.value!r} is not accessible" for arg in named
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str)
                and any(_unsafe_name(part) for part in arg.value.split("."))]
    return []


__all__ = ["UNSAFE_ATTRIBUTES", "static_check"]
