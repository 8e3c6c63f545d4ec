"""Several adapters of one base: the base loads once, adapters switch, outputs equal a fresh load each."""

from __future__ import annotations

import pytest

from promptyard.evals.modelpool import ModelPool
from promptyard.evals.suite import parse_suite
from promptyard.evals.suite_run import run_cells


def make_lora(folder, seed, r=4):
    """A LoRA adapter on tiny-causal with non-zero B (a fresh LoRA is a no-op by construction)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from promptyard.core.lookups import load_model

    base = load_model("tiny-causal").model
    model = get_peft_model(base, LoraConfig(r=r, lora_alpha=2 * r, target_modules=["q_proj", "v_proj"]))
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
    assert shared.swaps == 1  # lora2 has lora1's shape: its weights were copied into lora1's slot
    scores = [[e.scores for e in r.examples] for r in results]
    assert scores[0] != scores[1] and scores[1] != scores[2]  # base, lora1, lora2 all differ
    assert results[1].lineage["adapter"]["resolved"] == "lora1@1"
    fresh = ModelPool(reuse=False)
    again = run_cells(suite.cells, registry=registry, cache=None, pool=fresh)
    assert fresh.loads == 3
    for a, b in zip(results, again, strict=True):
        for x, y in zip(a.examples, b.examples, strict=True):
            assert x.scores == pytest.approx(y.scores, abs=1e-5)


def test_switching_back_and_between_shapes_gives_each_adapters_own_outputs(registry, reviews, tmp_path):
    """A, B (same shape: swapped in), C (another rank: its own slot), then A again: each equals a fresh load."""
    registry.register_adapter("a", make_lora(tmp_path / "a", seed=1), lineage={})
    registry.register_adapter("b", make_lora(tmp_path / "b", seed=2), lineage={})
    registry.register_adapter("c", make_lora(tmp_path / "c", seed=3, r=2), lineage={})
    refs = ["a@1", "b@1", "c@1", "a@1"]
    cells = [parse_suite({"data": [{"ref": reviews, "split": "all"}], "prompts": ["sent@1"],
                          "models": [{"model": "tiny-causal", "adapters": [ref]}], "metrics": ["accuracy"]}).cells[0]
             for ref in refs]
    shared = ModelPool()
    switched = [run_cells([cell], registry=registry, cache=None, pool=shared)[0] for cell in cells]
    assert shared.loads == 1 and shared.swaps == 2  # b into a's slot, then a back into it
    for cell, got in zip(cells, switched, strict=True):
        fresh = run_cells([cell], registry=registry, cache=None, pool=ModelPool(reuse=False))[0]
        for x, y in zip(got.examples, fresh.examples, strict=True):
            assert x.scores == pytest.approx(y.scores, abs=1e-5)
    assert [e.scores for e in switched[0].examples] != [e.scores for e in switched[1].examples]


def test_adapters_saved_by_different_processes_share_a_slot_but_dora_never_does(tmp_path):
    """PEFT saves target_modules in set order (per process): the slot key must not depend on it."""
    import json

    from promptyard.evals.modelpool import _shape_key

    def config(name, **fields):
        folder = tmp_path / name
        folder.mkdir()
        base = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"],
                "base_model_name_or_path": "/somewhere", "use_dora": False}
        (folder / "adapter_config.json").write_text(json.dumps({**base, **fields}))
        return folder

    first = _shape_key(config("a", target_modules=["q_proj", "v_proj"]))
    assert first == _shape_key(config("b", target_modules=["v_proj", "q_proj"], base_model_name_or_path="/x"))
    assert first != _shape_key(config("c", r=8))
    assert _shape_key(config("d", use_dora=True)) == ""  # cached weight norms would go stale: own slot
