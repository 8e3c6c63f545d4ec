"""Batched scoring and generation agree with one-example-at-a-time reference computations."""

from __future__ import annotations

import pytest

from promptyard.core.lookups import load_model
from promptyard.runtime.inference import generate, join_choice, score_choices

PROMPTS = ["the film was", "a long and tedious story about nothing at all, I thought it",
           "great", "Review: fine acting.\nSentiment: "]


def reference_scores(loaded, prompts, choices):
    """Full logits over the whole vocabulary, one unpadded example at a time."""
    import torch

    tok, out = loaded.tokenizer, []
    for prompt in prompts:
        row = []
        for choice in choices:
            p = tok(prompt, add_special_tokens=False)["input_ids"]
            c = tok(join_choice(prompt, choice), add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logits = loaded.model(input_ids=torch.tensor([p + c])).logits[0]
            logprobs = torch.log_softmax(logits, -1)
            shift = logits.shape[0] - len(p) - len(c)  # PEFT prompt tuning returns virtual positions too
            row.append(sum(float(logprobs[shift + len(p) - 1 + k, t]) for k, t in enumerate(c)))
        out.append(row)
    return out


def flat(rows):
    return [x for row in rows for x in row]


@pytest.fixture
def tiny():
    return load_model("tiny-causal")


@pytest.mark.parametrize("choices", [["positive", "negative"], ["very good indeed", "bad", "so - so"]],
                         ids=["single-token", "multi-token"])
@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_batched_scores_equal_per_example_reference(tiny, choices, batch_size):
    got = score_choices(tiny, PROMPTS, choices, batch_size=batch_size)
    want = reference_scores(tiny, PROMPTS, choices)
    assert flat(got) == pytest.approx(flat(want), abs=1e-4)


def test_scores_with_a_prompt_tuning_adapter_match_the_reference():
    """Virtual tokens are prepended by PEFT: scored positions must shift with them."""
    from peft import PromptTuningConfig, TaskType, get_peft_model

    loaded = load_model("tiny-causal")
    loaded.model = get_peft_model(loaded.model, PromptTuningConfig(task_type=TaskType.CAUSAL_LM,
                                                                   num_virtual_tokens=4))
    choices = ["good", "quite bad"]
    got = score_choices(loaded, PROMPTS, choices, batch_size=4)
    assert flat(got) == pytest.approx(flat(reference_scores(loaded, PROMPTS, choices)), abs=1e-4)


def test_encoder_scores_are_head_log_probs():
    import math

    loaded = load_model("tiny-encoder", num_labels=3)
    scores = score_choices(loaded, PROMPTS, ["a", "b", "c"], batch_size=2)
    single = [score_choices(loaded, [p], ["a", "b", "c"])[0] for p in PROMPTS]
    assert flat(scores) == pytest.approx(flat(single), abs=1e-5)
    assert all(sum(math.exp(s) for s in row) == pytest.approx(1.0) for row in scores)


def test_batched_generation_equals_one_by_one(tiny):
    batched = generate(tiny, PROMPTS, max_new_tokens=5, batch_size=4)
    single = [generate(tiny, [p], max_new_tokens=5)[0] for p in PROMPTS]
    assert batched == single and all(isinstance(t, str) for t in batched)
    assert any(t.strip() for t in batched)


@pytest.mark.parametrize("prompt, choice, joined", [
    ("Sentiment:", "positive", " positive"), ("Sentiment: ", "positive", "positive"),
    ("x\n", "y", "y"), ("x", " y", " y"),
])
def test_join_choice(prompt, choice, joined):
    assert join_choice(prompt, choice) == joined
