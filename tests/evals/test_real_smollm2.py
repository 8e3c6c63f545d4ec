"""The embedded SmolLM2 on 60 rotten_tomatoes reviews: single, structured and dynamic few-shot prompts."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.real_model, pytest.mark.slow]

SCHEMA = {"type": "object", "properties": {"sentiment": {"enum": ["positive", "negative"]}},
          "required": ["sentiment"]}


def test_three_prompt_kinds_differ_and_compare(capsys):
    from promptyard.core.lookups import load_dataset
    from promptyard.evals.compare import compare_cells
    from promptyard.evals.suite import parse_suite
    from promptyard.evals.suite_run import run_suite
    from promptyard.registry.api import Registry
    from promptyard.registry.evals_store import load_run

    registry = Registry.open(create=True)
    registry.commit("review-sentiment", {"kind": "single",
                                         "text": "Review: {{ text }}\nIs this review positive or negative? Answer:"},
                    task_type="sentiment", message="single")
    registry.commit("review-sentiment", {
        "kind": "structured",
        "sections": {"task": "Decide whether the movie review is positive or negative.", "input": "{{ text }}",
                     # the schema-echoing default format makes a 135M model copy the schema back
                     "output_format": 'Reply with one line of JSON: {"sentiment": "positive"} or '
                                      '{"sentiment": "negative"}.'},
        "output_schema": SCHEMA}, task_type="sentiment", message="structured")
    pool = [{"text": r["text"], "label": r["label"]}
            for r in load_dataset("rotten_tomatoes").split(seed=0)["train"].rows[:16]]
    registry.commit("review-sentiment", {
        "kind": "dynamic", "selector": "balanced", "k": 4, "seed": 0, "examples": pool,
        "text": "{% for ex in examples %}Review: {{ ex.text }}\nSentiment: {{ ex.label }}\n\n{% endfor %}"
                "Review: {{ text }}\nSentiment:"}, task_type="sentiment", message="dynamic few-shot")
    common = {"model": "smollm2-135m", "data": "rotten_tomatoes", "split": "test", "sample": 60,
              "task": "sentiment"}
    suite = parse_suite({"name": "sentiment-kinds", "seed": 0, "cells": [
        {**common, "prompt": "review-sentiment@1", "metrics": ["accuracy", "f1"]},
        {**common, "prompt": "review-sentiment@2", "metrics": ["accuracy", "f1", "json_validity"],
         # the reply is started for the model (an assistant prefill); without it a 135M model invents keys
         "decoding": {"chat": True, "max_new_tokens": 6, "batch_size": 16, "reply_prefix": '{"sentiment": "'}},
        {**common, "prompt": "review-sentiment@3", "metrics": ["accuracy", "f1"]},
    ]})
    done = run_suite(suite, registry=registry, cache=None)
    single, structured, dynamic = done.results
    accuracies = [r.metric("accuracy").value for r in done.results]
    for r in done.results:
        m = r.metric("accuracy")
        assert len(r.examples) == 60 and 0.0 <= m.low <= m.value <= m.high <= 1.0
    assert len(set(accuracies)) == 3, accuracies  # three prompt versions, three different numbers
    assert single.lineage["scoring"] == "choices" and structured.lineage["scoring"] == "generate"
    assert structured.metric("json_validity").value >= 0.9  # prefilled replies close their JSON
    assert structured.metric("accuracy").value > 0.3  # labels read from the parsed JSON
    assert dynamic.examples[0].render["selector"] == "balanced" and len(dynamic.examples[0].render["indices"]) == 4

    stored = load_run(registry, done.run_id)
    comparison = compare_cells(stored["cells"][0], stored["cells"][2])
    acc = comparison.metrics[0]
    assert acc.delta == pytest.approx(accuracies[2] - accuracies[0])
    assert acc.test.test == "mcnemar_exact" and 0.0 < acc.test.p_value <= 1.0
    with capsys.disabled():
        for r in done.results:
            print(f"\n{r.lineage['prompt']['resolved']:22} " + "  ".join(
                f"{m.name}={m.value:.3f} [{m.low:.3f}, {m.high:.3f}]" for m in r.metrics))
        print(f"compare {comparison.a} -> {comparison.b}: accuracy delta {acc.delta:+.3f} "
              f"[{acc.low:+.3f}, {acc.high:+.3f}], {acc.test.test} p={acc.test.p_value:.3g}, "
              f"flipped {comparison.n_flipped}")
