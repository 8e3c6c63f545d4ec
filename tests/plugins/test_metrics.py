"""Built-in metrics against hand-computed values, and their bootstrap recomputation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from promptyard.core.host import registered
from promptyard.core.stats import bootstrap_indices
from promptyard.evals.metrics import compute_metric, get_metric
from promptyard.plugins.metrics.judge import parse_verdict, yes_probability

# predictions a a b b c vs references a b b c c (worked by hand):
#   a: tp1 fp1 fn0 -> P 1/2, R 1,   F1 2/3
#   b: tp1 fp1 fn1 -> P 1/2, R 1/2, F1 1/2
#   c: tp1 fp0 fn1 -> P 1,   R 1/2, F1 2/3
PRED = ["a", "a", "b", "b", "c"]
REF = ["a", "b", "b", "c", "c"]

CASES = [
    ("accuracy", PRED, REF, {}, {"accuracy": 3 / 5}),
    ("precision", PRED, REF, {}, {"precision": 2 / 3}),
    ("recall", PRED, REF, {}, {"recall": 2 / 3}),
    ("f1", PRED, REF, {}, {"f1": 11 / 18}),
    ("f1_macro", PRED, REF, {}, {"f1": 11 / 18}),
    ("f1_micro", PRED, REF, {}, {"f1": 3 / 5}),
    ("precision_micro", PRED, REF, {}, {"precision": 3 / 5}),
    ("recall_micro", PRED, REF, {}, {"recall": 3 / 5}),
    ("exact_match", [" Paris ", "paris", "Rome"], ["Paris", "Paris", "Oslo"], {}, {"exact_match": 1 / 3}),
    ("exact_match", [" Paris ", "paris", "Rome"], ["Paris", "Paris", "Oslo"], {"ignore_case": True},
     {"exact_match": 2 / 3}),
    # 1-4 gram precisions 4/5, 3/4, 2/3, 1/2, equal lengths: BLEU = 100 * 0.2 ** 0.25
    ("bleu", ["a b c d e"], ["a b c d f"], {}, {"bleu": 100 * 0.2**0.25, "brevity_penalty": 1.0}),
    ("bleu", ["the cat sat on the mat"], ["the cat sat on the mat"], {}, {"bleu": 100.0}),
    # the cat sat / the cat ran: unigrams 2/3, bigrams 1/2, LCS 2 of 3
    ("rouge", ["the cat sat"], ["the cat ran"], {}, {"rougeL": 2 / 3, "rouge1": 2 / 3, "rouge2": 1 / 2}),
    ("json_validity",
     ['{"label": "positive"}', 'Sure! {"label": "negative"} done', '{"label": "meh"}', "positive"],
     None, {"schema": json.dumps({"type": "object", "required": ["label"],
                                  "properties": {"label": {"enum": ["positive", "negative"]}}})},
     {"json_validity": 0.5}),
    ("json_validity", ['{"a": 1}', "[1, 2]", "nope"], None, {}, {"json_validity": 2 / 3}),
    ("latency", [0.1, 0.2, 0.3, 0.4], None, {},
     {"latency_s": 0.25, "latency_p50_s": 0.25, "latency_p95_s": 0.385, "total_s": 1.0}),
    ("tokens", [10, 20, 30], None, {}, {"tokens": 20.0, "total_tokens": 60.0}),
]


def test_every_builtin_metric_is_registered():
    names = set(registered("metrics"))
    assert {"accuracy", "precision", "recall", "f1", "f1_macro", "f1_micro", "exact_match", "bleu", "rouge",
            "json_validity", "latency", "tokens"} <= names


@pytest.mark.parametrize(("name", "predictions", "references", "kwargs", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_metric_values_match_hand_computed(name, predictions, references, kwargs, expected):
    scores = get_metric(name).compute(predictions, references, **kwargs)
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value, abs=1e-9), key
    assert next(iter(scores)) == next(iter(expected))  # the first key is the headline


@pytest.mark.parametrize(("name", "predictions", "references", "kwargs", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bootstrap_recompute_agrees_with_the_metric_on_the_full_sample(name, predictions, references, kwargs,
                                                                      expected):
    result = compute_metric(name, predictions, references, seed=0, **kwargs)
    headline = next(iter(expected.values()))
    assert result.value == pytest.approx(headline, abs=1e-9)
    assert result.low <= result.value + 1e-9 <= result.high + 2e-9


@pytest.mark.parametrize("name", ["precision", "recall", "f1", "f1_micro", "precision_micro"])
def test_confusion_resampler_matches_sklearn_on_every_draw(name):
    from sklearn import metrics as skm

    rng = np.random.default_rng(0)
    refs = list(rng.choice(["neg", "pos", "neu"], size=40))
    preds = [r if rng.random() < 0.6 else rng.choice(["neg", "pos", "neu"]) for r in refs]
    metric = get_metric(name)
    idx = bootstrap_indices(40, n_boot=25, seed=1)
    values = metric.resampler(preds, refs)(idx)
    fns = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}
    fn = fns[name.split("_")[0]]
    average = metric.options["average"]
    for row, value in zip(idx, values, strict=False):
        expected = fn([refs[i] for i in row], [preds[i] for i in row], average=average, zero_division=0)
        assert value == pytest.approx(expected)


def test_bleu_resampler_matches_sacrebleu_on_every_draw():
    from sacrebleu.metrics import BLEU

    hyps = ["the cat sat on the mat", "a dog runs fast", "hello world", "it is raining today", "blue sky"]
    refs = ["the cat sat on a mat", "the dog runs fast", "hello there world", "it rains today",
            "the sky is blue"]
    idx = bootstrap_indices(5, n_boot=20, seed=3)
    values = get_metric("bleu").resampler(hyps, refs)(idx)
    for row, value in zip(idx, values, strict=False):
        expected = BLEU().corpus_score([hyps[i] for i in row], [[refs[i] for i in row]]).score
        assert value == pytest.approx(expected)


def test_accuracy_interval_narrows_with_more_examples():
    small = compute_metric("accuracy", ["a", "b"] * 10, ["a"] * 20, seed=0)
    large = compute_metric("accuracy", ["a", "b"] * 500, ["a"] * 1000, seed=0)
    assert small.value == large.value == 0.5
    assert (large.high - large.low) < (small.high - small.low) / 4
    assert math.isclose(small.per_example[0], 1.0) and small.per_example[1] == 0.0


def test_plugin_metric_without_resampler_gets_a_generic_bootstrap():
    from promptyard import hookimpl
    from promptyard.testing import plugin_registered

    class Longest:
        name = "longest"
        higher_is_better = True

        def compute(self, predictions, references, **kwargs):
            return {"longest": float(max(len(p) for p in predictions))}

    class Plugin:
        @hookimpl
        def register_metrics(self, register):
            register(Longest())

    with plugin_registered(Plugin()):
        result = compute_metric("longest", ["a", "abc", "ab"], None, seed=0)
    assert result.value == 3.0
    assert 1.0 <= result.low <= result.high == 3.0


@pytest.mark.parametrize(("reply", "scale", "expected"), [
    ("8", 10.0, 0.8), (" 7/10 because", 10.0, 0.7), ("score: 12", 10.0, 1.0), ("-3", 1.0, 0.0), ("1", 1.0, 1.0),
    (" yes, it is", 1.0, 1.0), ("PASS", 1.0, 1.0), ("Incorrect.", 1.0, 0.0), ("no, not correct", 1.0, 0.0),
    ("correct, not wrong", 1.0, 1.0), ("hmm", 1.0, 0.0), ("", 1.0, 0.0),
])
def test_the_judges_written_verdict_is_read_as_a_score(reply, scale, expected):
    assert parse_verdict(reply, scale) == pytest.approx(expected)


@pytest.mark.parametrize(("yes", "no", "expected"), [
    (-1.0, -1.0, 0.5), (math.log(0.3), math.log(0.1), 0.75), (-2000.0, 0.0, 0.0), (0.0, -2000.0, 1.0),
])
def test_the_judges_choice_score_is_p_yes_of_the_two(yes, no, expected):
    assert yes_probability([yes, no]) == pytest.approx(expected)
