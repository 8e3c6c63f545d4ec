"""``eval run --repeats N``: N sampled replies per example, each with its own recorded seed; pass rates."""

from __future__ import annotations

import json

from promptyard.testing import invoke


def _run(reviews, *extra):
    return invoke(["eval", "run", "--prompt", "sent@1", "--model", "tiny-causal", "--data", reviews, "--split", "all",
                   "--scoring", "generate", "--max-new-tokens", "2", "--metric", "accuracy", *extra])


def test_repeats_sample_replies_with_recorded_seeds_and_report_pass_rates(registry, reviews):
    result = _run(reviews, "--repeats", "3", "--json")
    assert result.exit_code == 0, result.stderr
    (cell,) = json.loads(result.stdout)["cells"]
    repeats = cell["lineage"]["repeats"]
    assert repeats["n"] == 3 and repeats["seeds"] == [0, 1, 2]
    acc = repeats["metrics"]["accuracy"]
    assert len(acc["per_example"]) == 12 and set(acc["per_example"]) <= {0.0, 1 / 3, 2 / 3, 1.0}
    assert acc["low"] <= acc["pass_rate"] <= acc["high"] and acc["spread"] >= 0
    assert acc["pass_rate"] == sum(acc["per_repeat"]) / 3
    assert cell["cache_misses"] == 36  # three sampled replies for each of the 12 examples
    again = json.loads(_run(reviews, "--repeats", "3", "--json").stdout)["cells"][0]
    assert again["cache_hits"] == 36 and again["lineage"]["repeats"] == repeats  # the seeds replay
    shown = _run(reviews, "--repeats", "3")
    assert "repeats: per-example pass rate" in shown.stdout


def test_repeats_need_generated_replies(registry, reviews):
    result = invoke(["eval", "run", "--prompt", "sent@1", "--model", "tiny-causal", "--data", reviews, "--split",
                     "all", "--repeats", "2"])
    assert result.exit_code != 0 and "repeats (2) sample replies" in result.stderr
    assert result.stderr.strip().count("\n") == 0  # one line
