"""Checked configs from dataclasses: ``--set key=value`` strings coerced to the field types, errors naming
the field. Tuning method configs and the training loop's settings are built this way."""

from __future__ import annotations

import dataclasses
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
    """Turn a ``--set`` string into the field's type; a value of the right type passes through."""
    text = value.strip() if isinstance(value, str) else None
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    if text is not None and text.lower() in ("none", "null") and type(None) in typing.get_args(hint):
        return None
    for kind in args:
        origin = typing.get_origin(kind) or kind
        try:
            if origin is bool:
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
            elif origin in (list, tuple):
                if isinstance(value, (list, tuple)):
                    return list(value)
                if text is not None:
                    return [part.strip() for part in text.split(",") if part.strip()]
            elif origin is str:
                if isinstance(value, str):
                    return value
        except (TypeError, ValueError):
            continue
    expected = " or ".join(getattr(a, "__name__", str(a)) for a in args)
    raise invalid(method, name, value, expected)


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
