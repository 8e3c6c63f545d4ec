"""Search spaces: a method's default space or a YAML file, validated, then turned into Ray Tune domains.

The file format (also what ``TuningMethod.default_search_space()`` returns)::

    lr:      {loguniform: [1.0e-5, 1.0e-2]}   # log-uniform float in [low, high)
    dropout: {uniform: [0.0, 0.3]}            # uniform float in [low, high)
    r:       {choice: [4, 8, 16]}             # one of the values
    epochs:  {int: [1, 3]}                    # integer in [low, high], both ends included
    warmup:  {randint: [0, 100]}              # integer in [low, high), Ray's convention
    alpha:   16                               # a constant (not searched)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from promptyard.core.errors import ValidationError
from promptyard.core.yaml_files import load_data_file

KINDS = ("choice", "uniform", "loguniform", "int", "randint")
_SCALARS = (str, int, float, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_entry(key: str, value: Any, where: str) -> None:
    """Raise a ValidationError naming ``where`` when one space entry is not valid."""
    if isinstance(value, _SCALARS) or value is None:
        return
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ValidationError(
            f"'{key}' must be a constant or a one-key mapping like {{choice: [...]}}", where=where,
            hint=f"kinds: {', '.join(KINDS)}")
    (kind, args), = value.items()
    if kind not in KINDS:
        raise ValidationError(f"'{key}' has unknown kind '{kind}'", where=where,
                              hint=f"use one of: {', '.join(KINDS)}")
    if not isinstance(args, list) or not args:
        raise ValidationError(f"'{key}': {kind} takes a non-empty list", where=where,
                              hint="e.g. [1.0e-5, 1.0e-2]" if kind != "choice" else "e.g. [4, 8, 16]")
    if kind == "choice":
        if not all(isinstance(a, _SCALARS) for a in args):
            raise ValidationError(f"'{key}': choice values must be strings, numbers or booleans", where=where)
        return
    if len(args) != 2 or not all(_is_number(a) for a in args):
        raise ValidationError(f"'{key}': {kind} takes two numbers [low, high], got {args!r}", where=where)
    low, high = args
    if kind in ("int", "randint") and not all(isinstance(a, int) for a in args):
        raise ValidationError(f"'{key}': {kind} bounds must be integers, got {args!r}", where=where)
    if (kind == "int" and low > high) or (kind != "int" and low >= high):
        raise ValidationError(f"'{key}': low must be below high, got {args!r}", where=where)
    if kind == "loguniform" and low <= 0:
        raise ValidationError(f"'{key}': loguniform needs low > 0, got {low!r}", where=where)


def validate_space(space: Mapping[str, Any], *, source: str = "search space",
                   lines: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Check every entry; errors name the source, the key and (for files) its line."""
    if not isinstance(space, Mapping) or not space:
        raise ValidationError("a search space must be a non-empty mapping of parameter names", where=source)
    for key, value in space.items():
        where = f"{source} line {lines[key]}, key '{key}'" if lines and key in lines else f"{source}: '{key}'"
        if not isinstance(key, str) or not key:
            raise ValidationError(f"parameter names must be strings, got {key!r}", where=where)
        _check_entry(key, value, where)
    return dict(space)


def load_space_file(path: str | Path) -> dict[str, Any]:
    """Read and validate a YAML space file (errors name the file, the key and its line)."""
    doc = load_data_file(path, what="search space file")
    if not isinstance(doc.data, Mapping):
        raise ValidationError("the file must hold a mapping of parameter name to range", where=doc.source)
    lines = {str(key[0]): line for key, line in doc.lines.items() if len(key) == 1}
    return validate_space(doc.data, source=doc.source, lines=lines)


def to_tune(space: Mapping[str, Any]) -> dict[str, Any]:
    """Ray Tune domains (``tune.choice`` …) for a validated space; constants pass through."""
    from ray import tune

    out: dict[str, Any] = {}
    for key, value in space.items():
        if not isinstance(value, Mapping):
            out[key] = value
            continue
        (kind, args), = value.items()
        if kind == "choice":
            out[key] = tune.choice(list(args))
        elif kind == "uniform":
            out[key] = tune.uniform(float(args[0]), float(args[1]))
        elif kind == "loguniform":
            out[key] = tune.loguniform(float(args[0]), float(args[1]))
        elif kind == "int":
            out[key] = tune.randint(int(args[0]), int(args[1]) + 1)
        else:
            out[key] = tune.randint(int(args[0]), int(args[1]))
    return out


def searched_keys(space: Mapping[str, Any]) -> list[str]:
    """The parameters that vary (not constants)."""
    return [k for k, v in space.items() if isinstance(v, Mapping)]
