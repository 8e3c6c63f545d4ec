"""Prompt -> model text: one rule for training rows and eval cells (chat template, reply prefix)."""

from __future__ import annotations

import json

import pytest

from promptyard.core.lookups import load_model
from promptyard.core.template import Part, Template
from promptyard.evals.cells import prepare_cell
from promptyard.evals.runner import format_prompts
from promptyard.evals.suite import CellSpec
from promptyard.runtime.model_text import model_text, render_model_text


@pytest.mark.parametrize("template, expected", [
    (Template(kind="single", text="Review: {{ text }}\nSentiment:"), "Review: fine\nSentiment:"),
    (Template(kind="multi", parts=[Part("system", "Rate it."), Part("user", "{{ text }}")]),
     "<|system|> Rate it.\n<|user|> fine\n<|assistant|> "),
    (Template(kind="structured", sections={"task": "Rate.", "input": "{{ text }}", "output_format": "JSON"}),
     "fine"),
    (Template(kind="dynamic",
              text="{% for e in examples %}{{ e.text }}={{ e.label }}\n{% endfor %}{{ text }}=",
              examples=[{"text": "ok", "label": "positive"}], k=1), "ok=positive\nfine="),
], ids=["single", "multi", "structured", "dynamic"])
def test_every_template_kind_renders_to_model_text(template, expected):
    tok = load_model("tiny-causal").tokenizer
    text = render_model_text(template, {"text": "fine", "movie": "ignored"}, tok, seed=0)
    assert expected in text


@pytest.mark.parametrize("doc", [
    {"kind": "single", "text": "Review: {{ text }}\nSentiment:"},
    {"kind": "multi", "parts": [{"role": "system", "text": "Rate it."}, {"role": "user", "text": "{{ text }}"}]},
], ids=["single", "multi"])
def test_training_renders_a_row_to_the_text_an_eval_cell_gives_the_model(tmp_path, doc):
    rows = [{"text": "a warm, funny film", "label": "positive"}, {"text": "dull and slow", "label": "negative"}]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    prompt = tmp_path / "prompt.json"
    prompt.write_text(json.dumps(doc))
    tok = load_model("tiny-causal").tokenizer
    prepared = prepare_cell(CellSpec(prompt=str(prompt), model="tiny-causal", data=str(data), split="all"))
    evaluated = format_prompts(prepared, tok)
    template = Template.from_dict(doc, where="test")
    trained = [render_model_text(template, e.variables, tok, seed=i) for i, e in enumerate(prepared.examples)]
    assert evaluated == trained
    assert ("<|assistant|>" in trained[0]) is (doc["kind"] == "multi")


def test_chat_and_a_reply_prefix_apply_only_where_asked():
    tok = load_model("tiny-causal").tokenizer
    assert model_text("Review: fine", None, tok) == "Review: fine"
    assert model_text("Review: fine", None, tok, reply_prefix=" {") == "Review: fine {"
    chat = model_text("Review: fine", None, tok, chat=True, reply_prefix="Answer:")
    assert "<|user|>" in chat and "Review: fine" in chat and chat.endswith("<|assistant|> Answer:")
    # a tokenizer without a chat template: messages fall back to the rendered text
    assert model_text("plain", [{"role": "user", "content": "plain"}], None) == "plain"
