"""The training loop's resume state: enough to continue a run from its last evaluation, bit for bit.

Written into ``<run dir>/resume/`` at every evaluation, atomically (a temporary folder renamed into place),
so a kill mid-write leaves the previous state usable:

- ``weights.safetensors`` — the trainable parameters now (the adapter's, or every trained one for ``full``);
- ``optimizer.safetensors`` — AdamW's moment tensors and the torch RNG state (``rng.torch``, uint8);
- ``state.json`` — loop position (step, epoch, batches consumed), best metric, history, counters, the
  optimizer's and scheduler's plain values, Python's RNG state, a fingerprint of the run, and the
  sha256 of both tensor files (a damaged state is refused, never half-loaded).

Never pickle: tensors go to safetensors, everything else to JSON.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from promptyard.core.errors import TuningError
from promptyard.core.hashing import file_hash

RESUME_DIR = "resume"
STATE_FILE = "state.json"
WEIGHTS_FILE = "weights.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
FORMAT = 1
#: settings a resumed run may change (PBT mutates them): applied to the restored optimizer and loop.
#: Anything else that differs would change the weights' shapes, the data or the batch order.
MUTABLE = ("lr", "weight_decay", "max_grad_norm", "patience")

log = logging.getLogger(__name__)


@dataclass
class LoopState:
    """Where the loop stands after an evaluation (plain values only)."""

    step: int = 0
    epoch: int = 0
    consumed: int = 0  # batches of ``epoch`` already trained on (batch order is a function of seed and epoch)
    done: bool = False  # the loop had decided to stop (patience or max_steps)
    best_metric: float | None = None
    best_step: int = 0
    bad_evals: int = 0
    real_tokens: int = 0
    padded_tokens: int = 0
    train_time: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    steps_log: list[dict[str, Any]] = field(default_factory=list)


def fingerprint(prep: Any) -> dict[str, dict[str, Any]]:
    """What makes two runs the same run: identity (model, data, prompt, seed), structure, mutable settings."""
    plan = prep.plan
    settings = asdict(plan.settings)
    settings["lr"] = plan.lr
    identity = {"method": plan.method.name, "base_model_hash": prep.loaded.content_hash,
                "model_kind": plan.model_kind, "task": plan.task_name, "prompt_hash": plan.prompt.get("hash"),
                "train_fingerprint": prep.data.get("train_fingerprint"),
                "validation_fingerprint": prep.data.get("validation_fingerprint"), "seed": plan.spec.seed}
    if plan.spec.mix is not None:  # every task of a mix: its prompt, data and weight
        identity["mix"] = [{"name": t.plan.name, "task": t.plan.task_name, "weight": t.plan.weight,
                            "prompt_hash": t.plan.prompt.get("hash"),
                            "train_fingerprint": t.data.get("train_fingerprint"),
                            "validation_fingerprint": t.data.get("validation_fingerprint")} for t in prep.tasks]
    structure = {"method_config": asdict(plan.method_config),
                 "settings": {k: v for k, v in settings.items() if k not in MUTABLE}}
    return json.loads(json.dumps({"identity": identity, "structure": structure,
                                  "mutable": {k: settings[k] for k in MUTABLE}}, default=str))


def save_state(run_dir: Path, *, model: Any, optimizer: Any, scheduler: Any, scaler: Any, loop: LoopState,
               prints: dict[str, Any]) -> Path:
    """Write the resume state next to the best adapter; the previous one stays until the new one is complete."""
    import torch
    from safetensors.torch import save_file

    tmp = run_dir / f".resume-tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    # straight to CPU: a GPU-side clone would double the trained weights' GPU memory at every evaluation
    weights = {n: p.detach().to("cpu", copy=True).contiguous() for n, p in model.named_parameters()
               if p.requires_grad}
    save_file(weights, str(tmp / WEIGHTS_FILE))
    opt = optimizer.state_dict()
    tensors: dict[str, Any] = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    plain_state: dict[str, dict[str, Any]] = {}
    for idx, values in opt["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"state.{idx}.{key}"] = value.detach().contiguous().cpu()
            else:
                plain_state.setdefault(str(idx), {})[key] = value
    save_file(tensors, str(tmp / OPTIMIZER_FILE))
    sched = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    python_rng = random.getstate()
    state = {"format": FORMAT, "fingerprint": prints, "loop": asdict(loop),
             "optimizer": {"param_groups": opt["param_groups"], "plain_state": plain_state},
             "scheduler": sched, "scaler": scaler.state_dict() if scaler is not None else None,
             "python_rng": [python_rng[0], list(python_rng[1]), python_rng[2]],
             "files": {name: file_hash(tmp / name) for name in (WEIGHTS_FILE, OPTIMIZER_FILE)}}
    (tmp / STATE_FILE).write_text(json.dumps(state, default=str))
    for name in (WEIGHTS_FILE, OPTIMIZER_FILE, STATE_FILE):
        with open(tmp / name, "rb") as fh:
            os.fsync(fh.fileno())
    # a kill between the two renames leaves the old state in .resume-old-*: see find_state
    return replace_dir(tmp, run_dir / RESUME_DIR, aside=".resume-old-")


def replace_dir(tmp: Path, final: Path, *, aside: str) -> Path:
    """Swap the complete folder ``tmp`` in for ``final``: the old one is renamed to ``<aside><random>`` first
    and deleted only afterwards, so a complete copy is on disk at every moment (the best adapter, the state)."""
    old = None
    if final.exists():
        old = final.parent / f"{aside}{uuid.uuid4().hex[:8]}"
        os.rename(final, old)
    os.rename(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def find_state(run_dir: Path) -> Path | None:
    """The complete resume state in ``run_dir`` (or the previous one, if a kill hit between two renames)."""
    for leftover in run_dir.glob(".resume-tmp-*"):  # an unfinished write: never complete, never read
        shutil.rmtree(leftover, ignore_errors=True)
    final = run_dir / RESUME_DIR
    if final.is_dir():
        for old in run_dir.glob(".resume-old-*"):
            shutil.rmtree(old, ignore_errors=True)
        return final
    olds = sorted(run_dir.glob(".resume-old-*"), key=lambda p: p.stat().st_mtime)
    if olds:
        os.rename(olds[-1], final)
        return final
    return None


def has_state(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a resume state (complete, or the previous one after a cut write)."""
    return (run_dir / RESUME_DIR).is_dir() or any(run_dir.glob(".resume-old-*"))


def read_state(folder: Path) -> dict[str, Any]:
    """The JSON part of a resume state, with its tensor files verified; a clear error when damaged."""
    hint = f"delete {folder} to train from step 0, or pass another checkpoint_dir/run dir"
    try:
        state = json.loads((folder / STATE_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise TuningError(f"the resume state is damaged: cannot read {STATE_FILE} ({exc})", where=str(folder),
                          hint=hint) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TuningError(f"unknown resume state format {state.get('format') if isinstance(state, dict) else '?'}",
                          where=str(folder), hint=hint)
    missing = [k for k in ("fingerprint", "loop", "optimizer", "scheduler", "python_rng") if k not in state]
    if missing or not isinstance(state["optimizer"], dict) or "param_groups" not in state["optimizer"]:
        raise TuningError(f"the resume state is damaged: {STATE_FILE} lacks {', '.join(missing) or 'param_groups'}",
                          where=str(folder), hint=hint)
    for name, digest in state.get("files", {}).items():
        path = folder / name
        if not path.is_file() or file_hash(path) != digest:
            raise TuningError(f"the resume state is damaged: {name} is missing or does not match its hash",
                              where=str(folder), hint=hint)
    return state


def check_fingerprint(saved: dict[str, Any], current: dict[str, Any], folder: Path) -> dict[str, tuple]:
    """Refuse a state from another run; return the mutable settings that changed ``{name: (old, new)}``."""
    for part, what in (("identity", "another run"), ("structure", "a run with other settings")):
        old, new = saved.get(part, {}), current[part]
        if old != new:
            keys = _diff(old, new)
            raise TuningError(f"the resume state belongs to {what} (differs in: {', '.join(keys)})",
                              where=str(folder),
                              hint=f"resume with the same options; only {', '.join(MUTABLE)} may change. "
                                   f"Otherwise delete {folder} or use a new run dir")
    old, new = saved.get("mutable", {}), current["mutable"]
    return {k: (old.get(k), new[k]) for k in new if old.get(k) != new[k]}


def _diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _diff(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key} ({a!r} -> {b!r})")
    return keys


def load_state(folder: Path, state: dict[str, Any], *, model: Any, optimizer: Any, scheduler: Any,
               scaler: Any, changed: dict[str, tuple], settings: Any, lr: float) -> LoopState:
    """Put the saved weights, optimizer, scheduler and RNG states back; apply changed mutable settings."""
    import torch
    from safetensors.torch import load_file

    device = next(model.parameters()).device
    weights = load_file(str(folder / WEIGHTS_FILE), device=str(device))
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(weights) != set(trainable) or any(weights[n].shape != trainable[n].shape for n in weights):
        raise TuningError("the resume state's weights do not fit this model's trainable parameters",
                          where=str(folder), hint=f"delete {folder} to train from step 0")
    with torch.no_grad():
        for name, value in weights.items():
            trainable[name].copy_(value)
    tensors = load_file(str(folder / OPTIMIZER_FILE))
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("state."):
            _, idx, name = key.split(".", 2)
            opt_state.setdefault(int(idx), {})[name] = value
    for idx, values in state["optimizer"]["plain_state"].items():
        opt_state.setdefault(int(idx), {}).update(values)
    groups = state["optimizer"]["param_groups"]
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict({"state": opt_state, "param_groups": groups})
    scheduler.load_state_dict({**state["scheduler"], "lr_lambdas": [None] * len(optimizer.param_groups)})
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if changed:
        _apply_mutations(optimizer, scheduler, changed, settings, lr)
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = state["python_rng"]
    random.setstate((version, tuple(internal), gauss))
    return LoopState(**state["loop"])


def _apply_mutations(optimizer: Any, scheduler: Any, changed: dict[str, tuple], settings: Any,
                     lr: float) -> None:
    """New lr / weight decay take effect from the next step; the schedule keeps its position."""
    factor = scheduler.lr_lambdas[0](scheduler.last_epoch)
    scheduler.base_lrs = [lr for _ in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["initial_lr"] = lr
        group["lr"] = lr * factor
        group["weight_decay"] = settings.weight_decay
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
    described = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items())
    log.info("resuming with changed settings: %s", described)
