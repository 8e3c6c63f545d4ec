"""The runner on a tiny random causal model: indices, sharding, cache hits and misses, storage."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from promptyard.core.errors import EvalError
from promptyard.evals.cache import ResponseCache
from promptyard.evals.modelpool import ModelPool
from promptyard.evals.results import merge_shards
from promptyard.evals.runner import run_cell
from promptyard.evals.suite import CellSpec


def cell(reviews, **kw):
    base = CellSpec(prompt="sent@1", model="tiny-causal", data=reviews, split="all",
                    metrics=("accuracy", "f1", "latency"), decoding={"batch_size": 4})
    return replace(base, **kw)


def test_a_cell_scores_every_example_and_reports_metrics_with_cis(registry, reviews):
    result = run_cell(cell(reviews), registry=registry, cache=None)
    assert [e.index for e in result.examples] == list(range(12))
    assert {e.prediction for e in result.examples} <= {"positive", "negative"}
    assert all(e.scores is not None and len(e.scores) == 2 for e in result.examples)
    acc = result.metric("accuracy")
    expected = sum(e.prediction == e.reference for e in result.examples) / 12
    assert acc.value == pytest.approx(expected)
    assert acc.low <= acc.value <= acc.high
    assert result.lineage["prompt"]["resolved"] == "sent@1"
    assert result.lineage["model"]["hash"] and result.lineage["data"]["n"] == 12
    assert result.metric("latency").value > 0


def test_sharded_cells_merge_to_the_unsharded_result(registry, reviews):
    spec = cell(reviews, sample=10)
    pool = ModelPool()
    whole = run_cell(spec, registry=registry, cache=None, pool=pool)
    indices = [e.index for e in whole.examples]
    shards = [run_cell(spec, indices=indices[i::3], registry=registry, cache=None, pool=pool) for i in range(3)]
    merged = merge_shards(shards)
    assert [e.index for e in merged.examples] == indices
    assert [e.prediction for e in merged.examples] == [e.prediction for e in whole.examples]
    assert merged.metric("accuracy").value == whole.metric("accuracy").value
    assert pool.loads == 1


def test_identical_cell_hits_the_cache_and_any_change_misses(registry, reviews, tmp_path):
    cache = ResponseCache()
    pool = ModelPool()
    first = run_cell(cell(reviews), registry=registry, cache=cache, pool=pool)
    assert (first.cache_hits, first.cache_misses) == (0, 12)
    again = run_cell(cell(reviews), registry=registry, cache=cache, pool=pool)
    assert (again.cache_hits, again.cache_misses) == (12, 0)
    assert [e.scores for e in again.examples] == [e.scores for e in first.examples]
    assert all(e.cached for e in again.examples)
    # a different prompt version, decoding that matters, other choices: all misses
    for changed in (cell(reviews, prompt="sent@2"), cell(reviews, choices=(" negative", " positive"))):
        assert run_cell(changed, registry=registry, cache=cache, pool=pool).cache_misses == 12
    # batch size changes speed, not output: still hits
    assert run_cell(cell(reviews, decoding={"batch_size": 3}), registry=registry, cache=cache,
                    pool=pool).cache_hits == 12


def test_a_different_model_under_the_same_name_misses_the_cache(registry, reviews, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    from promptyard.plugins.model_loaders import tiny_folder

    folder = tmp_path / "my-model"
    shutil.copytree(tiny_folder("causal"), folder)
    cache = ResponseCache()
    first = run_cell(cell(reviews, model=str(folder)), registry=registry, cache=cache)
    assert first.cache_misses == 12
    weights = folder / "model.safetensors"
    state = load_file(weights)
    state = {k: v + 0.01 * torch.ones_like(v) for k, v in state.items()}
    save_file(state, weights, metadata={"format": "pt"})
    second = run_cell(cell(reviews, model=str(folder)), registry=registry, cache=cache)
    assert second.lineage["model"]["hash"] != first.lineage["model"]["hash"]
    assert (second.cache_hits, second.cache_misses) == (0, 12)


def test_indices_outside_the_sample_are_refused(registry, reviews):
    from promptyard.core.errors import EvalError

    spec = cell(reviews, sample=4)
    chosen = [e.index for e in run_cell(spec, registry=registry, cache=None).examples]
    outside = next(i for i in range(12) if i not in chosen)
    with pytest.raises(EvalError, match="not part of this cell's sample"):
        run_cell(spec, indices=[outside], registry=registry, cache=None)


@pytest.mark.parametrize("task", [None, "sentiment"])  # sentiment: a classification task under its own name
def test_generation_mode_extracts_labels_and_counts_tokens(registry, reviews, task):
    result = run_cell(cell(reviews, scoring="generate", metrics=("accuracy", "tokens"), task=task,
                           decoding={"max_new_tokens": 3, "batch_size": 4, "reply_prefix": " positive or"}, sample=4),
                      registry=registry, cache=None)
    assert len(result.examples) == 4
    assert all(e.output.startswith(" positive or") for e in result.examples)
    # a label read from what the model wrote: never the whole reply, never the prefix's "positive"
    assert all(e.scores is None and e.prediction in ("", "positive", "negative") for e in result.examples)
    assert all(e.prediction in e.output[len(" positive or"):] for e in result.examples)
    assert result.metric("tokens").value > 3


def test_a_reply_prefix_starts_every_reply_and_the_model_continues_it(registry, reviews):
    """``decoding.reply_prefix``: appended to the prompt, kept at the head of the output, part of the cache key."""
    from promptyard.evals.cells import prepare_cell
    from promptyard.evals.runner import format_prompts
    from promptyard.runtime.inference import generate

    cache, pool = ResponseCache(), ModelPool()
    spec = cell(reviews, scoring="generate", decoding={"max_new_tokens": 3, "reply_prefix": "Answer: pos"}, sample=3)
    result = run_cell(spec, registry=registry, cache=cache, pool=pool)
    prompts = format_prompts(prepare_cell(spec, registry=registry), pool._base("tiny-causal").tokenizer)
    assert all(p.endswith("Answer: pos") for p in prompts)
    # what the model generates after the prefix, then the prefix put back in front: the stored output
    continued = generate(pool._base("tiny-causal"), prompts, max_new_tokens=3)
    assert sorted(e.output for e in result.examples) == sorted("Answer: pos" + c for c in continued)
    without = run_cell(replace(spec, decoding={"max_new_tokens": 3}), registry=registry, cache=cache, pool=pool)
    assert without.cache_hits == 0 and all(not e.output.startswith("Answer: pos") for e in without.examples)
    with pytest.raises(EvalError, match="reply_prefix applies to generated replies"):
        run_cell(replace(spec, scoring="choices"), registry=registry, cache=cache, pool=pool)


def test_run_suite_stores_the_run_and_tells_observers(registry, reviews):
    from promptyard import hookimpl
    from promptyard.evals.suite import parse_suite
    from promptyard.evals.suite_run import run_suite
    from promptyard.registry.evals_store import list_runs, load_run
    from promptyard.testing import plugin_registered

    seen = []

    class Observer:
        @hookimpl
        def on_eval_finished(self, run):
            seen.append(run)

    suite = parse_suite({"name": "obs", "data": [{"ref": reviews, "split": "all", "sample": 5}],
                         "prompts": ["sent@1", "sent@2"], "models": ["tiny-causal"], "metrics": ["accuracy"]})
    with plugin_registered(Observer()):
        done = run_suite(suite, registry=registry, cache=None)
    assert [r["id"] for r in seen] == [done.run_id]
    assert [c["lineage"]["prompt"]["resolved"] for c in seen[0]["cells"]] == ["sent@1", "sent@2"]
    stored = load_run(registry, done.run_id)
    assert [e["index"] for e in stored["cells"][0]["examples"]] == [e.index for e in done.results[0].examples]
    assert stored["cells"][0]["metrics"][0]["value"] == done.results[0].metric("accuracy").value
    assert list_runs(registry)[0] == {**list_runs(registry)[0], "id": done.run_id, "cells": 2, "name": "obs"}


def test_each_cell_is_a_progress_task_and_its_lineage_records_the_shared_package_versions(registry, reviews):
    from promptyard.core import events
    from promptyard.evals.suite import parse_suite
    from promptyard.evals.suite_run import run_suite
    from promptyard.runtime.lineage import package_versions

    suite = parse_suite({"name": "bars", "data": [{"ref": reviews, "split": "all", "sample": 5}],
                         "prompts": ["sent@1", "sent@2"], "models": ["tiny-causal"], "metrics": ["accuracy"]})
    seen: list[events.ProgressEvent] = []
    with events.listening(seen.append):
        done = run_suite(suite, registry=registry, cache=None)
    ended = [e for e in seen if e.done and e.description in {c.label() for c in suite.cells}]
    assert sorted(e.description for e in ended) == sorted(c.label() for c in suite.cells)
    assert all((e.completed, e.total) == (5, 5) and not e.transient for e in ended)
    assert all(r.lineage["packages"] == package_versions() for r in done.results)
