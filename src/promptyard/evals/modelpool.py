"""Models for evaluation: each base model loaded once, its adapters switched in place (peft).

Evaluating K adapters of one base loads the base once, attaches each adapter with ``load_adapter``
and activates it with ``set_adapter``; the base itself is evaluated with the adapters disabled.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from promptyard.core.interfaces import LoadedModel


class ModelPool:
    """Loaded base models by reference; ``reuse=False`` reloads the base for every cell (a baseline)."""

    def __init__(self, *, reuse: bool = True):
        self.reuse = reuse
        self._bases: dict[str, LoadedModel] = {}
        self.loads = 0

    def _base(self, ref: str) -> LoadedModel:
        if not self.reuse or ref not in self._bases:
            from promptyard.plugins.models import load_model

            loaded = load_model(ref)
            loaded.model.eval()
            self.loads += 1
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
        name = "a_" + adapter.content_hash[:16]  # keyed by content: one name per distinct adapter
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            if not _is_peft(model):
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, str(adapter.path), adapter_name=name)
                model.eval()
                base.model = model
            elif name not in model.peft_config:
                model.load_adapter(str(adapter.path), adapter_name=name)
            model.set_adapter(name)
        yield replace(base, model=model)

    def clear(self) -> None:
        self._bases.clear()


def _is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "disable_adapter")
