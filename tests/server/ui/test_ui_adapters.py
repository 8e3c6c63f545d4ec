"""Adapters and searches in a real browser, from a real in-process search (two LoRA trials on the tiny model):
the search page's trials, plot and best trial, the adapter it became with its lineage (base model hash, a link
to the prompt version, data fingerprint, method, settings, metrics, curves), and promoting it."""

from __future__ import annotations

import pytest

from promptyard import Registry
from promptyard.testing import isolated_environment
from promptyard.tuning.search import SearchSpec
from promptyard.tuning.search_local import run_search_local
from promptyard.tuning.spec import TrainSpec
from tests.server.ui.conftest import open_page, shot, sign_in
from tests.tuning.toydata import write_toy_sentiment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def searched(served, tmp_path_factory, _shared_model_cache):
    root = tmp_path_factory.mktemp("ui-search")
    with isolated_environment(root):
        (root / "cache").mkdir(parents=True, exist_ok=True)
        for kind in ("models", "hashes"):
            (root / "cache" / kind).symlink_to(_shared_model_cache / kind, target_is_directory=True)
        with Registry.open(served.path) as reg:
            reg.commit("ui/sent", {"kind": "single", "text": "Review: {{ text }}\nSentiment:"}, "for tuning",
                       task_type="classification")
            train = TrainSpec(model="tiny-causal", data=write_toy_sentiment(root / "toy.jsonl", n=48),
                              method="lora", task="sentiment", prompt="ui/sent@1", quiet=True,
                              registry=str(served.path),
                              config={"epochs": 2, "eval_every": 0, "train_sample": 24, "val_sample": 12,
                                      "batch_size": 4, "patience": 0})
            # seed 4 draws both learning rates, so the plot has two different lines
            spec = SearchSpec(train_spec=train, space={"lr": {"choice": [2e-2, 1e-3]}}, trials=2, seed=4,
                              name="ui/sent-lora", scheduler="fifo", max_reports=3)
            result = run_search_local(spec, registry=reg)
    return served, result


def test_search_page_shows_trials_and_the_adapter_it_became(searched, browser, shots):
    served, result = searched
    w = open_page(browser)
    page = w.page
    sign_in(w, served.url, served.tokens["writer"])
    page.goto(f"{served.url}/searches")
    page.click(f"text={result.search_id}")
    page.wait_for_url(f"**/searches/{result.search_id}")
    rows = page.locator("#trials tbody tr")
    assert rows.count() == 2
    assert page.locator("#trials tr.best td").first.inner_text() == result.best.trial_id
    assert page.locator("svg.chart polyline").count() == 2  # one line per trial
    assert f"{result.best.best_metric:.4f}" in page.inner_text("#best")
    shot(w, shots, "search")

    page.click(f"#best >> text={result.adapter.ref}")
    page.wait_for_url("**/adapters/ui/sent-lora?v=1")
    lineage = page.inner_text("#lineage")
    version = result.adapter
    assert version.lineage["base_model"]["hash"][:12] in lineage and "tiny-causal" in lineage
    assert version.lineage["data"]["fingerprint"][:12] in lineage and "lora" in lineage
    assert "lr" in page.inner_text("#settings") and page.locator("svg.chart").count() >= 1
    shot(w, shots, "adapter")

    page.select_option("#move-label select[name=label]", "staging")
    page.fill("#move-label input[name=reason]", "best of the search")
    page.click("#move-label button[type=submit]")
    page.wait_for_url("**moved=staging**")
    row = page.locator("#label-history tbody tr").first.locator("td").all_inner_texts()
    assert row[1:] == ["staging", "–", "v1", "move", "writer", "best of the search"]
    with Registry.open(served.path) as reg:
        assert reg.labels("ui/sent-lora", kind="adapter")["staging"] == 1

    page.click("#lineage >> text=ui/sent@1")
    page.wait_for_url("**/prompts/ui/sent/-/template?v=1")
    assert "Review: {{ text }}" in page.inner_text("#template-source")
    w.assert_nothing_ran()
