"""The exact text format an adapter was trained on, and the check that an evaluation or a prediction feeds it
the same format.

An adapter learns the text it was trained on: the prompt version that rendered each row and, when that text
went through the tokenizer's chat template, that chat template. Evaluating it through another prompt or
another chat template silently costs accuracy (xtuner#658: 62 → 28), so training records the format::

    text_format: {prompt_hash: str | None, chat_template_hash: str | None, prompt: str | None}

(``chat_template_hash`` is None when no chat template was applied; ``prompt`` names the version for people,
only the hashes are compared), in the adapter's lineage and in its
``promptyard_adapter.json``. An adapter made from several (a weighted merge of adapters trained on different
prompts) records a list of formats, any of which is its own. :func:`check_text_format` compares what an
evaluation or ``predict`` uses with what was recorded; the caller warns and marks its result, or refuses
(``--strict-template``) with :class:`~promptyard.core.errors.TemplateMismatchError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from promptyard.core.errors import TemplateMismatchError

#: the check's outcomes: formats agree, they differ, or the adapter recorded none (not trained by promptyard)
MATCH, MISMATCH, UNRECORDED = "match", "mismatch", "unrecorded"


def chat_template_hash(tokenizer: Any) -> str | None:
    """The sha256 of the tokenizer's chat template text (None when it has none)."""
    template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    if isinstance(template, Mapping):  # several named templates: all of them decide what "chat" means
        template = "\n".join(f"{k}\n{template[k]}" for k in sorted(template))
    if not template:
        return None
    return hashlib.sha256(str(template).encode("utf-8")).hexdigest()


def text_format(prompt_hash: str | None, tokenizer: Any, *, chat: bool, prompt: str | None = None
                ) -> dict[str, Any]:
    """The format of model text rendered by the prompt with ``prompt_hash`` (named ``prompt``), through the
    tokenizer's chat template when ``chat`` (as :func:`promptyard.runtime.model_text.model_text` does: only if
    it has one)."""
    return {"prompt_hash": prompt_hash, "chat_template_hash": chat_template_hash(tokenizer) if chat else None,
            "prompt": prompt}


def trained_formats(record: Any) -> list[dict[str, Any]]:
    """The formats an adapter's lineage or ``promptyard_adapter.json`` records ([] when none).

    Adapters trained before formats were recorded still name their prompt's hash: that much is checked.
    """
    if not isinstance(record, Mapping):
        return []
    recorded = record.get("text_format")
    if isinstance(recorded, Mapping):
        return [dict(recorded)]
    if isinstance(recorded, list):
        return [dict(f) for f in recorded if isinstance(f, Mapping)]
    prompt = record.get("prompt")
    if isinstance(prompt, Mapping) and prompt.get("hash"):  # no chat part: unknown, so not compared
        return [{"prompt_hash": prompt["hash"], "prompt": prompt.get("resolved") or prompt.get("ref")}]
    return []


def _named(fmt: Mapping[str, Any]) -> str:
    short = str(fmt.get("prompt_hash"))[:12]
    return f"{fmt['prompt']} ({short})" if fmt.get("prompt") else short


def _problems(trained: Mapping[str, Any], used: Mapping[str, Any]) -> list[str]:
    out = []
    if trained.get("prompt_hash") and trained["prompt_hash"] != used.get("prompt_hash"):
        out.append(f"trained with prompt {_named(trained)}, given prompt {_named(used)}")
    if "chat_template_hash" in trained:
        was, now = trained["chat_template_hash"], used.get("chat_template_hash")
        if was != now:
            if was is None:
                out.append(f"trained without a chat template, given text through chat template {now[:12]}")
            elif now is None:
                out.append(f"trained through chat template {was[:12]}, given text without one")
            else:
                out.append(f"trained through chat template {was[:12]}, given chat template {now[:12]}")
    return out


def check_text_format(trained: list[dict[str, Any]], used: Mapping[str, Any]) -> dict[str, Any]:
    """``{"status", "problems", "trained", "used"}``: ``match`` when ``used`` is one of the ``trained``
    formats, ``mismatch`` (with what differs from the first of them) otherwise, ``unrecorded`` when the adapter
    recorded no format."""
    out: dict[str, Any] = {"status": UNRECORDED, "problems": [], "trained": trained, "used": dict(used)}
    if not trained:
        return out
    found = [_problems(f, used) for f in trained]
    if any(not p for p in found):
        out["status"] = MATCH
    else:
        out["status"], out["problems"] = MISMATCH, found[0]
    return out


def summary(check: Mapping[str, Any]) -> str:
    """One line for people: what differs."""
    return "text format differs from the adapter's training: " + "; ".join(check.get("problems") or [])


def refuse_mismatch(check: Mapping[str, Any], *, where: str) -> None:
    """Raise TemplateMismatchError when ``check`` found a mismatch (``--strict-template``)."""
    if check.get("status") == MISMATCH:
        raise TemplateMismatchError(summary(check), where=where,
                                    hint="use the prompt version (and chat setting) the adapter was trained with, "
                                         "see `promptyard adapter show`; or drop --strict-template")


__all__ = ["MATCH", "MISMATCH", "UNRECORDED", "chat_template_hash", "check_text_format", "refuse_mismatch",
           "summary", "text_format", "trained_formats"]
