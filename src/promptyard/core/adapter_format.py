"""The default adapter format, for tuning methods that do not save and load their own: PEFT's.

A method whose ``wrap`` returns a ``PeftModel`` is saved with PEFT's ``save_pretrained`` (safetensors)
and loaded with ``PeftModel.from_pretrained``. A method whose ``wrap`` returns the model itself with
only some parameters trainable (the documented ``bias_only`` example) has those parameters saved to
:data:`TRAINED_FILE` and applied to the base model on load. peft and safetensors are imported inside
the functions: the plugin host imports this module at start-up.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from promptyard.core.errors import IntegrityError

__all__ = ["PEFT_CONFIG", "TRAINED_FILE", "is_peft_model", "load_default", "save_default", "task_type"]

PEFT_CONFIG = "adapter_config.json"
#: the trained parameters of a non-PEFT model (names as in ``model.named_parameters()``)
TRAINED_FILE = "trained_parameters.safetensors"


def task_type(kind: str) -> Any:
    """PEFT's task type for a model kind: ``CAUSAL_LM`` for ``"causal"``, ``SEQ_CLS`` for ``"encoder"``."""
    from peft import TaskType

    return TaskType.CAUSAL_LM if kind == "causal" else TaskType.SEQ_CLS


def is_peft_model(model: Any) -> bool:
    return hasattr(model, "peft_config") and callable(getattr(model, "save_pretrained", None))


def save_default(model: Any, folder: str | Path) -> None:
    """PEFT's format for a ``PeftModel``; otherwise only the trainable parameters, as safetensors."""
    folder = Path(folder)
    if is_peft_model(model):
        model.save_pretrained(str(folder), safe_serialization=True)
        return
    from safetensors.torch import save_file

    state = {n: p.detach().contiguous().clone() for n, p in model.named_parameters() if p.requires_grad}
    save_file(state, str(folder / TRAINED_FILE))


def load_default(model: Any, folder: str | Path) -> Any:
    """Put an adapter saved by :func:`save_default` on ``model`` (PEFT's loader for PEFT folders)."""
    folder = Path(folder)
    if (folder / PEFT_CONFIG).exists():
        from peft import PeftModel

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            model = PeftModel.from_pretrained(model, str(folder))
        model.eval()
        return model
    path = folder / TRAINED_FILE
    if not path.exists():
        raise IntegrityError(f"not an adapter folder: no {PEFT_CONFIG} and no {TRAINED_FILE}", where=str(folder),
                             hint="a method that saves its own format must also give the contract's load()")
    from safetensors.torch import load_file

    return apply_state(model, load_file(str(path)), folder)


def apply_state(model: Any, state: dict[str, Any], folder: str | Path) -> Any:
    """Copy saved parameters into ``model``; every saved name must exist in it."""
    missing = sorted(set(state) - set(dict(model.named_parameters())))
    if missing:
        raise IntegrityError(f"saved parameters not in the base model: {', '.join(missing[:3])}",
                             where=str(folder), hint="load it on the base model it was trained from")
    model.load_state_dict(state, strict=False)
    model.eval()
    return model
