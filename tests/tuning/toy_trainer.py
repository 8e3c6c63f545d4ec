"""A small, honest pure-torch training loop with ``loop.train``'s signature, for exercising Tune plumbing.

It fits a two-layer MLP to a fixed synthetic classification task; the "adapter" it saves is that MLP's
weights (``adapter_model.pt`` + ``adapter_config.json``). It resumes from ``checkpoint_dir`` when a
checkpoint was copied there, like the real loop. The real ``promptyard.tuning.loop.train`` is exercised in
``test_search_real.py``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptyard.core.errors import TuningError


@dataclass
class ToySpec:
    config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    max_steps: int = 40
    eval_every: int = 5
    log_path: str | None = None  # JSON lines: one "start"/"end" per call, to count re-runs
    step_sleep: float = 0.0  # seconds per step, to make a trial last long enough to be interrupted


def _log(spec: ToySpec, event: str, **extra: Any) -> None:
    if not spec.log_path:
        return
    trial = None
    try:
        from ray import tune

        trial = tune.get_context().get_trial_id()
    except Exception:  # not inside Tune
        trial = None
    with open(spec.log_path, "a") as fh:
        fh.write(json.dumps({"event": event, "trial": trial, "pid": os.getpid(), "t": time.time(),
                             "config": spec.config, **extra}) + "\n")


def _data(seed: int = 1234):
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(400, 8, generator=g)
    w = torch.randn(8, generator=g)
    y = ((x @ w + 0.5 * torch.sin(3 * x[:, 0])) > 0).long()
    return x[:300], y[:300], x[300:], y[300:]


def train(spec: ToySpec, *, report=None, checkpoint_dir: Path | None = None) -> dict[str, Any]:
    import torch

    cfg = {"lr": 0.05, "hidden": 8, "act": "relu", **spec.config}
    acts = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}
    if cfg["act"] not in acts:
        raise TuningError(f"unknown activation '{cfg['act']}'", where="act", hint="relu or tanh")
    if float(cfg["lr"]) <= 0:
        raise TuningError(f"lr must be positive, got {cfg['lr']}", where="lr")
    torch.manual_seed(spec.seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, int(cfg["hidden"])), acts[cfg["act"]](),
                                torch.nn.Linear(int(cfg["hidden"]), 2))
    opt = torch.optim.SGD(model.parameters(), lr=float(cfg["lr"]))
    xt, yt, xv, yv = _data()
    start = 0
    state_file = Path(checkpoint_dir) / "promptyard_trial.json" if checkpoint_dir else None
    if state_file is not None and state_file.exists():
        model.load_state_dict(torch.load(Path(checkpoint_dir) / "adapter_model.pt"))
        start = int(json.loads(state_file.read_text())["step"])
    _log(spec, "start", step=start)
    history = []
    for step in range(start + 1, spec.max_steps + 1):
        idx = torch.randint(0, 300, (32,), generator=torch.Generator().manual_seed(spec.seed * 1000 + step))
        loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if spec.step_sleep:
            time.sleep(spec.step_sleep)
        if step % spec.eval_every == 0 or step == spec.max_steps:
            with torch.no_grad():
                logits = model(xv)
                val_loss = float(torch.nn.functional.cross_entropy(logits, yv))
                acc = float((logits.argmax(-1) == yv).float().mean())
            out = Path(checkpoint_dir or ".") / f"step-{step}"
            out.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), out / "adapter_model.pt")
            (out / "adapter_config.json").write_text(json.dumps({"toy_mlp": cfg}))
            metrics = {"step": step, "epoch": step / 10, "train_loss": loss.item(), "val_loss": val_loss,
                       "val_metric": acc, "tokens_per_s": 0.0, "adapter_dir": str(out)}
            history.append(metrics)
            if report is not None:
                report(metrics)
    _log(spec, "end", step=spec.max_steps)
    return {"history": history, "best": max((h["val_metric"] for h in history), default=None)}
