"""Hyper-parameter search on a real local Ray (CPU) with the real training loop on a tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tuning.toydata import write_toy_sentiment

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("local_ray")]

PROMPT = {"kind": "single", "text": "Review: {{ text }}\nSentiment:"}
# a short, real training run: 12 optimizer steps, an evaluation every 3 (reports at steps 0, 3, 6, 9, 12)
LOOP = {"max_steps": 12, "eval_every": 3, "epochs": 20, "patience": 0, "batch_size": 4, "train_sample": 48,
        "val_sample": 16}


@pytest.fixture
def setup(tmp_path):
    from promptyard.registry.api import Registry
    from promptyard.tuning.spec import TrainSpec

    reg = Registry.open(create=True)
    reg.commit("sent", PROMPT, message="v1", task_type="sentiment")
    data = write_toy_sentiment(tmp_path / "toy.jsonl", n=120)
    spec = TrainSpec(model="tiny-causal", data=data, method="lora", prompt="sent@1", task="sentiment",
                     config=dict(LOOP), seed=1, registry=str(reg.path), quiet=True)
    return reg, spec


def _search(train_spec, space, **kw):
    from promptyard.tuning.search import SearchSpec
    from promptyard.tuning.space import validate_space

    base = dict(train_spec=train_spec, space=validate_space(space), trials=8, concurrent=2, max_failures=0,
                seed=3)
    base.update(kw)
    return SearchSpec(**base)


def test_asha_search_stops_some_trials_and_registers_best_with_lineage(setup):
    from promptyard.registry.search_records import get_search
    from promptyard.runtime.ray_session import RayTarget
    from promptyard.tuning.search_driver import run_search

    reg, train_spec = setup
    spec = _search(train_spec, {"lr": {"loguniform": [1e-4, 5e-2]}, "r": {"choice": [2, 4]}},
                   name="sent-lora-search", label="staging")
    result = run_search(spec, RayTarget(), registry=reg)

    assert len(result.trials) == 8 and all(t.status != "error" for t in result.trials)
    full = [t for t in result.trials if t.status == "completed"]
    stopped = [t for t in result.trials if t.status == "stopped"]
    assert stopped, [t.iterations for t in result.trials]  # ASHA cut some trials short
    assert full and all(t.iterations == 5 for t in full)
    assert all(t.iterations < 5 for t in stopped)
    best = max(result.trials, key=lambda t: t.best_metric)
    assert result.best.best_metric == best.best_metric

    version = reg.resolve_adapter("sent-lora-search@staging")
    assert version.id == result.adapter.id
    lineage = version.lineage
    assert lineage["search"]["id"] == spec.search_id and lineage["search"]["trial_id"] == result.best.trial_id
    assert lineage["hyperparameters"]["r"] == result.best.params["r"]
    assert lineage["base_model"]["ref"] == "tiny-causal" and lineage["base_model"]["hash"]  # from the loop
    stored = reg.adapter_path("sent-lora-search@staging")
    assert (stored / "adapter_config.json").exists() and not (stored / "promptyard_trial.json").exists()
    assert not any(p.name.startswith("model") for p in stored.iterdir())  # only the adapter, never the base

    record = get_search(reg, spec.search_id)
    assert record["status"] == "finished" and record["adapter_version_id"] == version.id
    assert {t["trial_id"] for t in record["trials"]} == {t.trial_id for t in result.trials}
    assert result.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_single_trial_on_ray_equals_in_process_run(setup, tmp_path):
    import dataclasses

    from promptyard.runtime.ray_session import RayTarget
    from promptyard.tuning.loop import train
    from promptyard.tuning.search_driver import run_search

    _, train_spec = setup
    params = {"lr": 0.02, "r": 4}
    local = train(dataclasses.replace(train_spec, config={**LOOP, **params}), checkpoint_dir=tmp_path / "local")
    result = run_search(_search(train_spec, params, trials=1, scheduler="fifo"), RayTarget())
    (trial,) = result.trials
    assert trial.status == "completed"
    assert [h["step"] for h in trial.history] == [h["step"] for h in local.history] == [0, 3, 6, 9, 12]
    for key in ("val_metric", "val_loss", "train_loss"):
        assert [h[key] for h in trial.history] == pytest.approx([h[key] for h in local.history], rel=1e-4)


def test_trial_that_raises_is_reported_and_search_goes_on(setup):
    from rich.console import Console

    from promptyard.cli.output import table
    from promptyard.runtime.ray_session import RayTarget
    from promptyard.tuning.search_driver import run_search
    from promptyard.tuning.search_results import trial_rows

    _, train_spec = setup
    # r=0 is not a valid LoRA rank: those trials raise TuningError inside the loop; the others finish
    spec = _search(train_spec, {"r": {"choice": [0, 4]}, "lr": {"uniform": [0.005, 0.03]}}, trials=5,
                   scheduler="fifo")
    result = run_search(spec, RayTarget())
    errored = [t for t in result.trials if t.status == "error"]
    fine = [t for t in result.trials if t.status != "error"]
    assert errored and fine
    assert all(t.params["r"] == 0 for t in errored) and all(t.params["r"] == 4 for t in fine)
    assert all("TuningError" in t.error and "r" in t.error for t in errored)
    assert all(t.iterations == 5 for t in fine)
    assert result.best.params["r"] == 4

    console = Console(width=250, record=True)
    table("trials", *trial_rows(result.trials, "val_metric", result.best.trial_id), fold=True, to=console)
    text = console.export_text()
    assert text.count("TuningError") == len(errored)


def test_trial_that_fails_once_is_retried_from_its_checkpoint(setup, tmp_path):
    import json

    from promptyard.runtime.ray_session import RayTarget
    from promptyard.tuning.search import experiment_dir
    from promptyard.tuning.search_driver import _clean_adapter, run_search

    _, train_spec = setup
    spec = _search(train_spec, {"lr": 0.02, "r": 4}, trials=1, scheduler="fifo", max_failures=1,
                   trainer="tests.tuning.flaky_trainer:train")
    result = run_search(spec, RayTarget())
    (trial,) = result.trials
    assert trial.status == "completed", trial.error
    (log,) = experiment_dir(spec.search_id).glob("*/reports.jsonl")
    reports = [json.loads(line) for line in log.read_text().splitlines()]
    first = [r["step"] for r in reports if r["attempt"] == "first"]
    retry = [r["step"] for r in reports if r["attempt"] == "retry"]
    assert first == [0, 3]  # then the trial died
    assert retry == [6, 9, 12]  # the retry continued from the step-3 checkpoint: no step 0 again
    assert [h["step"] for h in trial.history][-3:] == [6, 9, 12]
    # the checkpoint carries the resume state; what the driver registers is the adapter alone
    checkpoint = Path(result.best.checkpoint)
    assert (checkpoint / "resume" / "weights.safetensors").exists()
    clean = _clean_adapter(str(checkpoint), tmp_path / "clean")
    assert sorted(p.name for p in clean.iterdir()) == sorted(
        p.name for p in checkpoint.iterdir() if p.name not in ("resume", "promptyard_trial.json"))
    assert (clean / "adapter_model.safetensors").exists()
