"""P-tuning: virtual tokens produced by a small trainable prompt encoder (MLP or LSTM)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptyard.core.adapter_format import task_type
from promptyard.core.configs import invalid
from promptyard.plugins.tuning.base import PeftMethod

ENCODERS = ("MLP", "LSTM")


@dataclass
class PTuningSettings:
    num_virtual_tokens: int = field(default=16, metadata={"help": "virtual tokens in front (1-256)"})
    encoder_hidden_size: int = field(default=128, metadata={"help": "prompt encoder width (8-4096)"})
    encoder_type: str = field(default="MLP", metadata={"help": "prompt encoder: MLP or LSTM"})

    def __post_init__(self) -> None:
        if not 1 <= self.num_virtual_tokens <= 256:
            raise invalid("p_tuning", "num_virtual_tokens", self.num_virtual_tokens, "1-256")
        if not 8 <= self.encoder_hidden_size <= 4096:
            raise invalid("p_tuning", "encoder_hidden_size", self.encoder_hidden_size, "8-4096")
        self.encoder_type = str(self.encoder_type).upper()
        if self.encoder_type not in ENCODERS:
            raise invalid("p_tuning", "encoder_type", self.encoder_type, " or ".join(ENCODERS))


class PTuningMethod(PeftMethod):
    name = "p_tuning"
    description = "p-tuning: virtual tokens from a trainable prompt encoder"
    config_class = PTuningSettings
    default_lr = 3e-3

    def default_search_space(self) -> dict[str, Any]:
        return {"lr": {"loguniform": [3e-4, 3e-2]}, "num_virtual_tokens": {"choice": [8, 16]},
                "encoder_hidden_size": {"choice": [64, 128, 256]}}

    def peft_config(self, config: PTuningSettings, *, kind: str, **context: Any) -> Any:
        from peft import PromptEncoderConfig

        return PromptEncoderConfig(task_type=task_type(kind), num_virtual_tokens=config.num_virtual_tokens,
                                   encoder_hidden_size=config.encoder_hidden_size,
                                   encoder_reparameterization_type=config.encoder_type)


METHOD = PTuningMethod()
