"""The text-format check on its own: formats from real tokenizers, every way two formats can differ, the
formats older adapters and merges record, and the strict refusal."""

from __future__ import annotations

import copy

import pytest

from promptyard.core.errors import TemplateMismatchError
from promptyard.runtime.text_format import (
    chat_template_hash,
    check_text_format,
    refuse_mismatch,
    text_format,
    trained_formats,
)


@pytest.fixture(scope="module")
def tokenizers():
    from promptyard.core.lookups import load_model

    tok = load_model("tiny-causal").tokenizer
    other = copy.deepcopy(tok)
    other.chat_template = tok.chat_template + "{# edited #}"
    none = copy.deepcopy(tok)
    none.chat_template = None
    return tok, other, none


def test_chat_template_hash_follows_the_template_text(tokenizers):
    tok, other, none = tokenizers
    assert chat_template_hash(tok) and chat_template_hash(tok) != chat_template_hash(other)
    assert chat_template_hash(none) is None
    assert text_format("p1", tok, chat=False)["chat_template_hash"] is None  # not applied, not recorded
    assert text_format("p1", none, chat=True)["chat_template_hash"] is None  # model_text's rule: none to apply


CASES = [
    # trained (prompt, chat tokenizer or None), used (prompt, chat tokenizer or None), status, problem
    (("p1", None), ("p1", None), "match", None),
    (("p1", None), ("p2", None), "mismatch", "trained with prompt p1, given prompt p2"),
    (("p1", None), ("p1", "tok"), "mismatch", "trained without a chat template"),
    (("p1", "tok"), ("p1", None), "mismatch", "given text without one"),
    (("p1", "tok"), ("p1", "other"), "mismatch", "given chat template"),
    (("p1", "tok"), ("p1", "tok"), "match", None),
]


@pytest.mark.parametrize("trained, used, status, problem", CASES)
def test_every_difference_is_named(tokenizers, trained, used, status, problem):
    tok, other, _ = tokenizers
    pick = {"tok": tok, "other": other, None: tok}

    def fmt(spec):
        return text_format(spec[0], pick[spec[1]], chat=spec[1] is not None)

    check = check_text_format([fmt(trained)], fmt(used))
    assert check["status"] == status
    if problem is None:
        assert check["problems"] == []
        refuse_mismatch(check, where="cell")  # no error
    else:
        assert len(check["problems"]) == 1 and problem in check["problems"][0]
        with pytest.raises(TemplateMismatchError, match="text format differs"):
            refuse_mismatch(check, where="cell")


def test_recorded_formats_of_every_age():
    new = {"text_format": {"prompt_hash": "p1", "chat_template_hash": None}}
    merged = {"text_format": [{"prompt_hash": "p1", "chat_template_hash": None},
                              {"prompt_hash": "p2", "chat_template_hash": None}]}
    old = {"prompt": {"hash": "p1", "resolved": "sent@1"}}  # before formats were recorded: the prompt only
    assert trained_formats(new) == [new["text_format"]]
    assert len(trained_formats(merged)) == 2
    assert trained_formats(old) == [{"prompt_hash": "p1", "prompt": "sent@1"}]
    assert trained_formats({}) == [] and trained_formats(None) == []
    used = {"prompt_hash": "p2", "chat_template_hash": "c"}
    assert check_text_format(trained_formats(merged), {**used, "chat_template_hash": None})["status"] == "match"
    assert check_text_format(trained_formats(old), used)["status"] == "mismatch"
    assert check_text_format(trained_formats(old), {**used, "prompt_hash": "p1"})["status"] == "match"
    assert check_text_format([], used)["status"] == "unrecorded"
