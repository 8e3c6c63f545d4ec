"""Prompt -> the text a model reads, one rule for training and evaluation.

A rendered prompt with messages (a *multi* template, or any prompt when chat is asked for) goes through
the tokenizer's chat template with the assistant turn opened, when the tokenizer has one; otherwise the
rendered text is used as it is. An optional reply prefix (evals' ``decoding.reply_prefix``) is appended.
Training renders its rows with :func:`render_model_text` and evaluation formats its cells with
:func:`model_text`, so a tuned adapter sees at evaluation the text it was trained on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from promptyard.core.errors import RenderError
from promptyard.core.render import check_template, render


def accepted_variables(template: Any) -> list[str]:
    """The variable names a template accepts (declared, else inferred)."""
    return [v.name for v in check_template(template)]


def model_text(text: str, messages: list[dict[str, str]] | None, tokenizer: Any, *, chat: bool = False,
               reply_prefix: str = "") -> str:
    """A rendered prompt (its text and messages) as the model's input text."""
    if (messages or chat) and tokenizer is not None and getattr(tokenizer, "chat_template", None):
        turns = messages or [{"role": "user", "content": text}]
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True) + reply_prefix
    return text + reply_prefix


def render_model_text(template: Any, variables: Mapping[str, Any], tokenizer: Any = None, *,
                      seed: int | None = None, names: Sequence[str] | None = None) -> str:
    """Render ``variables`` through ``template`` and make it the model's input text (:func:`model_text`).

    Variables the template does not accept are left out, so a row's extra columns do no harm.
    """
    accepted = set(names if names is not None else accepted_variables(template))
    try:
        rendered = render(template, {k: v for k, v in variables.items() if k in accepted}, seed=seed)
    except RenderError as exc:
        # the usual cause is a template variable named differently from the data's columns: say which exist
        given = ", ".join(sorted(variables)) or "none"
        raise RenderError(exc.message, where=exc.where or "rendering a data row",
                          hint=f"the data gives: {given}; use those names in the template") from None
    return model_text(rendered.text, rendered.messages, tokenizer)
