"""The ``judge`` metric on the tiny model: a judge prompt from the registry and a judge model score each reply;
the judge's prompt version and model hash are in the cell's lineage and in the cache key of its calls, so a new
judge version misses the cache (the cell's own replies still hit); bad input is one line before any model call."""

from __future__ import annotations

import json
import math

import pytest

from promptyard.core.lookups import load_model
from promptyard.core.render import render
from promptyard.registry.evals_store import list_runs, load_run
from promptyard.runtime import inference
from promptyard.testing import invoke

GRADER = {"kind": "single", "text": "Question: {{ input }}\nAnswer: {{ reply }}\nExpected: {{ reference }}\n"
                                    "Is the answer correct?"}
GRADER_V2 = {"kind": "single", "text": "Expected {{ reference }}, got {{ reply }}. Correct?"}
ROWS = [("the capital of France", "Paris"), ("two plus two", "four"), ("the colour of the sky", "blue"),
        ("the opposite of hot", "cold"), ("a baby cat", "kitten")]


@pytest.fixture
def qa(tmp_path, registry):
    """Five question/answer rows, a generation prompt ``ask@1`` and the judge prompt ``grader`` (production)."""
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"text": q, "target": a}) + "\n" for q, a in ROWS))
    registry.commit("ask", {"kind": "single", "text": "Name {{ text }}:"}, message="ask", task_type="generation")
    registry.commit("grader", GRADER, message="v1")
    registry.label("grader@1", "production", force=True)
    return str(path)


def _run(data, *extra):
    result = invoke(["eval", "run", "--prompt", "ask@1", "--model", "tiny-causal", "--data", data, "--split", "all",
                     "--max-new-tokens", "3", "--metric", "judge", "--set", "judge.prompt=grader@production",
                     "--set", "judge.model=tiny-causal", *extra, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_judge_scores_replies_and_records_its_prompt_version_and_model(registry, qa):
    out = _run(qa)
    (cell,) = out["cells"]
    judge = cell["lineage"]["judges"]["judge"]
    assert judge["prompts"] == [{"ref": "grader@production", "resolved": "grader@1",
                                 "version_id": registry.resolve("grader@1").id,
                                 "hash": registry.resolve("grader@1").content_hash}]
    assert judge["model"] == {"ref": "tiny-causal", "hash": cell["lineage"]["model"]["hash"]}
    assert judge["settings"]["scoring"] == "choices" and judge["settings"]["yes"] == " yes"
    assert cell["judge_misses"] == 5 and cell["judge_hits"] == 0
    (metric,) = cell["metrics"]
    assert metric["name"] == "judge" and 0.0 < metric["value"] < 1.0
    assert metric["low"] <= metric["value"] <= metric["high"]
    # stored per example, and each is P(yes) of the judge model on the rendered judge prompt
    stored = load_run(registry, out["run_id"])["cells"][0]
    judged = [e["judged"]["judge"] for e in stored["examples"]]
    assert sum(judged) / 5 == pytest.approx(metric["value"])
    loaded = load_model("tiny-causal")
    first = stored["examples"][0]
    text = render(registry.get_template("grader@1"), {"input": "Name the capital of France:", "reply": first["output"],
                                                       "reference": "Paris"}).text
    yes, no = inference.score_choices(loaded, [text], [" yes", " no"])[0]
    assert judged[0] == pytest.approx(1 / (1 + math.exp(no - yes)), abs=1e-5)
    # a stored run compares without running the judge again
    again = _run(qa)
    compared = invoke(["eval", "compare", str(out["run_id"]), str(again["run_id"]), "--json"])
    assert compared.exit_code == 0, compared.stderr
    assert json.loads(compared.stdout)[0]["metrics"][0]["delta"] == 0.0


def test_a_new_judge_version_misses_the_cache_and_the_replies_still_hit(registry, qa, calls):
    first = _run(qa)["cells"][0]
    assert first["cache_misses"] == 5 and first["judge_misses"] == 5 and calls["n"] == 10
    again = _run(qa)["cells"][0]
    assert (again["cache_hits"], again["judge_hits"], again["judge_misses"]) == (5, 5, 0) and calls["n"] == 10
    assert again["lineage"]["key"] == first["lineage"]["key"]
    registry.commit("grader", GRADER_V2, message="v2")
    registry.label("grader@2", "production", force=True)
    moved = _run(qa)["cells"][0]
    assert moved["cache_hits"] == 5 and moved["judge_misses"] == 5 and calls["n"] == 15  # only the judge ran
    assert moved["lineage"]["judges"]["judge"]["prompts"][0]["resolved"] == "grader@2"
    assert moved["lineage"]["key"] != first["lineage"]["key"]


def test_reproduce_pins_the_judge_prompt_version(registry, qa):
    from promptyard.evals.reproduce import reproduce

    run_id = _run(qa)["run_id"]
    registry.commit("grader", GRADER_V2, message="v2")
    registry.label("grader@2", "production", force=True)  # the label moved; the run used grader@1
    again = reproduce(registry, run_id)
    assert again.matches, (again.rows, again.problems)
    fresh = load_run(registry, again.new_run_id)["cells"][0]
    assert fresh["lineage"]["judges"]["judge"]["prompts"][0]["resolved"] == "grader@1"


def test_a_judge_model_with_another_hash_misses_the_cache(registry, qa, tmp_path, calls):
    from promptyard.testing import tiny_causal_lm

    folder = tmp_path / "judge-model"
    tiny_causal_lm(seed=7, save_to=folder)
    first = _run(qa)["cells"][0]
    spent = calls["n"]
    other = _run(qa, "--set", f"judge.model={folder}")["cells"][0]
    assert other["cache_hits"] == 5 and other["judge_misses"] == 5 and calls["n"] == spent + 5
    model = other["lineage"]["judges"]["judge"]["model"]
    assert model["ref"] == str(folder) and model["hash"] != first["lineage"]["judges"]["judge"]["model"]["hash"]


def test_a_written_verdict_is_parsed(registry, qa):
    cell = _run(qa, "--set", "judge.scoring=generate", "--set", "judge.max_new_tokens=2")["cells"][0]
    assert cell["lineage"]["judges"]["judge"]["settings"]["scoring"] == "generate"
    assert 0.0 <= cell["metrics"][0]["value"] <= 1.0 and cell["judge_misses"] == 5


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "judge.prompt=nope@production"], "judge prompt 'nope@production'"),
    (["--set", "judge.prompt=lazy@1"], "does not use {{ reply }}"),
    (["--set", "judge.prompt=odd@1"], "uses colour, which no example gives"),
    (["--set", "judge.prompt=grader@1", "--set", "judge.model=tiny-encoder"], "cannot generate text"),
    (["--set", "judge.prompt=grader@1", "--set", "judge.model=no-such-model"], "judge model 'no-such-model'"),
    ([], "needs a judge prompt"),
    (["--set", "judge.prompt=grader@1", "--set", "judge.colour=red"], "unknown setting 'colour'"),
    (["--set", "judge.prompt=grader@1", "--set", "judge.scoring=vibes"], "unknown judge scoring 'vibes'"),
    (["--set", "judge.prompt=grader@1", "--scoring", "choices", "--choice", " yes", "--choice", " no"],
     "scores generated replies"),
    (["--set", "judgeprompt=grader@1"], "expected METRIC.KEY=VALUE"),
    (["--set", "accuracy.average=macro"], "metric 'accuracy' takes no settings"),
])
def test_bad_judge_input_is_one_line_before_any_model_call(registry, qa, calls, args, message):
    registry.commit("lazy", {"kind": "single", "text": "Is this fine? {{ input }}"}, message="no reply")
    registry.commit("odd", {"kind": "single", "text": "{{ reply }} in {{ colour }}?"}, message="unknown variable")
    result = invoke(["eval", "run", "--prompt", "ask@1", "--model", "tiny-causal", "--data", qa, "--split", "all",
                     "--metric", "judge", *args])
    assert result.exit_code != 0 and message in result.stderr, result.stderr
    assert result.stderr.strip().count("\n") == 0  # one line, no traceback
    assert calls["n"] == 0 and list_runs(registry) == []


def test_settings_for_a_metric_the_cell_does_not_compute_are_refused(registry, qa, calls):
    result = invoke(["eval", "run", "--prompt", "ask@1", "--model", "tiny-causal", "--data", qa, "--split", "all",
                     "--metric", "exact_match", "--set", "judge.prompt=grader@1"])
    assert result.exit_code != 0 and "which this cell does not compute" in result.stderr
    assert calls["n"] == 0 and list_runs(registry) == []


def test_a_suite_names_the_judge_in_metric_options(registry, qa, tmp_path):
    from promptyard.evals.suite import load_suite
    from promptyard.evals.suite_run import run_suite

    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(json.dumps({
        "name": "judged", "data": [{"ref": qa, "split": "all"}], "prompts": ["ask@1"], "models": ["tiny-causal"],
        "metrics": ["exact_match", "judge"], "decoding": {"max_new_tokens": 2},
        "metric_options": {"judge": {"prompt": "grader@1", "model": "tiny-causal"}}}))
    (result,) = run_suite(load_suite(suite_file), registry=registry).results
    assert [m.name for m in result.metrics] == ["exact_match", "judge"]
    assert result.lineage["judges"]["judge"]["prompts"][0]["resolved"] == "grader@1"
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps({"name": "bad", "data": qa, "prompts": ["ask@1"], "models": ["tiny-causal"],
                               "metric_options": {"judge": {"colour": "red"}}}))
    with pytest.raises(Exception, match="metric_options.judge.*unknown setting 'colour'"):
        load_suite(bad)
