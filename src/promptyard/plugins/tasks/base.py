"""What every task type shares: rendering a row through a prompt version, and training features."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

IGNORE_INDEX = -100  # label value that cross-entropy skips: prompt tokens carry no loss


def contract_names(template: Any) -> list[str]:
    """The variable names a template accepts (declared, else inferred)."""
    from promptyard.core.render import check_template

    return [v.name for v in check_template(template)]


def render_prompt(template: Any, variables: Mapping[str, Any], tokenizer: Any = None, *,
                  seed: int | None = None, names: Sequence[str] | None = None) -> str:
    """Render ``variables`` through ``template``; a *multi* template goes through the tokenizer's chat
    template when it has one (with the assistant turn opened), every other kind is its text.

    Variables the template does not accept are left out, so a row's extra columns do no harm.
    """
    from promptyard.core.errors import RenderError
    from promptyard.core.render import render

    accepted = set(names if names is not None else contract_names(template))
    try:
        rendered = render(template, {k: v for k, v in variables.items() if k in accepted}, seed=seed)
    except RenderError as exc:
        # the usual cause is a template variable named differently from the data's columns: say which exist
        given = ", ".join(sorted(variables)) or "none"
        raise RenderError(exc.message, where=exc.where or "rendering a data row",
                          hint=f"the data gives: {given}; use those names in the template") from None
    if rendered.messages and tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(rendered.messages, tokenize=False, add_generation_prompt=True)
    return rendered.text


def causal_features(tokenizer: Any, prompt: str, target: str, *, add_eos: bool,
                    max_length: int | None = None) -> dict[str, list[int]]:
    """Token ids of prompt + target with labels only on the target (prompt tokens are IGNORE_INDEX).

    Prompt and target are encoded separately, exactly as :func:`score_choices` does, so training and
    scoring see the same tokens. Long prompts are cut from the left: the end is next to the answer.
    """
    from promptyard.runtime.inference import join_choice

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


def example_variables(row: Mapping[str, Any], required: Sequence[str], options: Mapping[str, Any] | None,
                      skip: Sequence[str] = ("label", "target")) -> dict[str, Any]:
    """The template variables of a row: the required ones plus any listed in ``options["variables"]``."""
    wanted = list(required) + list((options or {}).get("variables") or [])
    return {k: row[k] for k in dict.fromkeys(wanted) if k in row and k not in skip}
