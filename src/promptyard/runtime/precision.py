"""Numeric precision of inference: exact fp32 (the default) or a bf16 copy of the model (opt-in, faster).

``bf16`` runs the forward passes on a bfloat16 copy of the model. On a CPU with native bf16 matrix
instructions (AMX or AVX512-BF16) that is several times faster than fp32 for a small model; on a CPU
without them bf16 is emulated and slower, so the mode is refused there. Choice scoring in bf16
re-scores in fp32 every example whose two best choices lie closer than :data:`RECHECK_MARGIN` nats, so
its predictions agree with exact scoring (bf16 moves a choice margin by up to ~0.2 nats on SmolLM2);
generation in bf16 has no such check, and its greedy replies may differ from fp32's.

The copy is made once per model state (weights and active adapter, named by the caller's key) and
kept for the next cell; the fp32 model stays as it was.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import replace
from typing import Any

from promptyard.core.errors import UsageError

PRECISIONS = ("fp32", "bf16")
DEFAULT = "fp32"
#: choice margins (nats) below which a bf16 score is re-checked in fp32
RECHECK_MARGIN = 0.25

_twin: dict[str, Any] = {}  # {"key": (id(model), state key), "model": the bf16 copy}


def check_precision(precision: str, *, where: str | None = None) -> str:
    """The precision name, checked: one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}", where=where,
                         hint=f"one of {', '.join(PRECISIONS)} ({DEFAULT}, exact, is the default)")
    return precision


@functools.cache
def cpu_bf16_native() -> bool:
    """Whether this CPU has native bf16 matrix instructions (AMX-BF16 or AVX512-BF16)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        flags = []
    if flags:
        return "amx_bf16" in flags or "avx512_bf16" in flags
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def bf16_supported(device: Any) -> bool:
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return cpu_bf16_native()
    return False


def for_precision(loaded: Any, precision: str, state_key: str) -> Any:
    """``loaded`` itself for fp32; for bf16 a LoadedModel whose model is a bfloat16 copy (cached by state)."""
    check_precision(precision)
    if precision == "fp32":
        return loaded
    import torch

    model = loaded.model
    device = next(model.parameters()).device
    if not bf16_supported(device):
        raise UsageError(f"bf16 inference is not native on this {device.type}: it would be slower than fp32",
                         where="precision", hint="use the default precision (fp32) on this machine")
    key = (id(model), state_key)
    if _twin.get("key") != key:
        _twin.clear()  # one copy at a time: the previous model's is freed first
        twin = copy.deepcopy(model)
        for param in twin.parameters():  # tied weights are one parameter: they stay tied
            if param.dtype.is_floating_point:
                param.data = param.data.to(torch.bfloat16)
        # buffers (rotary frequencies, masks) stay as they are: casting them costs accuracy, not time
        twin.eval()
        _twin.update(key=key, model=twin, of=model)  # ``of`` keeps id(model) from being reused meanwhile
    return replace(loaded, model=_twin["model"])


def forget() -> None:
    """Drop the cached bf16 copy (its memory is freed)."""
    _twin.clear()


def close_calls(scores: list[list[float]], margin: float) -> list[int]:
    """Rows whose best two scores lie within ``margin`` of each other (all rows with a single choice: none)."""
    out = []
    for i, row in enumerate(scores):
        if len(row) < 2:
            continue
        top = sorted(row, reverse=True)
        if top[0] - top[1] < margin:
            out.append(i)
    return out
