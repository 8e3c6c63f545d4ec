"""Every tuning type the installed peft registers, by name: ``--method peft:<type>`` (``peft:loha``).

Nothing here is copied from peft by hand: the settings of ``peft:<type>`` are the fields of that type's own
config dataclass (names, types, defaults and ``help`` metadata), less the few promptyard fills in itself
(:data:`FILLED_IN`). ``--set`` values are coerced to the field types and then handed to the peft config class
itself, so peft's own checks run before anything is loaded. Which types cannot work on a causal LM, an encoder
or on CPU, and why, is data found by trying (``support.json``, written by ``bench/probe_peft_types.py``).
peft is imported inside functions: the host builds its tables at start-up, and a type is only built when
it is asked for by name.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
import warnings
from functools import cache
from pathlib import Path
from typing import Any

from promptyard.core.adapter_format import task_type
from promptyard.core.errors import TuningError, UnknownNameError
from promptyard.core.protocols import MODEL_FAMILIES
from promptyard.plugins.tuning.base import PeftMethod, wrap_with

PREFIX = "peft"
#: peft config fields promptyard sets itself (task type from the model kind) or that describe a saved adapter
FILLED_IN = frozenset({"peft_type", "task_type", "base_model_name_or_path", "revision", "inference_mode",
                       "auto_mapping", "peft_version"})
#: what ``bench/probe_peft_types.py`` found when it tried every type on the tiny models
SUPPORT_FILE = Path(__file__).with_name("support.json")
#: where a type has no default target modules for an architecture, LoRA's (q/v projections) are used
FALLBACK_NOTE = "default: the type's own choice for the architecture, else LoRA's (the q/v projections)"


@cache
def support() -> dict[str, Any]:
    """The probe's findings: ``{"peft": version, "types": {type: {"causal"|"encoder"|"cpu": reason or ""}}}``."""
    return json.loads(SUPPORT_FILE.read_text()) if SUPPORT_FILE.exists() else {"peft": None, "types": {}}


def peft_version() -> str:
    import peft

    return peft.__version__


def _config_classes() -> dict[str, type]:
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    return {str(getattr(t, "value", t)).lower(): cls for t, cls in PEFT_TYPE_TO_CONFIG_MAPPING.items()}


class PeftTypes:
    """The family ``peft:<type>``: one tuning method per type in peft's ``PEFT_TYPE_TO_CONFIG_MAPPING``."""

    name = PREFIX
    description = "every tuning type the installed peft registers, built from its own config class"

    def variant_names(self) -> list[str]:
        return sorted(_config_classes())

    def variant(self, type_name: str) -> PeftTypeMethod:
        classes = _config_classes()
        if type_name not in classes:
            raise UnknownNameError(f"peft {peft_version()} has no tuning type {type_name!r}",
                                   where=f"--method {PREFIX}:{type_name}",
                                   hint=f"types: {', '.join(sorted(classes))} (`promptyard tune methods` lists "
                                        "them with their settings)")
        return PeftTypeMethod(type_name, classes[type_name])


class PeftTypeMethod(PeftMethod):
    """One peft tuning type, its settings read from peft's config dataclass."""

    def __init__(self, type_name: str, peft_class: type):
        self.type_name = type_name
        self.name = f"{PREFIX}:{type_name}"
        self.peft_class = peft_class
        self.config_class = settings_class(self.name, peft_class)
        from peft.config import PromptLearningConfig

        self.prompt_learning = issubclass(peft_class, PromptLearningConfig)
        self.description = f"peft's {type_name} ({peft_class.__name__}), settings from its config class"
        self.default_lr = 3e-2 if self.prompt_learning else 1e-3
        found = self.reasons()
        self.model_kinds = tuple(k for k in MODEL_FAMILIES if not found.get(k))
        self.unsupported_note = "; ".join(f"{k}: {why}" for k, why in found.items() if why)

    def reasons(self) -> dict[str, str]:
        """Why it cannot work on ``causal``/``encoder``/``cpu`` ("" where it works), as the probe found."""
        data = support()
        entry = data["types"].get(self.type_name)
        if entry is None or data.get("peft") != peft_version():
            return {}  # not probed with this peft: let peft itself say what fails
        return {k: entry.get(k, "") for k in (*MODEL_FAMILIES, "cpu")}

    def tried_with(self) -> dict[str, str]:
        """The settings the probe gave this type (where its defaults cannot work on the tiny models)."""
        return dict(support()["types"].get(self.type_name, {}).get("settings", {}))

    def default_search_space(self) -> dict[str, Any]:
        space: dict[str, Any] = {"lr": {"loguniform": [self.default_lr / 10, self.default_lr * 10]}}
        names = {f.name for f in dataclasses.fields(self.config_class)}
        if "r" in names:
            space["r"] = {"choice": [4, 8, 16]}
        if "num_virtual_tokens" in names:
            space["num_virtual_tokens"] = {"choice": [8, 16, 32]}
        return space

    def peft_config(self, config: Any, *, kind: str, model: Any = None, **context: Any) -> Any:
        values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        if model is not None and "target_modules" in values and values["target_modules"] is None:
            values["target_modules"] = fallback_targets(self.peft_class, model)
        return build_peft_config(self.name, self.peft_class, values, task=task_type(kind))

    def wrap(self, model: Any, config: Any, **context: Any) -> Any:
        context.setdefault("kind", "causal")
        return wrap_with(model, self.peft_config(config, model=model, **context), method=self.name, **context)


def fallback_targets(peft_class: type, model: Any) -> list[str] | None:
    """None (the type's own default) when the type knows the architecture; else LoRA's target modules."""
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING, PEFT_TYPE_TO_TUNER_MAPPING
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as LORA_TARGETS

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    tuner = next((PEFT_TYPE_TO_TUNER_MAPPING.get(t) for t, cls in PEFT_TYPE_TO_CONFIG_MAPPING.items()
                  if cls is peft_class), None)
    own = getattr(tuner, "target_module_mapping", None)
    if own is None or model_type is None or model_type in own:
        return None
    targets = LORA_TARGETS.get(model_type)
    return list(targets) if targets else None


def build_peft_config(method: str, peft_class: type, values: dict[str, Any], *, task: Any = None) -> Any:
    """The peft config itself (its ``__post_init__`` checks run); a value peft refuses is a TuningError."""
    hints = typing.get_type_hints(peft_class)
    kwargs = dict(values)
    for name, value in values.items():
        nested = _dataclass_in(hints.get(name))
        if nested is not None and isinstance(value, dict):
            kwargs[name] = nested(**value)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return peft_class(task_type=task, **kwargs)
    except (TypeError, ValueError, KeyError, AssertionError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        named = [n for n in values if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", message)]
        raise TuningError(f"peft's {peft_class.__name__} refuses {', '.join(named) or 'these settings'}: {message}",
                          where=f"{method} config",
                          hint=f"`promptyard tune methods --settings` lists the settings of {method}") from None


def _dataclass_in(hint: Any) -> type | None:
    for arg in (typing.get_args(hint) or (hint,)):
        if dataclasses.is_dataclass(arg) and isinstance(arg, type):
            return arg
    return None


def _plain(value: Any) -> Any:
    """A default as plain data (dataclasses as dicts, sets as sorted lists), so lineage stays JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return value


def settings_class(method: str, peft_class: type) -> type:
    """A dataclass with peft's fields (less :data:`FILLED_IN`), whose ``__post_init__`` builds the peft config."""
    hints = typing.get_type_hints(peft_class)
    fields = []
    for f in dataclasses.fields(peft_class):
        if f.name in FILLED_IN or not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        default = _plain(default)
        help_text = " ".join(str(f.metadata.get("help", "")).split()) or f"peft's {f.name}"
        if f.name == "target_modules":
            help_text += f" ({FALLBACK_NOTE})"
        if isinstance(default, (list, dict)):
            spec = dataclasses.field(default_factory=lambda d=default: json.loads(json.dumps(d)),
                                     metadata={"help": help_text})
        else:
            spec = dataclasses.field(default=default, metadata={"help": help_text})
        fields.append((f.name, hints.get(f.name, Any), spec))

    def __post_init__(self: Any) -> None:
        from peft import TaskType

        values = {n: getattr(self, n) for n, _, _ in fields}
        try:
            build_peft_config(method, peft_class, values)
        except TuningError:
            # some types accept only some task types (cpt: causal LMs): the model kind is checked at wrap
            for task in (TaskType.CAUSAL_LM, TaskType.SEQ_CLS):
                try:
                    build_peft_config(method, peft_class, values, task=task)
                    return
                except TuningError:
                    pass
            raise

    name = "Peft" + "".join(part.title() for part in method.split(":", 1)[1].split("_")) + "Settings"
    return dataclasses.make_dataclass(name, fields, namespace={"__post_init__": __post_init__,
                                                               "__doc__": f"settings of {method}"})


FAMILY = PeftTypes()
