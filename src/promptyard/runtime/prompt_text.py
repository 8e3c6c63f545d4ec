"""Prompt -> model text: a data row's variables rendered through a prompt version, as the model reads it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from promptyard.core.errors import RenderError
from promptyard.core.render import check_template, render


def contract_names(template: Any) -> list[str]:
    """The variable names a template accepts (declared, else inferred)."""
    return [v.name for v in check_template(template)]


def render_prompt(template: Any, variables: Mapping[str, Any], tokenizer: Any = None, *,
                  seed: int | None = None, names: Sequence[str] | None = None) -> str:
    """Render ``variables`` through ``template``; a *multi* template goes through the tokenizer's chat
    template when it has one (with the assistant turn opened), every other kind is its text.

    Variables the template does not accept are left out, so a row's extra columns do no harm.
    """
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
