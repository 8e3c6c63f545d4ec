"""Prompt search: successive halving over variants, the winner committed with the search in its message."""

from __future__ import annotations

import pytest

from promptyard.core.errors import ValidationError
from promptyard.evals.successive_halving import generate_variants, load_variants, search
from promptyard.evals.suite import CellSpec


def test_successive_halving_keeps_halving_and_commits_the_best(registry, reviews, tmp_path):
    variants = tmp_path / "variants.yaml"
    variants.write_text('- "{{ text }}"\n- {name: movie, text: "Movie: {{ text }}. Verdict:"}\n'
                        '- "Tell me: {{ text }} is"\n')
    base = CellSpec(prompt="sent@1", model="tiny-causal", data=reviews, split="all", metrics=("accuracy",))
    result = search(registry, "sent@1", base, metric="accuracy", variants_file=str(variants), min_examples=3,
                    eta=2)
    assert [len(r["scores"]) for r in result.rounds] == [4, 2, 1]
    assert [r["examples"] for r in result.rounds] == [3, 6, 12]
    final = result.rounds[-1]["scores"]
    assert list(final) == [result.best.name]
    survivors = result.rounds[1]["scores"]
    first = result.rounds[0]["scores"]
    assert min(first[n] for n in survivors) >= max(v for n, v in first.items() if n not in survivors)
    if result.best.name == "base":
        assert result.committed is None  # the best is what is already there: nothing new to commit
    else:
        assert result.committed == "sent@3"
        info = registry.resolve("sent@3")
        assert info.message.startswith("eval search: best of 4 variants of sent@1 by accuracy")
        assert info.content_hash == result.best.template.content_hash()


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
