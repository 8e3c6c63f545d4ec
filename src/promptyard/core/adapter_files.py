"""Adapter folders hold safetensors only: a pickled weight file is never loaded (loading a pickle runs code).

Every place an adapter folder enters promptyard checks it here first: registering it, evaluating a local
folder (``eval run --adapter ./folder``), loading it onto a base model (predict, eval), exporting it and
importing a bundle that names a stored one. PEFT itself falls back to ``adapter_model.bin`` through
``torch.load`` when no safetensors file is there; this check runs before PEFT gets the chance.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from promptyard.core.errors import ValidationError

#: suffixes of pickle-based weight formats (torch.save, pickle, Lightning checkpoints)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
PEFT_CONFIG = "adapter_config.json"
PEFT_WEIGHTS = "adapter_model.safetensors"
_HINT = "save it with save_pretrained(..., safe_serialization=True), which writes adapter_model.safetensors"


def pickled_files(names: Iterable[str]) -> list[str]:
    """The names (relative paths) among ``names`` that are pickle-based weight files."""
    return sorted(n for n in names if Path(n).suffix.lower() in PICKLE_SUFFIXES)


def check_safetensors_only(folder: str | Path, *, where: str | None = None, loading: bool = False) -> Path:
    """``folder`` when it holds no pickled weights and (``loading``: it is about to be loaded) a PEFT
    adapter's safetensors file; ValidationError naming the folder and the offending files otherwise."""
    folder = Path(folder)
    at = where or str(folder)
    if not folder.is_dir():
        raise ValidationError("not an adapter folder", where=at, hint="pass the folder the adapter was saved to")
    names = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    bad = pickled_files(names)
    if bad:
        raise ValidationError(f"adapter folder holds pickled weights ({', '.join(bad[:5])}); only safetensors "
                              "are accepted", where=at, hint=_HINT)
    if loading and PEFT_CONFIG in names and PEFT_WEIGHTS not in names:
        raise ValidationError(f"PEFT adapter folder without {PEFT_WEIGHTS}", where=at, hint=_HINT)
    return folder


__all__ = ["PICKLE_SUFFIXES", "check_safetensors_only", "pickled_files"]
