"""LoRA: low-rank updates added to chosen linear layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptyard.core.adapter_format import task_type
from promptyard.core.configs import invalid
from promptyard.plugins.tuning.base import PeftMethod


@dataclass
class LoraSettings:
    r: int = field(default=8, metadata={"help": "rank of the update matrices (1-256)"})
    alpha: int = field(default=16, metadata={"help": "scaling numerator: updates are scaled by alpha / r"})
    dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA input, 0 <= p < 1"})
    target_modules: list[str] | None = field(
        default=None, metadata={"help": "module names to adapt (comma separated); default: peft's choice "
                                        "for the architecture (q/v projections)"})

    def __post_init__(self) -> None:
        if not 1 <= self.r <= 256:
            raise invalid("lora", "r", self.r, "an integer from 1 to 256")
        if self.alpha < 1:
            raise invalid("lora", "alpha", self.alpha, "an integer >= 1")
        if not 0 <= self.dropout < 1:
            raise invalid("lora", "dropout", self.dropout, "a number in [0, 1)")
        if self.target_modules is not None and not self.target_modules:
            raise invalid("lora", "target_modules", self.target_modules,
                          "module names, or none for the default")


class LoraMethod(PeftMethod):
    name = "lora"
    description = "LoRA: trainable low-rank updates of attention projections"
    config_class = LoraSettings
    default_lr = 3e-4

    def default_search_space(self) -> dict[str, Any]:
        return {"lr": {"loguniform": [5e-5, 3e-3]}, "r": {"choice": [4, 8, 16]},
                "alpha": {"choice": [8, 16, 32]}, "dropout": {"uniform": [0.0, 0.2]}}

    def peft_config(self, config: LoraSettings, *, kind: str, **context: Any) -> Any:
        from peft import LoraConfig

        return LoraConfig(task_type=task_type(kind), r=config.r, lora_alpha=config.alpha,
                          lora_dropout=config.dropout, target_modules=config.target_modules)


METHOD = LoraMethod()
