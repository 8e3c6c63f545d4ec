"""Prompt tuning: trainable virtual token embeddings in front of the input.

``init_from_prompt`` starts the soft prompt from the text of a registry prompt version (PEFT's
``PromptTuningInit.TEXT``): ``true`` uses the prompt being trained with, a reference names another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptyard.core.adapter_format import task_type
from promptyard.core.configs import invalid
from promptyard.plugins.tuning.base import PeftMethod

MAX_VIRTUAL_TOKENS = 256


@dataclass
class PromptTuningSettings:
    num_virtual_tokens: int = field(
        default=16, metadata={"help": "soft prompt length in tokens (1-256); 0 with init_from_prompt = "
                                      "as many tokens as the prompt text has"})
    init_from_prompt: str | None = field(
        default=None, metadata={"help": "initialise from a prompt's text: 'true' = the training prompt, "
                                        "or a registry reference (name@label); default: random init"})

    def __post_init__(self) -> None:
        if isinstance(self.init_from_prompt, str) and self.init_from_prompt.strip().lower() in (
                "false", "no", "off", "0", ""):
            self.init_from_prompt = None
        if not 0 <= self.num_virtual_tokens <= MAX_VIRTUAL_TOKENS or (
                self.num_virtual_tokens == 0 and self.init_from_prompt is None):
            raise invalid("prompt_tuning", "num_virtual_tokens", self.num_virtual_tokens,
                          f"1-{MAX_VIRTUAL_TOKENS} (0 only together with init_from_prompt)")


class PromptTuningMethod(PeftMethod):
    name = "prompt_tuning"
    description = "prompt tuning: a trainable soft prompt, optionally initialised from a prompt's text"
    config_class = PromptTuningSettings
    default_lr = 3e-2

    def default_search_space(self) -> dict[str, Any]:
        return {"lr": {"loguniform": [3e-3, 3e-1]}, "num_virtual_tokens": {"choice": [8, 16, 32]}}

    def peft_config(self, config: PromptTuningSettings, *, kind: str, init_text: str | None = None,
                    model_path: str | None = None, tokenizer: Any = None, **context: Any) -> Any:
        from peft import PromptTuningConfig, PromptTuningInit

        n = config.num_virtual_tokens
        if config.init_from_prompt is None:
            return PromptTuningConfig(task_type=task_type(kind), num_virtual_tokens=n)
        if not init_text or not model_path:
            raise invalid("prompt_tuning", "init_from_prompt", config.init_from_prompt,
                          "a prompt with text, and a model loaded from a local folder")
        if n == 0:
            n_text = len(tokenizer(init_text, add_special_tokens=False)["input_ids"])
            n = min(MAX_VIRTUAL_TOKENS, max(1, n_text))
        return PromptTuningConfig(task_type=task_type(kind), num_virtual_tokens=n,
                                  prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=init_text,
                                  tokenizer_name_or_path=model_path)


METHOD = PromptTuningMethod()
