"""The opt-in bf16 precision: recorded in the lineage and the cache key, close calls re-checked in fp32."""

from __future__ import annotations

from dataclasses import replace

import pytest

from promptyard.core.errors import UsageError, ValidationError
from promptyard.core.lookups import load_model
from promptyard.evals.cache import ResponseCache
from promptyard.evals.modelpool import ModelPool
from promptyard.evals.runner import run_cell
from promptyard.evals.suite import CellSpec, parse_suite
from promptyard.runtime import precision
from promptyard.runtime.inference import score_choices, score_choices_bf16

needs_bf16 = pytest.mark.skipif(not precision.cpu_bf16_native(),
                                reason="this CPU has no native bf16 (AMX / AVX512-BF16): the mode is refused here")
PROMPTS = ["the film was", "a long and tedious story about nothing at all, I thought it", "great",
           "Review: fine acting.\nSentiment: "]


def cell(reviews, **decoding):
    return CellSpec(prompt="sent@1", model="tiny-causal", data=reviews, split="all", metrics=("accuracy",),
                    decoding={"batch_size": 4, **decoding})


@needs_bf16
def test_bf16_cell_records_its_precision_and_keys_its_cache_apart(registry, reviews):
    cache, pool = ResponseCache(), ModelPool()
    exact = run_cell(cell(reviews), registry=registry, cache=cache, pool=pool)
    fast = run_cell(cell(reviews, precision="bf16"), registry=registry, cache=cache, pool=pool)
    # not answered from the fp32 entries: its own keys
    assert (fast.cache_hits, fast.cache_misses) == (0, 12)
    assert "precision" not in exact.lineage and exact.lineage["decoding"] == {"batch_size": 4}
    assert fast.lineage["decoding"]["precision"] == "bf16"
    assert fast.lineage["precision"]["mode"] == "bf16"
    assert fast.lineage["precision"]["recheck_margin"] == precision.RECHECK_MARGIN
    assert 0 <= fast.lineage["precision"]["rechecked_fp32"] <= 12
    assert fast.lineage["key"] != exact.lineage["key"]
    again = run_cell(cell(reviews, precision="bf16"), registry=registry, cache=cache, pool=pool)
    assert (again.cache_hits, again.cache_misses) == (12, 0)
    assert [e.scores for e in again.examples] == [e.scores for e in fast.examples]
    # close calls were re-scored in fp32, so every prediction is the exact one
    assert [e.prediction for e in fast.examples] == [e.prediction for e in exact.examples]


@needs_bf16
def test_close_calls_get_the_exact_fp32_scores_and_the_rest_bf16_ones():
    loaded = load_model("tiny-causal")
    choices = ["positive", "negative"]
    exact = score_choices(loaded, PROMPTS, choices)
    raw, none = score_choices_bf16(loaded, PROMPTS, choices, state_key="t", recheck_margin=0)
    assert none == []
    assert raw != exact  # bf16 arithmetic: not the same numbers...
    assert [x for r in raw for x in r] == pytest.approx([x for r in exact for x in r], abs=0.5)  # ...but close
    checked, rechecked = score_choices_bf16(loaded, PROMPTS, choices, state_key="t", recheck_margin=1e9)
    assert rechecked == list(range(len(PROMPTS))) and checked == exact
    margins = [abs(a - b) for a, b in raw]
    some, which = score_choices_bf16(loaded, PROMPTS, choices, state_key="t", recheck_margin=sorted(margins)[1] + 1e-9)
    assert which == sorted(i for i, m in enumerate(margins) if m < sorted(margins)[1] + 1e-9)
    assert all(some[i] == pytest.approx(exact[i], abs=1e-5) for i in which)
    assert all(some[i] == raw[i] for i in range(4) if i not in which)


@needs_bf16
def test_the_bf16_copy_follows_the_model_state_and_leaves_the_fp32_model_alone():
    import torch

    loaded = load_model("tiny-causal")
    first = precision.for_precision(loaded, "bf16", "state-1")
    assert next(first.model.parameters()).dtype == torch.bfloat16
    assert next(loaded.model.parameters()).dtype == torch.float32
    assert precision.for_precision(loaded, "bf16", "state-1").model is first.model  # reused
    with torch.no_grad():
        for p in loaded.model.parameters():
            p.add_(0.5)
    second = precision.for_precision(loaded, "bf16", "state-2")  # new weights, new state key: a new copy
    assert second.model is not first.model
    a, b = next(second.model.parameters()), next(loaded.model.parameters())
    assert torch.allclose(a.float(), b, atol=0.05)
    assert precision.for_precision(loaded, "fp32", "state-2") is loaded
    precision.forget()


def test_bf16_is_refused_where_the_cpu_has_no_native_bf16(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: False)
    with pytest.raises(UsageError, match="bf16 inference is not native on this cpu"):
        precision.for_precision(load_model("tiny-causal"), "bf16", "x")


def test_precision_in_a_suite_is_checked_and_fp32_is_the_default():
    doc = {"data": ["d.jsonl"], "prompts": ["p"], "models": ["m"]}
    assert "precision" not in parse_suite({**doc, "decoding": {"precision": "fp32"}}).cells[0].decoding
    assert parse_suite({**doc, "decoding": {"precision": "bf16"}}).cells[0].decoding["precision"] == "bf16"
    with pytest.raises(ValidationError, match="expected one of fp32, bf16, got str 'fp8'") as info:
        parse_suite({**doc, "decoding": {"precision": "fp8"}}, source="suite.yaml")
    assert info.value.where == "suite.yaml: decoding.precision"
    with pytest.raises(UsageError, match="unknown precision 'half'"):
        precision.check_precision("half", where="--precision")


@needs_bf16
def test_generation_cells_run_on_the_bf16_copy(registry, reviews):
    spec = replace(cell(reviews, precision="bf16", max_new_tokens=3), scoring="generate")
    result = run_cell(spec, registry=registry, cache=None)
    assert len(result.examples) == 12 and result.lineage["precision"] == {"mode": "bf16"}
    assert all(isinstance(e.output, str) for e in result.examples)
