"""What the PEFT tuning methods share: wrapping a model with a ``peft`` config, PEFT's save and load, and
the LoRA initialisations that need more than a config (EVA's data pass; PiSSA/OLoRA's conversion on save)."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from promptyard.core import adapter_format
from promptyard.core.errors import TuningError
from promptyard.core.protocols import TuningMethodDefaults

#: LoRA initialisations that change the base weights: saved as a plain LoRA update of the original base
#: (peft's ``path_initial_model_for_weight_conversion``), so loading it neither re-runs the decomposition
#: nor changes the base, and it merges and combines like any LoRA adapter
CONVERTED_INITS = ("pissa", "olora", "corda")
#: batches of the training split that EVA's SVD sees before training
EVA_BATCHES = 8
#: attribute of a wrapped model: the folder with its adapter as initialised (for the conversion on save)
INITIAL_ADAPTER = "_promptyard_initial_adapter"


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
        context.setdefault("kind", "causal")
        return wrap_with(model, self.peft_config(config, **context), method=self.name, **context)

    def save(self, model: Any, folder: Path) -> None:
        save_converted(model, folder)


def wrap_with(model: Any, peft_config: Any, *, method: str, train_features: Any = None, tokenizer: Any = None,
              **context: Any) -> Any:
    """``get_peft_model``, then what the LoRA initialisation needs: EVA's pass over training batches, or a
    copy of the initial adapter for the conversion on save."""
    from peft import get_peft_model

    init = getattr(peft_config, "init_lora_weights", None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        wrapped = get_peft_model(model, peft_config, low_cpu_mem_usage=init == "eva")
    if init == "eva":
        eva_init(wrapped, train_features, tokenizer, method=method)
    elif isinstance(init, str) and init.startswith(CONVERTED_INITS):
        folder = tempfile.TemporaryDirectory(prefix="promptyard-lora-init-")
        setattr(wrapped, INITIAL_ADAPTER, folder)  # removed with the model
        config = wrapped.peft_config["default"]
        config.init_lora_weights = True  # what peft's conversion reads the initial adapter as
        try:
            wrapped.save_pretrained(folder.name, safe_serialization=True)
        finally:
            config.init_lora_weights = init
    return wrapped


def eva_init(model: Any, features: Any, tokenizer: Any, *, method: str) -> None:
    """EVA: the LoRA A matrices from an SVD of the layer inputs over the first training batches."""
    import torch
    from peft import initialize_lora_eva_weights

    if not features:
        raise TuningError("init=eva needs the training rows, and the wrap was given none", where=f"{method} config",
                          hint="EVA initialises from a pass over training data: run it through `tune run`")
    pad = getattr(tokenizer, "pad_token_id", None) or 0
    batches = []
    size = max(1, min(8, len(features) // EVA_BATCHES or 1))
    for start in range(0, min(len(features), size * EVA_BATCHES), size):
        rows = [f["input_ids"] for f in features[start:start + size]]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        batches.append({"input_ids": ids.to(model.device), "attention_mask": mask.to(model.device)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        initialize_lora_eva_weights(model, batches, show_progress_bar=False)


def save_converted(model: Any, folder: str | Path) -> None:
    """PEFT's format; a PiSSA/OLoRA adapter converted to a plain LoRA update of the original base weights."""
    initial = getattr(model, INITIAL_ADAPTER, None)
    if initial is None or not adapter_format.is_peft_model(model):
        adapter_format.save_default(model, folder)
        return
    with tempfile.TemporaryDirectory(prefix="promptyard-lora-conv-") as scratch:
        # peft rewrites the initial folder's config while converting: convert from a copy

        shutil.copytree(initial.name, scratch, dirs_exist_ok=True)
        model.save_pretrained(str(folder), safe_serialization=True,
                              path_initial_model_for_weight_conversion=scratch)
    _keep_saved_modules(model, Path(folder))


def _keep_saved_modules(model: Any, folder: Path) -> None:
    """peft's conversion writes only the LoRA matrices: add back what the adapter trains whole (an encoder's
    classification head, ``modules_to_save``), as the plain save would have stored it."""
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    weights = folder / "adapter_model.safetensors"
    if not weights.exists():
        return
    saved = load_file(str(weights))
    extra = {k: v.detach().contiguous().clone() for k, v in get_peft_model_state_dict(model).items()
             if "lora_" not in k and k not in saved}
    if extra:
        save_file({**saved, **extra}, str(weights), metadata={"format": "pt"})
