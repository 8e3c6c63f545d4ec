"""What the tuning methods share: checked configs built from ``--set k=v`` strings, and PEFT glue."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

from promptyard.core.adapter_files import check_safetensors_only
from promptyard.core.errors import TuningError

ADAPTER_META = "promptyard_adapter.json"  # written next to PEFT's files: what predict needs to run it


def invalid(method: str, field: str, value: Any, allowed: str) -> TuningError:
    """The error for one bad config value: names the field, the value and what is allowed."""
    return TuningError(f"invalid value {value!r} for {field!r}", where=f"{method} config",
                       hint=f"allowed: {allowed}")


def field_help(config_class: type) -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(config_class)}


def _coerce(method: str, name: str, value: Any, hint: Any) -> Any:
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
        values[key] = _coerce(method.name, key, value, hints[key])
    return config_class(**values)


def config_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


class PeftMethod:
    """Glue for the PEFT methods: wrap with a ``peft`` config, save and load PEFT's own format."""

    name = ""
    description = ""
    config_class: type = object
    model_kinds: tuple[str, ...] = ("causal", "encoder")
    supported_tasks: tuple[str, ...] | None = None
    default_lr = 1e-3
    #: how the method says a model kind is unsupported (shown in errors and the docs table)
    unsupported_note = ""

    def default_search_space(self) -> dict[str, Any]:
        return {}

    def peft_config(self, config: Any, *, kind: str, **context: Any) -> Any:
        raise NotImplementedError

    def wrap(self, model: Any, config: Any, **context: Any) -> Any:
        import warnings

        from peft import get_peft_model

        context.setdefault("kind", "causal")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            return get_peft_model(model, self.peft_config(config, **context))

    def save(self, model: Any, folder: Path) -> None:
        model.save_pretrained(str(folder), safe_serialization=True)


def task_type(kind: str) -> Any:
    from peft import TaskType

    return TaskType.CAUSAL_LM if kind == "causal" else TaskType.SEQ_CLS


def load_adapter(model: Any, folder: str | Path) -> Any:
    """Put a saved adapter (PEFT's format, or promptyard's ``full`` format) on a base model."""
    import warnings

    folder = check_safetensors_only(folder, loading=True)  # PEFT would torch.load adapter_model.bin
    if (folder / "adapter_config.json").exists():
        from peft import PeftModel

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            model = PeftModel.from_pretrained(model, str(folder))
        model.eval()
        return model
    from promptyard.plugins.tuning.full import load_full

    return load_full(model, folder)


def read_meta(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / ADAPTER_META
    return json.loads(path.read_text()) if path.exists() else {}
