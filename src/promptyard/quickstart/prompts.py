"""The quickstart's sentiment prompt, written once in each of the four template kinds."""

from __future__ import annotations

from typing import Any

PROMPT_NAME = "sentiment"
ADAPTER_NAME = "sentiment-adapter"
TASK = "sentiment"

SINGLE: dict[str, Any] = {
    "kind": "single",
    "text": "Review: {{ text }}\nIs this movie review positive or negative? Answer:",
}

MULTI: dict[str, Any] = {
    "kind": "multi",
    "parts": [
        {"role": "system", "text": "You are a film critic. Answer with one word: positive or negative."},
        {"role": "user", "text": "Review: {{ text }}\nSentiment:"},
    ],
}

STRUCTURED: dict[str, Any] = {
    "kind": "structured",
    "sections": {
        "task": "Decide whether this movie review is positive or negative.",
        "input": "Review: {{ text }}",
        "output_format": 'Reply with one line of JSON and nothing else: {"sentiment": "positive"} or '
                         '{"sentiment": "negative"}.',
    },
    "output_schema": {
        "type": "object",
        "properties": {"sentiment": {"enum": ["positive", "negative"]}},
        "required": ["sentiment"],
    },
}

DYNAMIC: dict[str, Any] = {
    "kind": "dynamic",
    "selector": "similar",
    "k": 2,
    "seed": 0,
    "examples": [
        {"text": "A moving, beautifully acted film.", "label": "positive"},
        {"text": "Dull, predictable and far too long.", "label": "negative"},
        {"text": "Funny from start to finish; I loved it.", "label": "positive"},
        {"text": "The plot makes no sense and the jokes fall flat.", "label": "negative"},
        {"text": "A gripping thriller with a great cast.", "label": "positive"},
        {"text": "A tedious mess that wastes its actors.", "label": "negative"},
    ],
    "text": ("Classify each movie review as positive or negative.\n"
             "{% for ex in examples %}Review: {{ ex.text }}\nSentiment: {{ ex.label }}\n\n{% endfor %}"
             "Review: {{ text }}\nSentiment:"),
}

#: (kind, template, commit message), committed in this order as versions 1..4
VERSIONS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("single", SINGLE, "single: one instruction and the review"),
    ("multi", MULTI, "multi: a system persona and a user turn"),
    ("structured", STRUCTURED, "structured: task/input sections and a JSON output schema"),
    ("dynamic", DYNAMIC, "dynamic: two similar reviews as few-shot examples (selector: similar)"),
)

#: a structured prompt is scored on its JSON reply. SmolLM2-135M asked for JSON invents its own keys, so the
#: reply is started for it (an assistant prefill): it continues `{"sentiment": "` with a label and `"}`.
STRUCTURED_DECODING = {"max_new_tokens": 6, "chat": True, "reply_prefix": '{"sentiment": "'}
