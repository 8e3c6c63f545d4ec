"""Task types: examples from rows, rendering through any template kind, training features."""

from __future__ import annotations

import pytest

from promptyard.core.errors import DataError, UsageError
from promptyard.core.host import lookup, registered
from promptyard.core.lookups import load_model
from promptyard.tuning.features import IGNORE_INDEX, causal_features


def test_task_types_are_registered():
    assert {"classification", "sentiment", "topic", "generation", "summarization",
            "translation"} <= set(registered("task_types"))
    assert lookup("task_types", "summarization").default_metrics == ("rouge",)
    assert lookup("task_types", "translation").default_metrics == ("bleu",)


def test_sentiment_example_has_verbalised_choices_and_only_template_variables():
    task = lookup("task_types", "sentiment").configure(verbalizers={"positive": "great"})
    ex = task.row_to_example({"text": "loved it", "label": "positive", "movie": "x"})
    assert ex.variables == {"text": "loved it"} and ex.target == "positive"
    assert ex.choices == ["negative", "great"] and ex.meta["labels"] == ["negative", "positive"]
    assert task.predict([-3.0, -1.0]) == "positive"
    with_movie = task.row_to_example({"text": "a", "label": "negative", "movie": "x"},
                                     options={"variables": ["movie"]})
    assert with_movie.variables == {"text": "a", "movie": "x"}


def test_classification_needs_a_label_set_and_known_labels():
    task = lookup("task_types", "classification")
    with pytest.raises(UsageError, match="label set"):
        task.row_to_example({"text": "a", "label": "x"})
    with pytest.raises(DataError, match="not one of"):
        task.row_to_example({"text": "a", "label": "x"}, options={"labels": ["y", "z"]})


def test_causal_features_mask_the_prompt():
    tok = load_model("tiny-causal").tokenizer
    feats = causal_features(tok, "Review: fine\nSentiment:", "positive", add_eos=True)
    n_prompt = len(tok("Review: fine\nSentiment:", add_special_tokens=False)["input_ids"])
    assert feats["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert feats["labels"][n_prompt:] == feats["input_ids"][n_prompt:]
    assert feats["input_ids"][-1] == tok.eos_token_id
    cut = causal_features(tok, "word " * 50, "positive", add_eos=False, max_length=10)
    assert len(cut["input_ids"]) == 10 and cut["labels"][-1] != IGNORE_INDEX
