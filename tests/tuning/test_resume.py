"""The real training loop, interrupted and resumed from its checkpoint dir: it ends as if never interrupted."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil

import pytest

from promptyard.core.errors import TuningError
from promptyard.core.template import Template
from promptyard.tuning.loop import train
from promptyard.tuning.resume import OPTIMIZER_FILE, RESUME_DIR, STATE_FILE, WEIGHTS_FILE
from promptyard.tuning.spec import TrainSpec
from tests.tuning.toydata import write_toy_sentiment

# 8 optimizer steps over 2 epochs (4 batches each), an evaluation every 3: reports at steps 0, 3, 4, 6, 8
LOOP = {"max_steps": 8, "eval_every": 3, "epochs": 2, "patience": 0, "batch_size": 8, "train_sample": 32,
        "val_sample": 8}
CASES = [("lora", "tiny-causal", {"lr": 2e-2, "dropout": 0.1}),  # dropout: the RNG state must be restored
         ("full", "tiny-encoder", {"lr": 1e-3})]


class Crash(Exception):
    """What a killed worker looks like to the loop: it never returns."""


def _spec(tmp_path, method, model, extra, **changes):
    data = write_toy_sentiment(tmp_path / "toy.jsonl", n=80)
    spec = TrainSpec(model=model, data=data, method=method, task="sentiment", quiet=True, seed=2,
                     prompt=Template(kind="single", text="Review: {{ text }}\nSentiment:"),
                     config={**LOOP, **extra})
    return dataclasses.replace(spec, **changes)


def _crash_after(n, steps):
    def report(metrics):
        steps.append(metrics["step"])
        if len(steps) == n:
            raise Crash
    return report


def _weights(result):
    from safetensors.torch import load_file

    folder = result.run_dir / RESUME_DIR
    return load_file(str(folder / WEIGHTS_FILE))


@pytest.mark.slow
@pytest.mark.parametrize("method, model, extra", CASES, ids=[f"{m}-{k}" for m, k, _ in CASES])
def test_crashed_run_resumes_and_ends_like_an_uninterrupted_one(tmp_path, method, model, extra):
    import torch

    spec = _spec(tmp_path, method, model, extra)
    whole = train(spec, checkpoint_dir=tmp_path / "whole")

    before: list[int] = []
    with pytest.raises(Crash):
        train(spec, report=_crash_after(3, before), checkpoint_dir=tmp_path / "cut")
    after: list[int] = []
    resumed = train(spec, report=lambda m: after.append(m["step"]), checkpoint_dir=tmp_path / "cut")

    assert before == [0, 3, 4]
    assert after == [6, 8]  # continued after the last saved evaluation; no step-0 baseline again
    assert [h["step"] for h in resumed.history] == [h["step"] for h in whole.history] == [0, 3, 4, 6, 8]
    for key in ("val_loss", "val_metric", "train_loss"):
        assert [h[key] for h in resumed.history] == pytest.approx([h[key] for h in whole.history], rel=1e-5)
    for key in ("val_metric", "best_step", "steps", "val_loss", "final_val_loss", "train_tokens"):
        assert resumed.metrics[key] == pytest.approx(whole.metrics[key], rel=1e-5)
    final, expected = _weights(resumed), _weights(whole)
    assert final.keys() == expected.keys()
    for name in expected:
        assert torch.allclose(final[name], expected[name], atol=1e-6), name

    # safetensors and JSON only: nothing that unpickles
    files = sorted(p.name for p in (resumed.run_dir / RESUME_DIR).iterdir())
    assert files == sorted([OPTIMIZER_FILE, STATE_FILE, WEIGHTS_FILE])
    state = json.loads((resumed.run_dir / RESUME_DIR / STATE_FILE).read_text())
    assert state["loop"]["step"] == 8 and state["loop"]["done"]
    # a finished run dir trained again: nothing more happens, the result is the same
    again: list[int] = []
    assert train(spec, report=lambda m: again.append(m["step"]),
                 checkpoint_dir=tmp_path / "cut").metrics["val_metric"] == resumed.metrics["val_metric"]
    assert again == []


def _truncate(folder):
    path = folder / WEIGHTS_FILE
    path.write_bytes(path.read_bytes()[:100])


def _garble(folder):
    (folder / STATE_FILE).write_text('{"format": 1, "loop": ')


def _drop_loop(folder):  # valid JSON, a key gone: an error, not a KeyError traceback
    state = json.loads((folder / STATE_FILE).read_text())
    del state["loop"]
    (folder / STATE_FILE).write_text(json.dumps(state))


# (case, change to the spec, damage to the saved state, expected message)
REFUSED = [
    ("other settings", {"config": {**LOOP, "lr": 2e-2, "r": 4}}, None,
     r"belongs to a run with other settings \(differs in: method_config.r \(8 -> 4\)"),
    ("other seed", {"seed": 7}, None, r"belongs to another run \(differs in: .*seed \(2 -> 7\)"),
    ("truncated weights", {}, _truncate, r"damaged: weights.safetensors is missing or does not match"),
    ("garbled state", {}, _garble, r"damaged: cannot read state.json"),
    ("state without its loop", {}, _drop_loop, r"damaged: state.json lacks loop"),
]


@pytest.mark.slow
def test_foreign_or_damaged_state_is_refused_with_a_clear_error(tmp_path):
    spec = _spec(tmp_path, "lora", "tiny-causal", {"lr": 2e-2})
    saved = tmp_path / "saved"
    with pytest.raises(Crash):
        train(spec, report=_crash_after(2, []), checkpoint_dir=saved)
    for case, changes, damage, message in REFUSED:
        run_dir = tmp_path / case.replace(" ", "-")
        shutil.copytree(saved, run_dir)
        if damage is not None:
            damage(run_dir / RESUME_DIR)
        with pytest.raises(TuningError, match=message) as caught:
            train(dataclasses.replace(spec, **changes), checkpoint_dir=run_dir)
        assert caught.value.where == str(run_dir / RESUME_DIR), case
        assert "delete" in (caught.value.hint or ""), case


@pytest.mark.slow
def test_changed_lr_is_applied_and_a_write_cut_between_renames_falls_back(tmp_path, caplog):
    spec = _spec(tmp_path, "lora", "tiny-causal", {"lr": 2e-2})
    run_dir = tmp_path / "run"
    with pytest.raises(Crash):
        train(spec, report=_crash_after(2, []), checkpoint_dir=run_dir)
    # a kill between "move the old state aside" and "rename the new one in", with an unfinished write
    os.rename(run_dir / RESUME_DIR, run_dir / ".resume-old-0000")
    (run_dir / ".resume-tmp-0001").mkdir()
    (run_dir / ".resume-tmp-0001" / WEIGHTS_FILE).write_bytes(b"partial")

    seen: list[dict] = []
    faster = dataclasses.replace(spec, config={**spec.config, "lr": 1e-2})  # what a PBT exploit changes
    with caplog.at_level(logging.INFO, logger="promptyard"):
        result = train(faster, report=seen.append, checkpoint_dir=run_dir)
    assert [m["step"] for m in seen] == [4, 6, 8]
    assert any("resuming with changed settings: lr 0.02 -> 0.01" in m for m in caplog.messages)
    assert not list(run_dir.glob(".resume-*"))
    groups = json.loads((result.run_dir / RESUME_DIR / STATE_FILE).read_text())["optimizer"]["param_groups"]
    assert all(g["initial_lr"] == 1e-2 for g in groups)


@pytest.mark.slow
def test_a_run_stopped_by_patience_goes_on_when_resumed_with_more_patience(tmp_path):
    # lr ~0: the validation metric never improves, so patience 1 stops the run at its first evaluation
    spec = _spec(tmp_path, "lora", "tiny-causal", {"lr": 1e-12, "patience": 1})
    first: list[int] = []
    stopped = train(spec, report=lambda m: first.append(m["step"]), checkpoint_dir=tmp_path / "run")
    assert first == [0, 3] and stopped.metrics["stopped_early"]
    more = dataclasses.replace(spec, config={**spec.config, "patience": 3})
    later: list[int] = []
    train(more, report=lambda m: later.append(m["step"]), checkpoint_dir=tmp_path / "run")
    assert later and later[0] > 3, later  # it trained on from step 3 instead of trusting the old "done"
    # the same patience as before: the run is finished, nothing more happens
    again: list[int] = []
    train(more, report=lambda m: again.append(m["step"]), checkpoint_dir=tmp_path / "run")
    assert again == []
