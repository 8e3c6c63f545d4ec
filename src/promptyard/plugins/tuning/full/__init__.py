"""Full fine-tuning, or only the last N transformer layers (plus the head), for small models.

Saved as ``full_state.safetensors`` (only the trained parameters) plus ``promptyard_full.json``;
not a PEFT folder, so the method loads it itself (:meth:`FullMethod.load`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptyard.core.adapter_format import apply_state
from promptyard.core.configs import invalid
from promptyard.core.errors import IntegrityError, TuningError
from promptyard.plugins.tuning.base import PeftMethod

STATE_FILE = "full_state.safetensors"
META_FILE = "promptyard_full.json"


@dataclass
class FullSettings:
    last_n_layers: int = field(
        default=0, metadata={"help": "train only the last N transformer layers and the head; 0 = every "
                                     "parameter"})

    def __post_init__(self) -> None:
        if self.last_n_layers < 0:
            raise invalid("full", "last_n_layers", self.last_n_layers, "0 (all) or a positive count")


def _layer_list(model: Any) -> Any:
    """The model's stack of transformer blocks (the ModuleList as long as num_hidden_layers)."""
    import torch

    n = getattr(model.config, "num_hidden_layers", None)
    for _, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    raise TuningError("could not find the model's transformer layers for last_n_layers",
                      hint="use last_n_layers=0 (train every parameter)")


class FullMethod(PeftMethod):
    name = "full"
    description = "fine-tune every parameter, or only the last N layers and the head"
    config_class = FullSettings
    default_lr = 5e-5

    def default_search_space(self) -> dict[str, Any]:
        return {"lr": {"loguniform": [1e-6, 1e-4]}, "last_n_layers": {"choice": [1, 2, 4]}}

    def wrap(self, model: Any, config: FullSettings, **context: Any) -> Any:
        if config.last_n_layers == 0:
            for p in model.parameters():
                p.requires_grad_(True)
            return model
        layers = _layer_list(model)
        if config.last_n_layers > len(layers):
            raise invalid("full", "last_n_layers", config.last_n_layers, f"0-{len(layers)} for this model")
        for p in model.parameters():
            p.requires_grad_(False)
        for block in list(layers)[-config.last_n_layers:]:
            for p in block.parameters():
                p.requires_grad_(True)
        tied = getattr(model.config, "tie_word_embeddings", False)
        for name, module in model.named_children():
            # the head (classifier / score / lm_head unless tied to the embeddings) trains too
            if name in ("classifier", "score", "pooler") or (name == "lm_head" and not tied):
                for p in module.parameters():
                    p.requires_grad_(True)
        base = getattr(model, model.base_model_prefix, None)
        norm = getattr(base, "norm", None)
        if norm is not None:
            for p in norm.parameters():
                p.requires_grad_(True)
        return model

    def save(self, model: Any, folder: Path) -> None:
        from safetensors.torch import save_file

        state = {n: p.detach().contiguous().clone() for n, p in model.named_parameters() if p.requires_grad}
        save_file(state, str(Path(folder) / STATE_FILE))
        (Path(folder) / META_FILE).write_text(json.dumps({"method": "full", "parameters": sorted(state)}))

    def load(self, model: Any, folder: Path) -> Any:
        """Apply a saved ``full`` state to a base model (every saved name must exist in the model)."""
        from safetensors.torch import load_file

        path = Path(folder) / STATE_FILE
        if not path.exists():
            raise IntegrityError(f"not a full fine-tuning adapter: no {STATE_FILE}", where=str(folder))
        return apply_state(model, load_file(str(path)), folder)


METHOD = FullMethod()
