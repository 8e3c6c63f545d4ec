"""A re-run that the response cache answers completely loads no model; metric results are memoised;
choices are the label space even where the data misses a label."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from promptyard.core.errors import EvalError
from promptyard.core.host import get_host
from promptyard.evals.cache import ResponseCache
from promptyard.evals.metrics import compute_metric
from promptyard.evals.modelpool import ModelPool
from promptyard.evals.runner import run_cell
from promptyard.evals.suite import single_cell

CLI_RUNS = textwrap.dedent("""
    import json, sys
    from promptyard.cli.entry import main

    def run(args):
        try:
            main(args)
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
    reg = sys.argv[1]
    run(["--registry", reg, "eval", "run", "--prompt", "sent@1", "--model", "tiny-causal", "--data", sys.argv[2],
         "--split", "all", "--json"])
    run(["--registry", reg, "eval", "gate", "--baseline", "sent@1", "--candidate", "sent@2", "--model",
         "tiny-causal", "--data", sys.argv[2], "--split", "all", "--max-drop", "1", "--json"])
    heavy = sorted(m for m in ("torch", "transformers", "evaluate", "peft") if m in sys.modules)
    print("HEAVY=" + json.dumps(heavy), file=sys.stderr)
""")


def _cli_twice(registry_path, data):
    outs = []
    for _ in range(2):  # each in a fresh process, as a user re-running the command would
        done = subprocess.run([sys.executable, "-c", CLI_RUNS, registry_path, data], capture_output=True,
                              text=True, check=True)
        heavy = json.loads(done.stderr.rsplit("HEAVY=", 1)[1])
        runs = _json_objects(done.stdout)
        outs.append((heavy, runs))
    return outs


def _json_objects(text):
    decoder, pos, found = json.JSONDecoder(), 0, []
    text = text.strip()
    while pos < len(text):
        obj, end = decoder.raw_decode(text, pos)
        found.append(obj)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return found


def test_an_unchanged_rerun_and_gate_load_no_model_and_give_the_same_results(registry, reviews, tmp_path):
    registry_path = str(registry.path)
    (first_heavy, first), (second_heavy, second) = _cli_twice(registry_path, reviews)
    assert "torch" in first_heavy  # the first run scored the examples
    assert second_heavy == []  # no model, no tokenizer, no metric library: everything came from the cache
    run1, gate1 = first
    run2, gate2 = second
    assert [c["metrics"] for c in run2["cells"]] == [c["metrics"] for c in run1["cells"]]
    assert all(c["cache_misses"] == 0 and c["cache_hits"] == 12 for c in run2["cells"])
    assert gate2["comparison"]["metrics"] == gate1["comparison"]["metrics"]
    assert gate2["passed"] == gate1["passed"]


def test_a_partly_cached_cell_loads_the_model_for_the_misses_only(registry, reviews100, tmp_path):
    cache = ResponseCache(tmp_path / "responses.db")
    small = single_cell("sent@1", "tiny-causal", reviews100, split="train", sample=10).cells[0]
    pool = ModelPool()
    run_cell(small, cache=cache, registry=registry, pool=pool)
    assert pool.loads == 1
    fresh_pool = ModelPool()
    again = run_cell(small, cache=cache, registry=registry, pool=fresh_pool)
    assert fresh_pool.loads == 0 and again.cache_hits == 10
    bigger = single_cell("sent@1", "tiny-causal", reviews100, split="train", sample=20).cells[0]
    grown = run_cell(bigger, cache=cache, registry=registry, pool=fresh_pool)
    assert fresh_pool.loads == 1
    assert (grown.cache_hits, grown.cache_misses) == (10, 10)  # the first sample is a prefix of the second
    assert grown.lineage["model"]["hash"] == again.lineage["model"]["hash"]


def test_metric_results_are_replayed_only_for_metrics_with_a_fingerprint(tmp_path):
    memo = ResponseCache(tmp_path / "memo.db")
    preds, refs = ["a", "b", "a", "a"], ["a", "b", "b", "a"]
    first = compute_metric("accuracy", preds, refs, n_boot=200, seed=1, memo=memo)
    assert memo.stats()["metric_results"] == 1
    assert compute_metric("accuracy", preds, refs, n_boot=200, seed=1, memo=memo) == first
    assert compute_metric("accuracy", preds, ["a", "a", "a", "a"], n_boot=200, seed=1, memo=memo).value == 0.75
    assert memo.stats()["metric_results"] == 2

    calls = []

    class Counted:
        name = "counted_match"
        higher_is_better = True

        def compute(self, predictions, references, **kw):
            calls.append(1)
            return {"counted_match": sum(p == r for p, r in zip(predictions, references, strict=True))
                                     / len(predictions)}

    class Plugin:
        from promptyard import hookimpl

        @hookimpl
        def register_metrics(self, register):
            register(Counted())

    host = get_host()
    host.register(Plugin(), name="counted")
    try:
        compute_metric("counted_match", preds, refs, n_boot=10, seed=0, memo=memo)
        n = len(calls)
        compute_metric("counted_match", preds, refs, n_boot=10, seed=0, memo=memo)
        assert len(calls) == 2 * n  # no fingerprint: computed again, never replayed
        assert memo.stats()["metric_results"] == 2
    finally:
        host.unregister(name="counted")


def test_choices_are_the_label_space_even_where_the_data_misses_one(registry, tmp_path):
    path = tmp_path / "two.jsonl"
    path.write_text('{"text": "great fun", "label": "positive"}\n{"text": "lovely", "label": "positive"}\n')
    cell = single_cell("sent@1", "tiny-causal", str(path), split="all",
                       choices=[" positive", " negative"]).cells[0]
    result = run_cell(cell, cache=None, registry=registry)
    assert result.lineage["labels"] == ["positive", "negative"]
    assert len(result.examples) == 2 and {e.prediction for e in result.examples} <= {"positive", "negative"}


def test_choices_that_name_no_label_of_the_data_are_refused(registry, reviews):
    cell = single_cell("sent@1", "tiny-causal", reviews, split="all", choices=[" good", " bad"]).cells[0]
    with pytest.raises(EvalError, match=r"choices \['good', 'bad'\] name no label of the data \(negative, positive\)"):
        run_cell(cell, cache=None, registry=registry)
