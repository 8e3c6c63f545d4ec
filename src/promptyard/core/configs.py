"""Checked configs from dataclasses: ``--set key=value`` strings coerced to the field types, errors naming
the field. Tuning method configs and the training loop's settings are built this way."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from typing import Any

from promptyard.core.errors import TuningError

__all__ = ["build_config", "coerce", "config_dict", "field_help", "invalid"]


def invalid(method: str, field: str, value: Any, allowed: str) -> TuningError:
    """The error for one bad config value: names the field, the value and what is allowed."""
    return TuningError(f"invalid value {value!r} for {field!r}", where=f"{method} config",
                       hint=f"allowed: {allowed}")


def field_help(config_class: type) -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(config_class)}


def coerce(method: str, name: str, value: Any, hint: Any) -> Any:
    """Turn a ``--set`` string into the field's type; a value of the right type passes through.

    Beyond bool/int/float/str and lists (comma separated, items of the list's own type): ``Literal``
    choices, enums (kept as their string value), ``dict`` and nested dataclasses (given as JSON, kept as
    a dict). Where both a string and a list are allowed (peft's ``target_modules``), a plain comma-free
    name becomes a one-item list, and text with regular-expression characters stays a string.
    """
    text = value.strip() if isinstance(value, str) else None
    args = _flatten(hint)
    if text is not None and text.lower() in ("none", "null") and type(None) in args:
        return None
    if value is None and type(None) in args:
        return None
    kinds = [a for a in args if a is not type(None)] or [hint]
    origins = [typing.get_origin(k) or k for k in kinds]
    if text is not None and str in origins and any(o in (list, tuple) for o in origins) and (
            re.search(r"[\\^$*+?()\[\]{}|]", text) or text == "all-linear"):
        return text  # a regular expression (or peft's "all-linear"), matched against module names
    for kind in sorted(kinds, key=lambda k: _ORDER.get(typing.get_origin(k) or k, 5)):
        origin = typing.get_origin(kind) or kind
        try:
            if origin is typing.Literal:
                for choice in typing.get_args(kind):
                    if value == choice or (text is not None and text == str(choice)):
                        return choice
                    if text is not None and isinstance(choice, str) and "[" in choice and text.startswith(
                            choice.split("[", 1)[0]) and len(text) > len(choice.split("[", 1)[0]):
                        return text  # a pattern such as peft's "pissa_niter_[number of iters]"
            elif isinstance(origin, type) and issubclass(origin, enum.Enum):
                member = value if isinstance(value, origin) else origin(text if text is not None else value)
                return member.value
            elif origin is bool:
                if isinstance(value, bool):
                    return value
                if text is not None and text.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                    return text.lower() in ("1", "true", "yes", "on")
            elif origin is int and not isinstance(value, bool):
                if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
                    return int(value)
                if text is not None:
                    return int(text)
            elif origin is float and not isinstance(value, bool):
                return float(value)
            elif origin in (list, tuple, set):
                items = list(value) if isinstance(value, (list, tuple, set)) else None
                if items is None and text is not None:
                    items = json.loads(text) if text.startswith("[") else [
                        part.strip() for part in text.split(",") if part.strip()]
                if items is not None:
                    item_hint = (typing.get_args(kind) or (Any,))[0]
                    return [item if item_hint is Any else coerce(method, name, item, item_hint) for item in items]
            elif origin is dict or dataclasses.is_dataclass(origin):
                data = value if isinstance(value, dict) else json.loads(text) if text is not None else None
                if dataclasses.is_dataclass(origin) and dataclasses.is_dataclass(value):
                    return dataclasses.asdict(value)
                if isinstance(data, dict):
                    if dataclasses.is_dataclass(origin):
                        names = {f.name for f in dataclasses.fields(origin)}
                        unknown = sorted(set(data) - names)
                        if unknown:
                            raise invalid(method, name, value, "a JSON object with keys from "
                                          f"{', '.join(sorted(names))} (not {', '.join(unknown)})")
                    return data
            elif origin is str:
                if isinstance(value, str):
                    return value
            elif origin is Any:
                return value
        except (TypeError, ValueError, json.JSONDecodeError):
            continue
    raise invalid(method, name, value, " or ".join(_type_name(k) for k in kinds))


#: the order a union's members are tried in: scalars before containers, ``str`` (which takes anything) last
_ORDER = {bool: 0, int: 1, float: 2, typing.Literal: 3, list: 4, tuple: 4, set: 4, dict: 4, str: 9}


def _flatten(hint: Any) -> list[Any]:
    """A union's members, nested unions and ``Optional`` flattened; a plain type as a one-item list."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(hint) for m in _flatten(arg)]
    return [hint]


def _type_name(kind: Any) -> str:
    origin = typing.get_origin(kind) or kind
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(kind))
    if isinstance(origin, type) and issubclass(origin, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in origin)
    if origin in (list, tuple, set):
        return "a comma-separated list"
    if origin is dict or dataclasses.is_dataclass(origin):
        return "a JSON object"
    return getattr(kind, "__name__", str(kind))


def build_config(method: Any, overrides: dict[str, Any] | None = None) -> Any:
    """The method's config with ``overrides`` applied (strings coerced); unknown keys are an error."""
    config_class = method.config_class
    hints = typing.get_type_hints(config_class)
    names = [f.name for f in dataclasses.fields(config_class)]
    values = {}
    for key, value in (overrides or {}).items():
        if key not in names:
            raise TuningError(f"unknown setting {key!r} for method {method.name!r}",
                              hint=f"known: {', '.join(names)}")
        values[key] = coerce(method.name, key, value, hints[key])
    return config_class(**values)


def config_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
