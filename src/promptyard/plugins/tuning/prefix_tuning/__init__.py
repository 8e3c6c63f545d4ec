"""Prefix tuning: trainable key/value prefixes in every attention layer (causal models only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptyard.core.adapter_format import task_type
from promptyard.core.configs import invalid
from promptyard.plugins.tuning.base import PeftMethod


@dataclass
class PrefixTuningSettings:
    num_virtual_tokens: int = field(default=16, metadata={"help": "prefix length per layer (1-256)"})
    prefix_projection: bool = field(
        default=False, metadata={"help": "reparameterise the prefix through an MLP (more parameters, "
                                         "often steadier training)"})
    encoder_hidden_size: int = field(default=128, metadata={"help": "hidden size of that MLP (8-4096)"})

    def __post_init__(self) -> None:
        if not 1 <= self.num_virtual_tokens <= 256:
            raise invalid("prefix_tuning", "num_virtual_tokens", self.num_virtual_tokens, "1-256")
        if not 8 <= self.encoder_hidden_size <= 4096:
            raise invalid("prefix_tuning", "encoder_hidden_size", self.encoder_hidden_size, "8-4096")


class PrefixTuningMethod(PeftMethod):
    name = "prefix_tuning"
    description = "prefix tuning: trainable key/value prefixes in each attention layer"
    config_class = PrefixTuningSettings
    # transformers 5 encoders (BERT) take no past key values, which prefix tuning needs (tested)
    model_kinds = ("causal",)
    unsupported_note = "encoders take no past key values in transformers 5, which prefix tuning needs"
    default_lr = 1e-2

    def default_search_space(self) -> dict[str, Any]:
        return {"lr": {"loguniform": [1e-3, 1e-1]}, "num_virtual_tokens": {"choice": [8, 16, 32]}}

    def peft_config(self, config: PrefixTuningSettings, *, kind: str, **context: Any) -> Any:
        from peft import PrefixTuningConfig

        return PrefixTuningConfig(task_type=task_type(kind), num_virtual_tokens=config.num_virtual_tokens,
                                  prefix_projection=config.prefix_projection,
                                  encoder_hidden_size=config.encoder_hidden_size)


METHOD = PrefixTuningMethod()
