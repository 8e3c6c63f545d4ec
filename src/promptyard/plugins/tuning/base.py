"""What the PEFT tuning methods share: wrapping a model with a ``peft`` config, PEFT's save and load."""

from __future__ import annotations

from typing import Any

from promptyard.core.protocols import TuningMethodDefaults


class PeftMethod(TuningMethodDefaults):
    """Glue for the PEFT methods: wrap with a ``peft`` config; the contract's default save and load
    (PEFT's own format) are inherited."""

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
