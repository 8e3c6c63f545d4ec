"""Training features: token ids of prompt + target with the loss only on the target, or an encoder's label."""

from __future__ import annotations

from typing import Any

from promptyard.runtime.inference import join_choice

IGNORE_INDEX = -100  # label value that cross-entropy skips: prompt tokens carry no loss


def causal_features(tokenizer: Any, prompt: str, target: str, *, add_eos: bool,
                    max_length: int | None = None) -> dict[str, list[int]]:
    """Token ids of prompt + target with labels only on the target (prompt tokens are IGNORE_INDEX).

    Prompt and target are encoded separately, exactly as :func:`score_choices` does, so training and
    scoring see the same tokens. Long prompts are cut from the left: the end is next to the answer.
    """
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(join_choice(prompt, target), add_special_tokens=False)["input_ids"]
    if add_eos and tokenizer.eos_token_id is not None:
        target_ids = target_ids + [tokenizer.eos_token_id]
    if max_length and len(prompt_ids) + len(target_ids) > max_length:
        keep = max(1, max_length - len(target_ids))
        prompt_ids = prompt_ids[-keep:]
        target_ids = target_ids[: max_length - len(prompt_ids)]
    return {"input_ids": prompt_ids + target_ids,
            "labels": [IGNORE_INDEX] * len(prompt_ids) + target_ids}


def encoder_features(tokenizer: Any, prompt: str, label_index: int, *,
                     max_length: int | None = None) -> dict[str, Any]:
    """Token ids of the prompt for a sequence classifier, with its label index."""
    ids = tokenizer(prompt, truncation=True, max_length=max_length or tokenizer.model_max_length)["input_ids"]
    return {"input_ids": ids, "labels": label_index}
