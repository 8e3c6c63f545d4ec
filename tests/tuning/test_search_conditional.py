"""Conditional spaces (a method choice with a sub-space per method), objectives and the Pareto front, and
Optuna's define-by-run sampling of them: the parts of a search across methods that need no training."""

from __future__ import annotations

import random

import pytest

from promptyard.core.errors import UsageError, ValidationError
from promptyard.tuning.objectives import Objective, dominates, pareto_front, parse_objectives
from promptyard.tuning.search_optuna import SpaceSampler, StudyProposer, flat_params, new_study, optuna_point
from promptyard.tuning.space import branches, load_space_file, sample_params, searched_keys, space_methods

GOOD = """\
lr: {loguniform: [1.0e-4, 1.0e-2]}
max_steps: 12
method:
  choice:
    lora:
      r: {choice: [2, 4]}
    ia3: {}
    prompt_tuning:
      lr: {loguniform: [1.0e-2, 3.0e-1]}
      num_virtual_tokens: {int: [2, 4]}
"""


def _space(tmp_path, text=GOOD):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return load_space_file(path)


def test_method_choice_gives_each_method_the_shared_keys_and_its_own(tmp_path):
    space = _space(tmp_path)
    assert space_methods(space) == ["lora", "ia3", "prompt_tuning"]
    parts = branches(space)
    assert parts["lora"] == {"lr": {"loguniform": [1e-4, 1e-2]}, "max_steps": 12, "r": {"choice": [2, 4]}}
    assert parts["ia3"] == {"lr": {"loguniform": [1e-4, 1e-2]}, "max_steps": 12}
    assert parts["prompt_tuning"]["lr"] == {"loguniform": [1e-2, 3e-1]}  # its own replaces the shared one
    assert searched_keys(space) == ["method", "lr", "r", "num_virtual_tokens"]
    seen = set()
    for seed in range(40):
        draw = sample_params(space, random.Random(seed))
        seen.add(draw["method"])
        assert set(draw) == {"method", *parts[draw["method"]]}  # only the chosen method's keys
        if draw["method"] == "prompt_tuning":
            assert 1e-2 <= draw["lr"] < 3e-1 and 2 <= draw["num_virtual_tokens"] <= 4
        else:
            assert 1e-4 <= draw["lr"] < 1e-2
    assert seen == {"lora", "ia3", "prompt_tuning"}
    assert sample_params(space, random.Random(5)) == sample_params(space, random.Random(5))


def test_a_method_list_takes_each_methods_default_space(tmp_path):
    from promptyard.core.host import lookup

    space = _space(tmp_path, "method: {choice: [lora, ia3]}\nmax_steps: 4\n")
    assert branches(space)["ia3"] == {"max_steps": 4, **lookup("tuning_methods", "ia3").default_search_space()}
    space = _space(tmp_path, "method: {choice: {lora: {r: 4}, ia3: null}}\n")
    assert branches(space)["lora"] == {"r": 4} and "lr" in branches(space)["ia3"]


@pytest.mark.parametrize(("text", "line", "key", "needle"), [
    ("method:\n  choice:\n    lora: {}\n    nosuch: {}\n", 4, "method.choice.nosuch", "unknown tuning method 'nosuch'"),
    ("method: {choice: [lora, nosuch]}\n", 1, "method.choice.nosuch", "unknown tuning method 'nosuch'"),
    ("lr: 0.1\nmethod:\n  choice:\n    lora:\n      r: {choice: 4}\n", 5, "method.choice.lora.r",
     "takes a non-empty list"),
    ("method:\n  choice:\n    lora:\n      method: ia3\n", 4, "method.choice.lora.method", "cannot set 'method'"),
    ("method:\n  choice:\n    lora: [4, 8]\n", 3, "method.choice.lora", "must be a mapping"),
    ("method: {uniform: [0, 1]}\n", 1, "method", "method name or {choice"),
    ("method: {choice: []}\n", 1, "method.choice", "method choice takes"),
    ("method: 3\n", 1, "method", "method name or {choice"),
])
def test_bad_conditional_spaces_name_file_line_and_key(tmp_path, text, line, key, needle):
    with pytest.raises(ValidationError) as info:
        _space(tmp_path, text)
    message = str(info.value)
    assert needle in message and f"space.yaml line {line}, key '{key}'" in message, message


def test_define_by_run_sampling_gives_flat_params_inside_the_space(tmp_path):
    space = _space(tmp_path)
    proposer = StudyProposer(space, [Objective("val_metric", "max")], search_alg="random", seed=0)
    methods = set()
    for _ in range(20):
        number, params = proposer.ask()
        methods.add(params["method"])
        assert set(params) == {"method", *branches(space)[params["method"]]}, params
        assert params["max_steps"] == 12
        proposer.tell(number, [0.5])
    assert methods == {"lora", "ia3", "prompt_tuning"}
    # Ray unflattens Optuna's "<method>/<key>" names; both forms come back flat
    assert flat_params({"method": "lora", "lora": {"r": 2, "lr": 0.01}}) == {"method": "lora", "r": 2, "lr": 0.01}
    assert flat_params({"method": "ia3", "ia3/lr": 0.02}) == {"method": "ia3", "lr": 0.02}
    assert flat_params({"lr": 0.1, "r": 4}) == {"lr": 0.1, "r": 4}
    assert SpaceSampler(space).space == space


def test_a_seeded_study_holds_the_finished_trials(tmp_path):
    space = _space(tmp_path)
    objectives = [Objective("val_metric", "max"), Objective("trainable_params", "min")]
    seeds = [{"params": {"method": "lora", "lr": 0.001, "r": 4, "max_steps": 12}, "values": [0.7, 900]},
             {"params": {"method": "ia3", "lr": 0.002, "max_steps": 12}, "values": [0.6, 200]},
             {"params": {"method": "gone", "lr": 0.002}, "values": [0.9, 1]},  # not in the space: left out
             {"params": {"method": "lora", "lr": 5.0, "r": 4}, "values": [0.9, 1]}]  # lr outside its range
    study = new_study(space, objectives, sampler=None, seeds=seeds)
    trials = study.get_trials()
    assert [t.params for t in trials] == [{"method": "lora", "lora/lr": 0.001, "lora/r": 4},
                                          {"method": "ia3", "ia3/lr": 0.002}]
    assert [t.values for t in trials] == [[0.7, 900], [0.6, 200]]
    assert optuna_point(space, {"method": "lora", "lr": 0.001}) is None  # r missing


def _objectives(*texts, classification=True):
    return parse_objectives(list(texts), default_mode=lambda n: "min" if "loss" in n else "max",
                            classification=classification)


def test_objectives_parse_signs_aliases_and_defaults():
    got = _objectives("accuracy", "-trainable_params", "adapter_size", "val_loss", "+latency")
    assert [(o.name, o.mode, o.label) for o in got] == [
        ("val_metric", "max", "accuracy"), ("trainable_params", "min", "-trainable_params"),
        ("adapter_bytes", "max", "adapter_size"), ("val_loss", "min", "val_loss"),
        ("val_ms_per_row", "max", "+latency")]


@pytest.mark.parametrize(("texts", "classification", "needle"), [
    (["accuracy", "-gpu_hours"], True, "objective 'gpu_hours' is not reported"),
    (["accuracy"], False, "reports no accuracy"),
    (["-"], True, "empty objective"),
    (["accuracy", "val_metric"], True, "given twice"),
])
def test_bad_objectives(texts, classification, needle):
    with pytest.raises(UsageError, match=needle) as info:
        _objectives(*texts, classification=classification)
    assert info.value.where == "--objective"


def test_pareto_front_is_exactly_the_undominated_points():
    objectives = [Objective("acc", "max"), Objective("params", "min"), Objective("ms", "min")]
    rng = random.Random(3)
    for _ in range(30):
        points = {f"t{i}": [rng.choice([0.5, 0.6, 0.7]), rng.choice([10, 20, 30]), rng.random()]
                  for i in range(rng.randint(1, 12))}
        front = pareto_front(points, objectives)
        assert front
        for i, p in points.items():
            beaten = any(all(o.better(a, b) or a == b for o, a, b in zip(objectives, q, p, strict=True)) and q != p
                         for q in points.values())
            assert (i not in front) == beaten
    two = [Objective("acc", "max"), Objective("params", "min")]
    assert pareto_front({"a": [0.7, 100], "b": [0.7, 50], "c": [0.9, 900], "d": [0.5, 50]}, two) == ["b", "c"]
    assert pareto_front({"a": [0.7, 50], "b": [0.7, 50]}, two) == ["a", "b"]  # equal points: both
    assert dominates([0.7, 50], [0.6, 50], two) and not dominates([0.7, 50], [0.7, 50], two)


def test_tunes_optuna_search_starts_from_the_seeded_study(tmp_path):
    from promptyard.tuning.search_optuna import tune_searcher

    space = _space(tmp_path)
    objectives = [Objective("val_metric", "max"), Objective("trainable_params", "min")]
    seeds = [{"params": {"method": "lora", "lr": 0.001, "r": 4}, "values": [0.7, 900]},
             {"params": {"method": "ia3", "lr": 0.002}, "values": [0.6, 200]}]
    searcher = tune_searcher(space, objectives, search_alg="optuna", seed=0, seeds=seeds)
    assert searcher.metric == ["val_metric", "trainable_params"] and searcher.mode == ["max", "min"]
    study = searcher._ot_study  # Tune's OptunaSearch keeps its study here; it must hold the finished trials
    assert [t.values for t in study.get_trials()] == [[0.7, 900], [0.6, 200]]
    config = searcher.suggest("trial-1")  # what Tune hands the trainable: nested per method
    params = flat_params(config)
    assert params["method"] in branches(space) and set(params) == {"method", *branches(space)[params["method"]]}
    assert len(study.get_trials()) == 3
