"""Inferring the variable contract of a template from its parsed Jinja2 sources.

Inference is deliberately simple (see docs/templates.md):

- every name the template reads but never sets is a variable (``jinja2.meta.find_undeclared_variables``),
  minus the sandbox globals (``range``, plugin globals …) and, for *dynamic* templates, ``examples`` and the
  registered value providers;
- type hint: ``list`` when the name is iterated in a ``for``, or indexed with an integer; ``dict`` when an
  attribute or a string key of it is read; otherwise ``str``;
- ``required`` is false when the name is only ever used under ``|default(...)`` or ``is defined``.

A plain template (text and ``{{ name }}`` only) gets the same contract without Jinja2 from
:func:`promptyard.core.plain.plain_contract`.
"""

from __future__ import annotations

from collections.abc import Iterable

from jinja2 import meta, nodes

from promptyard.core.template import Variable

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


__all__ = ["infer"]
