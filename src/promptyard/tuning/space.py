"""Search spaces: a method's default space or a YAML file, validated, then turned into Ray Tune domains.

The file format (also what ``TuningMethod.default_search_space()`` returns)::

    lr:      {loguniform: [1.0e-5, 1.0e-2]}   # log-uniform float in [low, high)
    dropout: {uniform: [0.0, 0.3]}            # uniform float in [low, high)
    r:       {choice: [4, 8, 16]}             # one of the values
    epochs:  {int: [1, 3]}                    # integer in [low, high], both ends included
    warmup:  {randint: [0, 100]}              # integer in [low, high), Ray's convention
    alpha:   16                               # a constant (not searched)

``method`` may itself be a choice, each method with its own sub-space (a conditional space); the other
top-level keys are shared by every method, and a key of a sub-space replaces the shared one for that method::

    lr: {loguniform: [1.0e-4, 1.0e-2]}
    method:
      choice:
        lora: {r: {choice: [4, 8]}}
        ia3: {}                                 # only the shared keys
        prompt_tuning: null                     # the method's default_search_space()

``method: {choice: [lora, ia3]}`` gives each method its default space. A trial's parameters are always one
flat mapping: ``{"method": "lora", "lr": 0.003, "r": 8}``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from promptyard.core.errors import PromptyardError, ValidationError
from promptyard.core.host import lookup
from promptyard.core.yaml_files import format_key, load_data_file

METHOD = "method"

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


Where = Callable[..., str]


def _where_from(source: str, lines: Mapping[Any, int] | None) -> Where:
    """``source line N, key 'a.b'`` for a key path; lines keyed by the top-level name or by the path tuple."""
    def where(*path: Any) -> str:
        key = format_key(path)
        for n in range(len(path), 0, -1):
            line = None
            if lines:
                line = lines.get(tuple(path[:n])) if n > 1 else lines.get(path[0], lines.get((path[0],)))
            if line is not None:
                return f"{source} line {line}, key '{key}'"
        return f"{source}: '{key}'"
    return where


def _check_mapping(space: Any, where: Where, prefix: tuple = ()) -> None:
    for key, value in space.items():
        at = where(*prefix, key)
        if not isinstance(key, str) or not key:
            raise ValidationError(f"parameter names must be strings, got {key!r}", where=at)
        if key == METHOD and prefix:
            raise ValidationError("a method's sub-space cannot set 'method'", where=at)
        _check_entry(key, value, at)


def _method_branches(value: Any, where: Where) -> dict[str, dict[str, Any]]:
    """The sub-space of each method of ``method: {choice: ...}``, checked; None means the method's default."""
    if not isinstance(value, Mapping) or list(value) != ["choice"]:
        raise ValidationError("'method' must be a method name or {choice: ...} of methods", where=where(METHOD),
                              hint="e.g. method: {choice: {lora: {r: {choice: [4, 8]}}, ia3: {}}}")
    options = value["choice"]
    if isinstance(options, list):
        if not options or not all(isinstance(m, str) and m for m in options):
            raise ValidationError("method choice takes method names", where=where(METHOD, "choice"))
        options = dict.fromkeys(options)
    if not isinstance(options, Mapping) or not options:
        raise ValidationError("method choice takes a list of methods or a mapping of method to sub-space",
                              where=where(METHOD, "choice"))
    out: dict[str, dict[str, Any]] = {}
    for name, sub in options.items():
        at = where(METHOD, "choice", name)
        try:
            method = lookup("tuning_methods", str(name))
        except PromptyardError as exc:
            raise ValidationError(f"unknown tuning method '{name}' in the search space", where=at,
                                  hint=exc.hint or "see `promptyard tune methods`") from None
        if sub is None:
            sub = method.default_search_space()
            if not isinstance(sub, Mapping):
                raise ValidationError(f"method '{name}' has no default search space", where=at,
                                      hint="give its sub-space in the file")
            _check_mapping(sub, _where_from(f"default search space of '{name}'", None))
        elif not isinstance(sub, Mapping):
            raise ValidationError(f"the sub-space of '{name}' must be a mapping (or null for its default)",
                                  where=at)
        else:
            _check_mapping(sub, where, (METHOD, "choice", name))
        out[str(name)] = dict(sub)
    return out


def validate_space(space: Mapping[str, Any], *, source: str = "search space",
                   lines: Mapping[Any, int] | None = None) -> dict[str, Any]:
    """Check every entry; errors name the source, the key and (for files) its line.

    ``lines`` maps a top-level key (or a key path tuple, for sub-spaces) to its line.
    """
    where = _where_from(source, lines)
    if not isinstance(space, Mapping) or not space:
        raise ValidationError("a search space must be a non-empty mapping of parameter names", where=source)
    out: dict[str, Any] = {}
    for key, value in space.items():
        if key == METHOD and isinstance(value, Mapping):
            out[key] = {"choice": _method_branches(value, where)}
            continue
        if key == METHOD and not isinstance(value, str):
            raise ValidationError("'method' must be a method name or {choice: ...} of methods",
                                  where=where(key))
        _check_mapping({key: value}, where)
        out[key] = value
    return out


def load_space_file(path: str | Path) -> dict[str, Any]:
    """Read and validate a YAML space file (errors name the file, the key and its line)."""
    doc = load_data_file(path, what="search space file")
    if not isinstance(doc.data, Mapping):
        raise ValidationError("the file must hold a mapping of parameter name to range", where=doc.source)
    return validate_space(doc.data, source=doc.source, lines=doc.lines)


def is_conditional(space: Mapping[str, Any]) -> bool:
    """True when ``method`` is a choice, each method with its own sub-space."""
    return isinstance(space.get(METHOD), Mapping)


def branches(space: Mapping[str, Any]) -> dict[str | None, dict[str, Any]]:
    """Each method's effective space (shared keys, then its own); ``{None: space}`` for a plain space."""
    if not is_conditional(space):
        return {None: dict(space)}
    shared = {k: v for k, v in space.items() if k != METHOD}
    return {name: {**shared, **sub} for name, sub in space[METHOD]["choice"].items()}


def space_methods(space: Mapping[str, Any]) -> list[str]:
    """The methods a conditional space chooses from (empty for a plain space)."""
    return [m for m in branches(space) if m is not None]


def _draw(kind: str, args: list, rng: random.Random) -> Any:
    if kind == "choice":
        return rng.choice(list(args))
    if kind == "uniform":
        return rng.uniform(args[0], args[1])
    if kind == "loguniform":
        return math.exp(rng.uniform(math.log(args[0]), math.log(args[1])))
    if kind == "int":
        return rng.randint(args[0], args[1])
    return rng.randrange(args[0], args[1])  # randint: high excluded, Ray's convention


def sample_params(space: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    """One draw from a validated space (constants pass through); a conditional space draws the method
    first, then that method's sub-space: ``{"method": name, **params}``."""
    parts = branches(space)
    method = None if None in parts else rng.choice(list(parts))
    out: dict[str, Any] = {} if method is None else {METHOD: method}
    for key, value in parts[method].items():
        if isinstance(value, Mapping):
            (kind, args), = value.items()
            out[key] = _draw(kind, args, rng)
        else:
            out[key] = value
    return out


def to_tune(space: Mapping[str, Any]) -> dict[str, Any]:
    """Ray Tune domains (``tune.choice`` …) for a validated plain space; constants pass through.

    A conditional space has no such form: searches over one are sampled by Optuna's define-by-run
    interface (:mod:`promptyard.tuning.search_optuna`)."""
    from ray import tune

    if is_conditional(space):
        raise ValidationError("a space with a method choice has no Ray Tune domain form",
                              hint="search it with promptyard.tuning.search_optuna")

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
    """The parameters that vary (not constants): ``method`` first for a conditional space, then every key
    any method searches."""
    keys: list[str] = [METHOD] if is_conditional(space) else []
    for part in branches(space).values():
        keys += [k for k, v in part.items() if isinstance(v, Mapping) and k not in keys]
    return keys
