"""Candidate pools (variants from a file or generated) and successive halving over them."""

from __future__ import annotations

import pytest

from promptyard.core.errors import ValidationError
from promptyard.evals.optimize_run import OptimizeRequest, make_plan, optimize
from promptyard.evals.suite import CellSpec
from promptyard.evals.variants import generate_variants, load_variants


def test_successive_halving_keeps_the_best_half_each_round(registry, reviews100, tmp_path):
    variants = tmp_path / "variants.yaml"
    variants.write_text('- "{{ text }}"\n- {name: movie, text: "Movie: {{ text }}. Verdict:"}\n'
                        '- "Tell me: {{ text }} is"\n')
    request = OptimizeRequest(prompt="sent@1", base=CellSpec(prompt="sent@1", model="tiny-causal", data=reviews100),
                              optimizer="successive_halving", settings={"min_examples": "3"},
                              variants_file=str(variants))
    record = optimize(registry, make_plan(registry, request)).record
    rounds = [h for h in record["history"] if h["kind"] == "round"]
    assert [len(r["scores"]) for r in rounds] == [4, 2, 1]
    assert [r["examples"] for r in rounds] == [3, 6, 10]
    first, survivors = rounds[0]["scores"], rounds[1]["scores"]
    assert min(first[n] for n in survivors) >= max(v for n, v in first.items() if n not in survivors)
    assert list(rounds[-1]["scores"]) == [str(record["best_candidate"])]
    assert [c["name"] for c in record["candidates"]] == ["start", "v1", "movie", "v3"]


def test_generated_variants_cover_wording_count_and_selector(registry):
    from promptyard.core.template import Template

    dynamic = Template.from_dict({"kind": "dynamic", "k": 1, "selector": "random", "text": "{{ text }}",
                                  "examples": [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}]})
    names = [v.name for v in generate_variants(dynamic, ["random", "balanced", "similar"])]
    assert names[0] == "base" and "k2" in names and "selector-similar" in names and "wording1" in names
    assert len({v.template.content_hash() for v in generate_variants(dynamic, ["random"])}) == \
        len(generate_variants(dynamic, ["random"]))


@pytest.mark.parametrize(("text", "message"), [("[]", "non-empty list"), ("- 3", "template text or mapping")])
def test_bad_variant_files(tmp_path, registry, text, message):
    path = tmp_path / "v.yaml"
    path.write_text(text)
    with pytest.raises(ValidationError, match=message):
        load_variants(path, registry.get_template("sent@1"))
