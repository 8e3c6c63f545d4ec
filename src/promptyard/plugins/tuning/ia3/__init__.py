"""IA3: learned rescaling vectors on keys, values and feed-forward activations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptyard.core.adapter_format import task_type
from promptyard.core.configs import invalid
from promptyard.plugins.tuning.base import PeftMethod


@dataclass
class IA3Settings:
    target_modules: list[str] | None = field(
        default=None, metadata={"help": "modules to rescale (comma separated); default: peft's choice"})
    feedforward_modules: list[str] | None = field(
        default=None, metadata={"help": "which of target_modules are feed-forward layers; default: peft's"})

    def __post_init__(self) -> None:
        if self.target_modules is not None and not self.target_modules:
            raise invalid("ia3", "target_modules", self.target_modules,
                          "module names, or none for the default")
        if self.feedforward_modules is not None:
            if self.target_modules is None:
                raise invalid("ia3", "feedforward_modules", self.feedforward_modules,
                              "only together with target_modules")
            extra = set(self.feedforward_modules) - set(self.target_modules)
            if extra:
                raise invalid("ia3", "feedforward_modules", self.feedforward_modules,
                              f"a subset of target_modules ({', '.join(self.target_modules)})")


class IA3Method(PeftMethod):
    name = "ia3"
    description = "IA3: learned scaling vectors for keys, values and feed-forward layers (fewest parameters)"
    config_class = IA3Settings
    default_lr = 1e-2

    def default_search_space(self) -> dict[str, Any]:
        return {"lr": {"loguniform": [1e-3, 1e-1]}}

    def peft_config(self, config: IA3Settings, *, kind: str, **context: Any) -> Any:
        from peft import IA3Config

        return IA3Config(task_type=task_type(kind), target_modules=config.target_modules,
                         feedforward_modules=config.feedforward_modules)


METHOD = IA3Method()
