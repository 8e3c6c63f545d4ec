"""LoRA: low-rank updates added to chosen linear layers, with peft's variants: DoRA (``use_dora``), rsLoRA
(``use_rslora``) and the initialisations ``init`` = gaussian, pissa, olora or eva (EVA runs an SVD over the
first training batches; PiSSA and OLoRA change the base weights while training, so their adapter is saved
converted to a plain LoRA update of the original base: loading it leaves the base as it is)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptyard.core.adapter_format import task_type
from promptyard.core.configs import invalid
from promptyard.core.errors import TuningError
from promptyard.plugins.tuning.base import PeftMethod

#: ``init`` values and what peft's ``init_lora_weights`` gets for each
INITS = {"default": True, "gaussian": "gaussian", "pissa": "pissa", "olora": "olora", "eva": "eva"}


@dataclass
class LoraSettings:
    r: int = field(default=8, metadata={"help": "rank of the update matrices (1-256)"})
    alpha: int = field(default=16, metadata={"help": "scaling numerator: updates are scaled by alpha / r"})
    dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA input, 0 <= p < 1"})
    target_modules: list[str] | None = field(
        default=None, metadata={"help": "module names to adapt (comma separated); default: peft's choice "
                                        "for the architecture (q/v projections)"})
    use_dora: bool = field(default=False, metadata={"help": "DoRA: learn a magnitude per output and a "
                                                            "low-rank direction update (peft's use_dora)"})
    use_rslora: bool = field(default=False, metadata={"help": "rank-stabilised LoRA: scale by alpha / sqrt(r) "
                                                              "instead of alpha / r (peft's use_rslora)"})
    init: str = field(default="default", metadata={"help": "initialisation: default (B = 0), gaussian, pissa "
                                                           "(principal singular vectors), olora (QR), or eva "
                                                           "(SVD of layer inputs over training batches)"})

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
        if self.init not in INITS:
            raise invalid("lora", "init", self.init, ", ".join(INITS))
        if self.use_dora and self.init in ("pissa", "olora"):
            # the adapter is saved converted to a LoRA update of the original base, and peft's conversion
            # drops DoRA's magnitude vectors: the reloaded adapter would not be the trained one
            raise TuningError(f"init={self.init} cannot be combined with use_dora", where="lora config",
                              hint="its adapter is saved as a plain LoRA of the original base, which has no "
                                   "DoRA magnitudes: use init=default, gaussian or eva with use_dora")


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
        from peft.tuners.lora import EvaConfig

        init = INITS[config.init]
        return LoraConfig(task_type=task_type(kind), r=config.r, lora_alpha=config.alpha,
                          lora_dropout=config.dropout, target_modules=config.target_modules,
                          use_dora=config.use_dora, use_rslora=config.use_rslora, init_lora_weights=init,
                          eva_config=EvaConfig() if init == "eva" else None)


METHOD = LoraMethod()
