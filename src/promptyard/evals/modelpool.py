"""Models for evaluation: each base model loaded once, its PEFT adapters switched in place.

Evaluating K adapters of one base loads the base once. The first adapter is attached with PEFT; a later
adapter of the same shape (same PEFT config apart from bookkeeping fields, same tensor names and shapes)
has its weights copied into that adapter slot (milliseconds) instead of PEFT's ``load_adapter``, which
re-injects layers and grows slower with every adapter held. An adapter of another shape gets a slot of
its own. The base itself is evaluated with the adapters disabled. An adapter whose tuning method loads
its own format (``full``, a plugin's method with its own ``load``) goes onto a freshly loaded base of its
own through that method (:func:`promptyard.runtime.adapter_loading.load_adapted`): its load may change
the base's weights, which a shared base must not see.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promptyard.core.hashing import model_content_hash
from promptyard.core.lookups import load_model, locate_model
from promptyard.core.protocols import LoadedModel
from promptyard.runtime.adapter_loading import load_adapted, peft_loadable

# PeftConfig fields that do not change what a loaded adapter computes
_BOOKKEEPING = {"base_model_name_or_path", "revision", "inference_mode", "peft_version", "auto_mapping",
                "init_lora_weights", "loftq_config", "eva_config", "corda_config", "lora_ga_config"}
# fields PEFT keeps as sets and saves as lists in hash order, which differs from process to process
_SET_VALUED = {"target_modules", "exclude_modules", "modules_to_save", "feedforward_modules",
               "target_parameters", "layers_to_transform"}


@dataclass
class _Slots:
    """The adapter slots attached to one loaded base: slot name -> (shape key, content hash held)."""

    shape: dict[str, str] = field(default_factory=dict)
    holds: dict[str, str] = field(default_factory=dict)


class ModelPool:
    """Loaded base models by reference; ``reuse=False`` reloads the base for every cell (a baseline)."""

    def __init__(self, *, reuse: bool = True):
        self.reuse = reuse
        self._bases: dict[str, LoadedModel] = {}
        self._slots: dict[str, _Slots] = {}
        self.loads = 0
        self.swaps = 0  # adapters switched by copying weights into an existing slot

    def _base(self, ref: str) -> LoadedModel:
        if not self.reuse or ref not in self._bases:
            loaded = load_model(ref)
            loaded.model.eval()
            self.loads += 1
            self._slots[ref] = _Slots()
            if not self.reuse:
                return loaded
            self._bases[ref] = loaded
        return self._bases[ref]

    @contextlib.contextmanager
    def use(self, ref: str, adapter: Any = None) -> Iterator[LoadedModel]:
        """The model ``ref`` with ``adapter`` (a ResolvedAdapter) active, or with none."""
        base = self._base(ref)
        model = base.model
        if adapter is None:
            if _is_peft(model):
                with model.disable_adapter():
                    yield replace(base, model=model)
            else:
                yield base
            return
        if not peft_loadable(adapter.path):
            own = load_model(ref)
            self.loads += 1
            yield load_adapted(adapter.path, base=own)
            return
        slots = self._slots.setdefault(ref, _Slots())
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            model = self._activate(base, slots, Path(adapter.path), adapter.content_hash)
        yield replace(base, model=model)

    def _activate(self, base: LoadedModel, slots: _Slots, path: Path, content_hash: str) -> Any:
        """Make the adapter at ``path`` the active one on ``base.model``; returns the (PEFT) model."""
        model = base.model
        held = next((s for s, h in slots.holds.items() if h == content_hash), None)
        if held is not None and _is_peft(model):
            model.set_adapter(held)
            return model
        shape = _shape_key(path)
        slot = next((s for s, k in slots.shape.items() if k == shape and shape), None)
        if slot is not None:
            slots.holds.pop(slot, None)  # from here on the slot holds neither adapter completely
        if slot is not None and _swap_weights(model, slot, path):
            self.swaps += 1
        else:
            slot = f"a{len(slots.shape)}"
            if not _is_peft(model):
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, str(path), adapter_name=slot)
                model.eval()
                base.model = model
            else:
                model.load_adapter(str(path), adapter_name=slot)
            slots.shape[slot] = shape
        slots.holds[slot] = content_hash
        model.set_adapter(slot)
        return model

    def clear(self) -> None:
        self._bases.clear()
        self._slots.clear()

    def source(self, ref: str, adapter: Any, stack: contextlib.ExitStack) -> ModelSource:
        """``ref`` with ``adapter`` as a :class:`ModelSource`: known by its hash, loaded on first need.

        The model is loaded (through :meth:`use`, entered on ``stack``) only when :meth:`ModelSource.loaded`
        is called, or at once when neither a loaded base nor the loader's ``locate`` can tell its hash.
        """
        return ModelSource(self, ref, adapter, stack)


class ModelSource:
    """What a cell needs of its model, in the order it needs it: the content hash (the response cache's
    key), a tokenizer (for chat formatting), and the model itself only for examples the cache misses.
    A re-run that the cache answers completely loads no model (no torch, no weights)."""

    def __init__(self, pool: ModelPool | None, ref: str, adapter: Any, stack: contextlib.ExitStack | None,
                 loaded: LoadedModel | None = None):
        self._pool, self.ref, self._adapter, self._stack = pool, ref, adapter, stack
        self._loaded = loaded
        self._tokenizer: Any = None
        base = pool._bases.get(ref) if pool is not None and pool.reuse else None
        folder = None if loaded is not None or base is not None else locate_model(ref)
        if loaded is not None or base is not None:
            known = loaded or base
            self.content_hash, self.path, self._tokenizer = known.content_hash, known.path, known.tokenizer
        elif folder is not None:
            self.content_hash, self.path = model_content_hash(folder), folder
        else:
            self.loaded()

    @classmethod
    def of(cls, loaded: LoadedModel) -> ModelSource:
        """A source around a model loaded already."""
        return cls(None, loaded.ref, None, None, loaded)

    @property
    def is_loaded(self) -> bool:
        return self._loaded is not None

    def loaded(self) -> LoadedModel:
        """The model with the adapter active, loaded on the first call."""
        if self._loaded is None:
            assert self._pool is not None and self._stack is not None
            self._loaded = self._stack.enter_context(self._pool.use(self.ref, self._adapter))
            self.content_hash, self.path = self._loaded.content_hash, self._loaded.path
        return self._loaded

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer; read from its folder alone (no weights) while the model is not loaded."""
        if self._loaded is not None:
            return self._loaded.tokenizer
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.path)
        return self._tokenizer


def _shape_key(path: Path) -> str:
    """The adapter's PEFT config without its bookkeeping fields: equal keys mean interchangeable slots.

    Empty (never shared) for DoRA: PEFT caches each slot's weight norms, which a copy would leave stale.
    """
    config = json.loads((path / "adapter_config.json").read_text())
    if config.get("use_dora"):
        return ""
    kept = {k: sorted(v, key=str) if k in _SET_VALUED and isinstance(v, list) else v
            for k, v in config.items() if k not in _BOOKKEEPING}
    return json.dumps(kept, sort_keys=True, default=str)


def _swap_weights(model: Any, slot: str, path: Path) -> bool:
    """Copy the adapter's tensors into ``slot``; False (nothing changed) unless names and shapes all match."""
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = path / "adapter_model.safetensors"
    if not weights.exists():
        return False
    new = load_file(str(weights))
    current = get_peft_model_state_dict(model, adapter_name=slot)
    if set(new) != set(current) or any(new[k].shape != current[k].shape for k in new):
        return False
    set_peft_model_state_dict(model, new, adapter_name=slot)
    return True


def _is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "disable_adapter")
