"""A search across tuning methods with the real loop on the tiny model, in this process and on Ray: ASHA
stops some trials, the best trial of each method is reported and recorded, two objectives give the Pareto
front of the stored trials, and ``--extend`` adds trials without training the finished ones again."""

from __future__ import annotations

import pytest

from promptyard.registry.search_records import get_search
from promptyard.runtime.ray_session import RayTarget
from promptyard.tuning.objectives import Objective, dominates
from promptyard.tuning.search import SearchSpec
from promptyard.tuning.search_driver import run_search
from promptyard.tuning.search_extend import extend_search
from promptyard.tuning.search_local import run_search_local
from promptyard.tuning.space import validate_space
from promptyard.tuning.spec import TrainSpec
from tests.tuning.counting_trainer import trainings
from tests.tuning.toydata import write_toy_sentiment

pytestmark = [pytest.mark.slow]

PROMPT = {"kind": "single", "text": "Review: {{ text }}\nSentiment:"}
# every method gets the same budget: 8 optimizer steps, an evaluation every 2 (reports at 0, 2, 4, 6, 8)
LOOP = {"max_steps": 8, "eval_every": 2, "epochs": 20, "patience": 0, "batch_size": 4, "train_sample": 32,
        "val_sample": 12}
SPACE = {"method": {"choice": {
    "lora": {"r": {"choice": [2, 4]}, "lr": {"loguniform": [1e-3, 5e-2]}},
    "ia3": {"lr": {"loguniform": [1e-2, 3e-1]}},
    "prompt_tuning": {"lr": {"loguniform": [1e-2, 3e-1]}, "num_virtual_tokens": {"choice": [2, 4]}}}}}
TRAINER = "tests.tuning.counting_trainer:train"


@pytest.fixture
def setup(tmp_path):
    from promptyard.registry.api import Registry

    reg = Registry.open(create=True)
    reg.commit("sent", PROMPT, message="v1", task_type="sentiment")
    data = write_toy_sentiment(tmp_path / "toy.jsonl", n=80)
    spec = TrainSpec(model="tiny-causal", data=data, method="lora", prompt="sent@1", task="sentiment",
                     config=dict(LOOP), seed=1, registry=str(reg.path))
    return reg, spec


def _spec(train_spec, **kw):
    base = dict(train_spec=train_spec, space=validate_space(SPACE), trials=6, seed=2, max_reports=5,
                trainer=TRAINER, objectives=["accuracy", "-trainable_params"], concurrent=2, max_failures=0)
    return SearchSpec(**{**base, **kw})


def _check_search(reg, spec, result, n_trials):
    trials = result.trials
    assert len(trials) == n_trials and all(t.status != "error" for t in trials), [t.error for t in trials]
    methods = {t.params["method"] for t in trials}
    assert methods == {"lora", "ia3", "prompt_tuning"}
    assert any(t.status == "stopped" and t.iterations < 5 for t in trials)  # ASHA cut some short
    assert any(t.status == "completed" and t.iterations == 5 for t in trials)
    # the best of each method, and the best overall is the best of the bests
    assert set(result.best_per_method) == methods
    for method, best in result.best_per_method.items():
        mine = [t.best_metric for t in trials if t.params["method"] == method]
        assert best.params["method"] == method and best.best_metric == max(mine)
    assert result.best.best_metric == max(t.best_metric for t in trials)
    # the front is exactly the stored trials no other stored trial dominates
    record = get_search(reg, spec.search_id)
    objectives = [Objective("val_metric", "max"), Objective("trainable_params", "min")]
    values = {t.trial_id: [t.objectives["val_metric"], t.objectives["trainable_params"]] for t in trials}
    for t in record["trials"]:  # the values are those of the stored history, at the best evaluation
        best_entry = next(h for h in t["history"] if h["val_metric"] == t["best_metric"])
        assert values[t["trial_id"]] == [best_entry["val_metric"], best_entry["trainable_params"]]
    front = record["summary"]["pareto"]
    assert front and front == [t.trial_id for t in result.pareto]
    for i, point in values.items():
        assert (i in front) == (not any(dominates(q, point, objectives) for q in values.values()))
    assert {m: b["trial_id"] for m, b in record["summary"]["best_per_method"].items()} == \
        {m: t.trial_id for m, t in result.best_per_method.items()}
    assert record["status"] == "finished" and len(record["trials"]) == n_trials
    version = reg.resolve_adapter(f"{result.adapter.name}@latest")
    assert version.lineage["method"]["name"] == result.best.params["method"]
    assert version.lineage["search"]["objectives"][1]["name"] == "trainable_params"
    return record


def _check_extended(reg, spec, first, extended, added):
    before = {t.trial_id: t for t in first.trials}
    after = {t.trial_id: t for t in extended.trials}
    assert set(before) < set(after) and len(after) == len(before) + added
    for trial_id, trial in before.items():  # the finished trials are kept as they were
        assert after[trial_id].params == trial.params and after[trial_id].history == trial.history
    runs = trainings(spec.train_spec.data)
    assert len(runs) == len(before) + added  # each trial trained once: none of the finished ones again
    record = get_search(reg, spec.search_id)
    assert record["status"] == "finished" and record["trials_requested"] == len(after)
    assert {t["trial_id"] for t in record["trials"]} == set(after)
    (ext,) = record["summary"]["extensions"]
    assert ext["trials"] == added and set(ext["trial_ids"]) == set(after) - set(before)
    assert extended.best.best_metric >= first.best.best_metric
    if extended.best.trial_id == first.best.trial_id:  # the best adapter is registered once
        assert extended.adapter.id == first.adapter.id


def test_in_process_search_across_methods_then_extend(setup):
    reg, train_spec = setup
    spec = _spec(train_spec, seed=6)  # promptyard's random draws: two trials of each method with this seed
    first = run_search_local(spec, registry=reg)
    _check_search(reg, spec, first, 6)
    assert len(trainings(spec.train_spec.data)) == 6
    png = first.plot_path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 12 * 110  # two panels: the curves and the objectives

    extended = extend_search(spec.search_id, 2, None, registry=reg)
    _check_extended(reg, spec, first, extended, 2)


@pytest.mark.ray
def test_ray_search_across_methods_then_extend(setup, local_ray):
    reg, train_spec = setup
    spec = _spec(train_spec, search_alg="optuna", seed=4)
    first = run_search(spec, RayTarget(), registry=reg)
    _check_search(reg, spec, first, 6)

    extended = extend_search(spec.search_id, 2, RayTarget(), registry=reg)
    _check_extended(reg, spec, first, extended, 2)
