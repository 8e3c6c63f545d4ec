"""``prompt render`` without typer: read variables, render, print. Shared by the fast path and the typer command.

This module must not import typer, rich or SQLAlchemy: scripts and services call ``prompt render`` cold, many
times, and typer alone costs more than the rest of the command.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from promptyard.core.errors import RenderError, UsageError
from promptyard.core.text_files import decode, parse_json, read_text
from promptyard.registry.api import Registry


def coerce(value: str, vtype: str | None) -> Any:
    """A ``-v key=value`` string as the contract's type (JSON for non-strings)."""
    if vtype in ("int", "float", "bool", "list", "dict"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value  # the renderer reports the wrong type with the variable's name
    return value


def read_variables(pairs: list[str] | None, vars_file: Path | str | None, contract: list[dict[str, Any]],
                   stdin: Any = None) -> dict[str, Any]:
    """Variables from ``--vars FILE`` (``-`` for stdin), else JSON on a non-terminal stdin, then ``-v`` pairs."""
    stdin = stdin or sys.stdin
    types = {v.get("name"): v.get("type") for v in contract}
    values: dict[str, Any] = {}
    text, where = None, None
    if vars_file is not None:
        where = str(vars_file)
        if where == "-":
            text = _read_stdin(stdin, where)
        else:
            text = read_text(vars_file, what="variables file", error=UsageError, allow_empty=True)
    elif not pairs and not stdin.isatty():
        text, where = _read_stdin(stdin, "stdin"), "stdin"
    if text and text.strip():
        data = parse_json(text, where=where, error=UsageError)
        if not isinstance(data, dict):
            raise UsageError("variables must be a JSON object", where=where, hint='e.g. {"x": 1}')
        values.update(data)
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"expected key=value, got {pair!r}", where="-v")
        values[key] = coerce(value, types.get(key))
    return values


def _read_stdin(stdin: Any, where: str) -> str:
    """All of stdin as text; a UsageError, not a UnicodeDecodeError, when it is not UTF-8."""
    raw = getattr(stdin, "buffer", None)
    if raw is not None:
        return decode(raw.read(), where=where, what="variables", error=UsageError, allow_empty=True)
    try:
        return stdin.read()
    except UnicodeDecodeError as exc:
        raise UsageError(f"variables are not UTF-8 text (byte {exc.start})", where=where) from None


def run_render(registry: str | None, ref: str, pairs: list[str] | None, vars_file: Path | str | None,
               seed: int | None, as_json: bool) -> None:
    """``promptyard prompt render``: print text, JSON messages for *multi*, or the full result with --json."""
    with Registry.open(registry) as reg:
        version = reg.resolve(ref)
        variables = read_variables(pairs, vars_file, version.contract)
        try:
            # the exact version resolved above: a label moved meanwhile must not pair one contract with another text
            rendered = reg.render(version.ref, variables, seed=seed)
        except RenderError as exc:  # say which prompt version the variables did not fit
            exc.where = f"{version.ref}: {exc.where}" if exc.where else version.ref
            raise
    if as_json:
        out = json.dumps(rendered.to_json(), indent=2, default=str, ensure_ascii=False) + "\n"
    elif rendered.messages is not None:
        out = json.dumps(rendered.messages, indent=2, ensure_ascii=False) + "\n"
    else:
        out = rendered.text + ("" if rendered.text.endswith("\n") else "\n")
    sys.stdout.write(out)


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def parse_render_args(args: list[str]) -> dict[str, Any] | None:
    """The render command's arguments, or None when ``args`` is anything the fast path does not handle."""
    if os.environ.get("PROMPTYARD_DEBUG"):
        return None  # tracebacks are the typer path's business
    registry = os.environ.get("PROMPTYARD_REGISTRY") or None
    i = 0
    while i < len(args) and args[i] == "--registry" and i + 1 < len(args):
        registry, i = args[i + 1], i + 2
    if args[i:i + 2] != ["prompt", "render"]:
        return None
    out: dict[str, Any] = {"registry": registry, "ref": None, "pairs": [], "vars_file": None, "seed": None,
                           "as_json": False}
    rest = args[i + 2:]
    j = 0
    while j < len(rest):
        arg = rest[j]
        if arg in ("-v", "--var") and j + 1 < len(rest):
            out["pairs"].append(rest[j + 1])
            j += 2
        elif arg.startswith("--var="):
            out["pairs"].append(arg.split("=", 1)[1])
            j += 1
        elif arg == "--vars" and j + 1 < len(rest):
            out["vars_file"], j = rest[j + 1], j + 2
        elif arg == "--seed" and j + 1 < len(rest) and _int(rest[j + 1]) is not None:
            out["seed"], j = _int(rest[j + 1]), j + 2
        elif arg == "--json":
            out["as_json"], j = True, j + 1
        elif not arg.startswith("-") and out["ref"] is None:
            out["ref"], j = arg, j + 1
        else:
            return None  # --help, typos, anything unusual: typer handles it and explains
    return out if out["ref"] is not None else None
