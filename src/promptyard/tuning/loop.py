"""The training loop: ``train(spec) -> TrainResult``.

Length-grouped batches padded only to their own longest row; the LM head only at target positions;
gradient accumulation; bf16/fp16 autocast on GPU; validation every ``eval_every`` steps with early
stopping; the best adapter (never the base model) kept in ``<run dir>/best``, and a resume state in
``<run dir>/resume`` (see :mod:`promptyard.tuning.resume`) from which a killed run continues. A plain
function of a picklable spec, so Ray Tune can run it in a worker and receive ``report(...)`` calls.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

from promptyard.core import events
from promptyard.core.errors import TuningError
from promptyard.core.lookups import save_adapter
from promptyard.core.paths import work_dir
from promptyard.runtime.inference import score_choices
from promptyard.runtime.lineage import package_versions, validate_lineage
from promptyard.runtime.text_format import text_format
from promptyard.tuning.batching import batch_loss, collate, epoch_batches
from promptyard.tuning.curves import save_curves
from promptyard.tuning.plan import Prepared, PreparedTask, plan_run, prepare
from promptyard.tuning.resume import (
    LoopState,
    check_fingerprint,
    find_state,
    fingerprint,
    load_state,
    read_state,
    replace_dir,
)
from promptyard.tuning.resume import save_state as save_resume_state
from promptyard.tuning.spec import TrainResult, TrainSpec

Report = Callable[[dict[str, Any]], None]

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy

        numpy.random.seed(seed % 2**32)
    except ImportError:
        pass


def _precision(setting: str, device: Any) -> tuple[Any, Any]:
    """(autocast dtype or None, GradScaler or None) for the setting on this device."""
    import torch

    if setting == "fp32" or (setting == "auto" and device.type != "cuda"):
        return None, None
    if setting == "bf16" or (setting == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16, None
    return torch.float16, torch.amp.GradScaler("cuda")


def evaluate(model: Any, prep: Prepared, device: Any, dtype: Any) -> dict[str, Any]:
    """Validation loss over target tokens, and the metric: accuracy (classification) or the loss.

    For a task mix: each task's (``val_metric/NAME``, ``val_loss/NAME``, and all of them under ``tasks``), and
    as ``val_metric``/``val_loss`` their means weighted by the tasks' weights (what early stopping and a
    search compare).
    """
    results = [_evaluate_task(model, prep, part, device, dtype) for part in prep.tasks]
    model.train()
    if not prep.plan.is_mix:
        return results[0]
    whole = sum(part.plan.weight for part in prep.tasks)
    out: dict[str, Any] = {key: sum(part.plan.weight * r[key] for part, r in zip(prep.tasks, results, strict=True))
                           / whole for key in ("val_loss", "val_metric")}
    for part, r in zip(prep.tasks, results, strict=True):
        out[f"val_metric/{part.plan.name}"] = r["val_metric"]
        out[f"val_loss/{part.plan.name}"] = r["val_loss"]
    out["tasks"] = {part.plan.name: r for part, r in zip(prep.tasks, results, strict=True)}
    return out


def _evaluate_task(model: Any, prep: Prepared, part: PreparedTask, device: Any, dtype: Any) -> dict[str, float]:
    import torch

    plan = prep.plan
    causal = plan.runs_as == "causal"
    pad = prep.loaded.tokenizer.pad_token_id or 0
    model.eval()
    total, count, correct = 0.0, 0, 0
    order = sorted(range(len(part.validation)), key=lambda i: len(part.validation[i]["input_ids"]))
    size = plan.settings.eval_batch_size
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
    with torch.inference_mode(), autocast:
        for b in range(0, len(order), size):
            idx = order[b:b + size]
            batch = collate([part.validation[i] for i in idx], pad, causal=causal)
            loss, logits, n = batch_loss(model, batch, causal=causal, device=device)
            total += float(loss) * n
            count += n
            if not causal:
                correct += int((logits.argmax(-1).cpu() == batch["labels"]).sum())
    result = {"val_loss": total / max(count, 1)}
    if part.plan.task.kind != "classification":
        result["val_metric"] = result["val_loss"]
    elif causal:
        view = _view(prep, model)
        scores = score_choices(view, part.val_prompts, part.choices, batch_size=size)
        predictions = [part.labels[max(range(len(row)), key=row.__getitem__)] for row in scores]
        result["val_metric"] = sum(p == t for p, t in zip(predictions, part.val_labels, strict=True)) / len(
            predictions)
    else:
        result["val_metric"] = correct / len(part.validation)
    return result


def _view(prep: Prepared, model: Any) -> Any:
    from dataclasses import replace

    return replace(prep.loaded, model=model)


def _save_best(method: Any, model: Any, run_dir: Path, meta: dict[str, Any]) -> Path:
    """Save the adapter under a temporary name, then swap it in for the previous best."""
    tmp = run_dir / f".best-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    save_adapter(method, model, tmp, meta)
    return replace_dir(tmp, run_dir / "best", aside=".old-")


def _dir_bytes(folder: Path | None) -> int:
    """Size of the files of a saved adapter."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) if folder else 0


def new_run_dir() -> Path:
    """A fresh folder name for a run under the work dir (not created)."""
    return work_dir() / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def train(spec: TrainSpec, *, report: Report | None = None,
          checkpoint_dir: Path | None = None) -> TrainResult:
    """Train ``spec.method`` on ``spec.model`` with ``spec.prompt`` over ``spec.data``; keep the best.

    ``report`` is called at every evaluation with ``step, epoch, train_loss, val_loss, val_metric,
    tokens_per_s, adapter_dir, resume_dir`` (``adapter_dir`` = the best adapter so far, ``resume_dir`` = the
    state to continue from). When ``checkpoint_dir`` holds a resume state of the same run, training continues
    from it (no step-0 evaluation again) and ends as the uninterrupted run would.
    """
    import torch

    started = time.time()
    plan = plan_run(spec)  # every bad name or value fails here, before anything is loaded or written
    seed_everything(spec.seed)
    prep = prepare(plan)
    settings, method = plan.settings, plan.method
    loaded = prep.loaded
    causal = plan.runs_as == "causal"
    run_dir = Path(checkpoint_dir or spec.run_dir or new_run_dir())
    run_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype, scaler = _precision(settings.precision, device)
    seed_everything(spec.seed)  # the adapter's initial weights depend only on the seed
    model = method.wrap(loaded.model, plan.method_config, kind=plan.runs_as, model_kind=plan.model_kind,
                        init_text=prep.init_text, model_path=loaded.path, tokenizer=loaded.tokenizer,
                        task_type=plan.task_name, train_features=prep.train)
    model.to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TuningError(f"method {method.name!r} left no parameter of {spec.model} trainable",
                          where=f"--method {method.name}",
                          hint="its wrap() must return the model with some parameters requiring grad "
                               "(this model may lack the parameters the method trains)")
    optimizer = torch.optim.AdamW(params, lr=plan.lr, weight_decay=settings.weight_decay)
    pad = loaded.tokenizer.pad_token_id or 0
    lengths = [len(f["input_ids"]) for f in prep.train]
    spans = [part.train_rows for part in prep.tasks]
    weights = [part.plan.weight for part in prep.tasks]
    # per epoch, as epoch_batches cuts (the count does not depend on the seed)
    n_batches = (math.ceil(len(prep.train) / settings.batch_size) if len(spans) == 1
                 else len(epoch_batches(lengths, spans, weights, settings.batch_size, seed=0)))
    per_epoch = math.ceil(n_batches / settings.grad_accum)
    total_steps = per_epoch * settings.epochs
    if settings.max_steps:
        total_steps = min(total_steps, settings.max_steps)
    warmup = int(total_steps * settings.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(
        (s + 1) / max(warmup, 1), max(0.0, (total_steps - s) / max(total_steps - warmup, 1))))
    meta = {"method": method.name, "method_config": asdict(plan.method_config), "base_model": spec.model,
            "base_model_hash": loaded.content_hash, "model_kind": plan.model_kind, "task": plan.task_name,
            "labels": prep.labels, "choices": prep.choices, "prompt": {**plan.prompt,
                                                                         "template": plan.template.to_dict()},
            # with the data and package versions, every checkpoint carries its lineage (searches register one)
            "data": prep.data, "packages": package_versions(), "seed": spec.seed,
            "text_format": trained_text_format(prep)}
    if plan.is_mix:  # predict uses the first task (the fields above); every task is listed here
        meta["mix"] = _mix_tasks(prep, with_template=True)
    prints = fingerprint(prep)
    found = find_state(run_dir)
    resumed = LoopState()
    if found is not None:
        saved = read_state(found)
        changed = check_fingerprint(saved["fingerprint"], prints, found)
        if not (run_dir / "best").is_dir():
            raise TuningError("a resume state without the best adapter next to it", where=str(run_dir),
                              hint=f"delete {found} to train from step 0")
        # last: it restores the RNG states, and nothing random may happen between here and the loop
        resumed = load_state(found, saved, model=model, optimizer=optimizer, scheduler=scheduler,
                             scaler=scaler, changed=changed, settings=settings, lr=plan.lr)
        log.info("resuming from step %d (%s)", resumed.step, found)
    step, micro = resumed.step, 0
    real_tokens, padded_tokens, train_time = resumed.real_tokens, resumed.padded_tokens, resumed.train_time
    steps_log: list[dict[str, Any]] = resumed.steps_log
    history: list[dict[str, Any]] = resumed.history
    best_metric, best_step, bad_evals = resumed.best_metric, resumed.best_step, resumed.bad_evals
    best_dir = run_dir / "best" if history else None
    minimise = plan.task.kind != "classification"
    running, running_n = 0.0, 0
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()

    def ended(at_step: int, epoch: int, consumed: int, bad: int) -> bool:
        """Training is over: patience ran out, ``max_steps`` reached, or the last epoch's batches consumed."""
        return bool((settings.patience and bad >= settings.patience)
                    or (settings.max_steps and at_step >= settings.max_steps)
                    or (epoch == settings.epochs - 1 and consumed == n_batches))

    n_trainable = sum(p.numel() for p in params)

    def do_eval(epoch: int, consumed: int) -> bool:
        nonlocal best_metric, best_step, bad_evals, best_dir
        eval_started = time.perf_counter()
        result = evaluate(model, prep, device, dtype)
        eval_ms = (time.perf_counter() - eval_started) * 1000 / max(len(prep.validation), 1)
        improved = best_metric is None or (result["val_metric"] < best_metric if minimise
                                           else result["val_metric"] > best_metric)
        if improved:
            best_metric, best_step, bad_evals = result["val_metric"], step, 0
        else:
            bad_evals += 1
        if improved or settings.keep == "last":
            extra = {"mix_metrics": result["tasks"]} if plan.is_mix else {}  # a search's lineage reads them
            best_dir = _save_best(method, model, run_dir, {**meta, "step": step, **extra})
        entry = {"step": step, "epoch": epoch, "train_loss": running / max(running_n, 1), **result,
                 "tokens_per_s": real_tokens / train_time if train_time else 0.0,
                 # what a multi-objective search may weigh against the metric (tuning.objectives)
                 "trainable_params": n_trainable, "adapter_bytes": _dir_bytes(best_dir),
                 "val_ms_per_row": eval_ms, "adapter_dir": str(best_dir)}
        history.append(entry)
        patience_stop = bool(settings.patience) and bad_evals >= settings.patience
        done = ended(step, epoch, consumed, bad_evals)
        # the train loss accumulators restart after every evaluation, so they are saved as zero
        resume_dir = save_resume_state(
            run_dir, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, prints=prints,
            loop=LoopState(step=step, epoch=epoch, consumed=consumed, done=done, best_metric=best_metric,
                           best_step=best_step, bad_evals=bad_evals, real_tokens=real_tokens,
                           padded_tokens=padded_tokens, train_time=train_time, history=history,
                           steps_log=steps_log))
        if report is not None:
            report({**entry, "resume_dir": str(resume_dir)})
        return patience_stop

    if not history:
        # step 0: the untrained adapter's score is the baseline every later evaluation must beat
        do_eval(0, 0)
    # a finished state stays finished unless only patience ended it and patience has since grown (PBT, user)
    stop = resumed.done and ended(resumed.step, resumed.epoch, resumed.consumed, resumed.bad_evals)
    with events.Task("training", total=total_steps, completed=step, loss=float("nan"), **{"tok/s": 0.0}) as bar:
        for epoch in range(resumed.epoch, settings.epochs):
            if stop:
                break
            batches = epoch_batches(lengths, spans, weights, settings.batch_size, seed=spec.seed * 1000 + epoch)
            # batch order is a function of seed and epoch: skipping what was consumed reproduces the run
            micro = resumed.consumed if epoch == resumed.epoch else 0
            for batch_idx in batches[micro:]:
                t0 = time.perf_counter()
                batch = collate([prep.train[i] for i in batch_idx], pad, causal=causal)
                with autocast:
                    loss, _, _ = batch_loss(model, batch, causal=causal, device=device)
                scaled = loss / settings.grad_accum
                (scaler.scale(scaled) if scaler else scaled).backward()
                micro += 1
                n_real = int(batch["attention_mask"].sum())
                real_tokens += n_real
                padded_tokens += batch["input_ids"].numel() - n_real
                loss_value = float(loss.detach())
                running, running_n = running + loss_value, running_n + 1
                if micro % settings.grad_accum == 0 or batch_idx is batches[-1]:
                    if scaler:
                        scaler.unscale_(optimizer)
                    if settings.max_grad_norm:
                        torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
                    (scaler.step(optimizer), scaler.update()) if scaler else optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    step += 1
                    train_time += time.perf_counter() - t0
                    steps_log.append({"step": step, "loss": loss_value})
                    bar.advance(1, loss=loss_value, **{"tok/s": round(real_tokens / max(train_time, 1e-9))})
                    if settings.eval_every and step % settings.eval_every == 0:
                        stop = do_eval(epoch, micro)
                        running, running_n = 0.0, 0
                    if stop or (settings.max_steps and step >= settings.max_steps):
                        stop = True
                        break
                else:
                    train_time += time.perf_counter() - t0
            if not history or history[-1]["step"] != step:
                stop = do_eval(epoch, len(batches)) or stop
                running, running_n = 0.0, 0
            if stop:
                break
    elapsed = time.time() - started
    metric_name = "accuracy" if not minimise else "val_loss"
    curves_json, curves_png = _curves(run_dir, steps_log, history, metric_name)
    last = history[-1]
    metrics = {"val_metric": best_metric, "metric_name": metric_name, "best_step": best_step,
               "initial_val_metric": history[0]["val_metric"], "initial_val_loss": history[0]["val_loss"],
               "val_loss": next(h["val_loss"] for h in history if h["step"] == best_step),
               "final_val_loss": last["val_loss"], "steps": step, "epochs_run": last["epoch"] + 1,
               "train_tokens": real_tokens, "tokens_per_s": real_tokens / train_time if train_time else 0.0,
               "padding_share": padded_tokens / max(real_tokens + padded_tokens, 1),
               "train_time_s": train_time,
               "stopped_early": bool(settings.patience) and bad_evals >= settings.patience}
    if plan.is_mix:
        best = next(h for h in history if h["step"] == best_step)
        metrics["tasks"] = {part.plan.name: {
            "task": part.plan.task_name, "weight": part.plan.weight, "metric_name": metric_name,
            "val_metric": best["tasks"][part.plan.name]["val_metric"],
            "val_loss": best["tasks"][part.plan.name]["val_loss"],
            "initial_val_metric": history[0]["tasks"][part.plan.name]["val_metric"]} for part in prep.tasks}
    lineage = _lineage(prep, metrics, elapsed, device)
    (run_dir / "lineage.json").write_text(json.dumps(lineage, indent=1, default=str))
    return TrainResult(adapter_dir=Path(best_dir), metrics=metrics, history=history, lineage=lineage,
                       run_dir=run_dir, curves_json=curves_json, curves_png=curves_png)


def _curves(run_dir: Path, steps: list, history: list, metric_name: str) -> tuple[Path | None, Path | None]:

    try:
        return save_curves(run_dir, steps, history, metric_name)
    except Exception as exc:  # a plotting failure must not lose a finished training run
        log.warning("could not save training curves: %s", exc)
        return None, None


def trained_text_format(prep: Prepared) -> dict[str, Any] | list[dict[str, Any]]:
    """The text rows were rendered into: the prompt's hash, and the chat template when a multi prompt went
    through it (:func:`promptyard.runtime.model_text.render_model_text`'s rule); for a task mix, one per task."""
    formats = [text_format(tp.prompt.get("hash"), prep.loaded.tokenizer, chat=tp.template.kind == "multi",
                           prompt=tp.prompt.get("resolved") or tp.prompt.get("ref")) for tp in prep.plan.tasks]
    return formats if prep.plan.is_mix else formats[0]


def _mix_tasks(prep: Prepared, *, with_template: bool = False) -> list[dict[str, Any]]:
    """Every task of a mix as lineage and the adapter's metadata record it: prompt version, data, labels."""
    out = []
    for part in prep.tasks:
        tp = part.plan
        prompt = {**tp.prompt, "template": tp.template.to_dict()} if with_template else dict(tp.prompt)
        out.append({"name": tp.name, "task": tp.task_name, "weight": tp.weight, "prompt": prompt,
                    "data": part.data, "labels": part.labels, "choices": part.choices})
    return out


def _lineage(prep: Prepared, metrics: dict[str, Any], elapsed: float, device: Any) -> dict[str, Any]:
    plan, spec = prep.plan, prep.plan.spec
    if plan.is_mix:
        # no single prompt or data set: the mix section lists each task's prompt version and data fingerprints
        which = {"task": {"name": "mix", "labels": None, "choices": None},
                 "mix": {"source": (spec.mix or {}).get("source"), "tasks": _mix_tasks(prep)}}
    else:
        which = {"prompt": plan.prompt, "data": prep.data,
                 "task": {"name": plan.task_name, "labels": prep.labels, "choices": prep.choices}}
    return validate_lineage({
        "source": "run",
        "base_model": {"ref": spec.model, "hash": prep.loaded.content_hash, "kind": plan.model_kind},
        **which,
        "method": {"name": plan.method.name, "config": asdict(plan.method_config)},
        "hyperparameters": {**asdict(plan.settings), "lr": plan.lr},
        "seed": spec.seed,
        "metrics": metrics,
        "packages": package_versions(),
        "text_format": trained_text_format(prep),
        "training_time_s": elapsed,
        "device": str(device),
    })
