"""Several adapters of one base: the base loads once, adapters switch, outputs equal a fresh load each."""

from __future__ import annotations

import pytest

from promptyard.evals.matrix import run_cells
from promptyard.evals.modelpool import ModelPool
from promptyard.evals.suite import parse_suite


def make_lora(folder, seed):
    """A LoRA adapter on tiny-causal with non-zero B (a fresh LoRA is a no-op by construction)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from promptyard.plugins.models import load_model

    base = load_model("tiny-causal").model
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.save_pretrained(folder)
    return folder


@pytest.fixture
def adapters(registry, tmp_path):
    for i in (1, 2):
        registry.register_adapter(f"lora{i}", make_lora(tmp_path / f"lora{i}", seed=i), lineage={"test": i})
    return ["lora1@1", "lora2@1"]


def test_adapters_share_one_base_and_match_a_fresh_load(registry, reviews, adapters):
    suite = parse_suite({"data": [{"ref": reviews, "split": "all"}], "prompts": ["sent@1"],
                         "models": [{"model": "tiny-causal", "adapters": adapters, "include_base": True}],
                         "metrics": ["accuracy"]})
    shared = ModelPool()
    results = run_cells(suite.cells, registry=registry, cache=None, pool=shared)
    assert shared.loads == 1
    scores = [[e.scores for e in r.examples] for r in results]
    assert scores[0] != scores[1] and scores[1] != scores[2]  # base, lora1, lora2 all differ
    assert results[1].lineage["adapter"]["resolved"] == "lora1@1"
    fresh = ModelPool(reuse=False)
    again = run_cells(suite.cells, registry=registry, cache=None, pool=fresh)
    assert fresh.loads == 3
    for a, b in zip(results, again, strict=True):
        for x, y in zip(a.examples, b.examples, strict=True):
            assert x.scores == pytest.approx(y.scores, abs=1e-5)
