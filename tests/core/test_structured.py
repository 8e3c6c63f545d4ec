"""*structured* templates: sections under headings, the schema in the output format, and parse_output."""

from __future__ import annotations

import pytest

from promptyard.core.errors import OutputParseError
from promptyard.core.render import render
from promptyard.core.structured import parse_output
from promptyard.core.template import Template

SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"enum": ["positive", "negative"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "reasons": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["label", "confidence"],
    "additionalProperties": False,
}
T = Template(
    kind="structured",
    sections={"input": "{{ review }}", "task": "Classify the review."},
    output_schema=SCHEMA,
)


def test_sections_render_in_canonical_order_with_headings_and_the_schema():
    text = render(T, {"review": "Loved it"}).text
    assert text.startswith("## Task\nClassify the review.\n\n## Input\nLoved it\n\n## Output format\n")
    assert "Reply with JSON only, matching this JSON Schema:\n```json\n{" in text
    assert '"enum": [\n        "positive",' in text
    assert text.endswith("```")


def test_custom_output_format_text_replaces_the_schema_text():
    t = Template(
        kind="structured", sections={"task": "x", "output_format": "Say {{ fmt }}."}, output_schema=SCHEMA
    )
    assert render(t, {"fmt": "JSON"}).text == "## Task\nx\n\n## Output format\nSay JSON."


def test_empty_sections_are_left_out():
    t = Template(kind="structured", sections={"task": "x", "input": "{% if show %}{{ text }}{% endif %}"})
    assert render(t, {"show": False, "text": "t"}).text == "## Task\nx"
    assert render(t, {"show": True, "text": "t"}).text == "## Task\nx\n\n## Input\nt"


GOOD_REPLIES = [
    ('{"label": "positive", "confidence": 0.9}', {"label": "positive", "confidence": 0.9}),
    (
        'Sure!\n```json\n{"label": "negative", "confidence": 0.2, "reasons": ["dull"]}\n```\n'
        "Hope that helps.",
        {"label": "negative", "confidence": 0.2, "reasons": ["dull"]},
    ),
    ('```\n{"label": "positive", "confidence": 1}\n```', {"label": "positive", "confidence": 1}),
    (
        '```python\nprint("x")\n```\n```json\n{"label": "positive", "confidence": 0}\n```',
        {"label": "positive", "confidence": 0},
    ),
    (
        'The answer is {"label": "positive", "confidence": 0.5} as requested.',
        {"label": "positive", "confidence": 0.5},
    ),
    (
        'Thinking [step 1] ... {"label": "negative", "confidence": 0.1}\nDone {not json}',
        {"label": "negative", "confidence": 0.1},
    ),
    ('  \n{"label": "positive",\n "confidence": 0.7}\n\n', {"label": "positive", "confidence": 0.7}),
]


@pytest.mark.parametrize(("reply", "expected"), GOOD_REPLIES)
def test_parse_output_extracts_and_validates(reply, expected):
    assert parse_output(T, reply) == expected


BAD_REPLIES = [
    ("", "the reply is empty", "reply"),
    ("I think it is positive.", "no JSON object or array found", "reply"),
    (
        '{"label": "positive", "confidence": 0.9,}',
        "invalid JSON: Expecting property name",
        "reply line 1, column 41 (char 40)",
    ),
    (
        'ok\n```json\n{"label": "positive"\n "confidence": 1}\n```',
        "invalid JSON in the fenced code block: Expecting ','",
        "reply line 4, column 2",
    ),
    (
        '{"label": "maybe", "confidence": 0.5}',
        "at $.label: 'maybe' is not one of ['positive', 'negative']",
        "reply",
    ),
    ('{"label": "positive"}', "at $: 'confidence' is a required property", "reply"),
    (
        '{"label": "positive", "confidence": 2}',
        "at $.confidence: 2 is greater than the maximum of 1",
        "reply",
    ),
    (
        '{"label": "positive", "confidence": 0.5, "reasons": ["a", 3]}',
        "at $.reasons[1]: 3 is not of type 'string'",
        "reply",
    ),
    (
        '{"label": "positive", "confidence": 0.5, "extra": 1}',
        "Additional properties are not allowed ('extra'",
        "reply",
    ),
    ("[1, 2]", "at $: [1, 2] is not of type 'object'", "reply"),
    # a broken object is reported as broken, not replaced by a valid object nested inside it
    (
        '{"label": "positive", "meta": {"a": 1}, "confidence": }',
        "invalid JSON: Expecting value",
        "reply line 1",
    ),
]


@pytest.mark.parametrize(("reply", "message", "where"), BAD_REPLIES)
def test_parse_output_says_precisely_what_is_wrong(reply, message, where):
    with pytest.raises(OutputParseError) as info:
        parse_output(T, reply)
    assert message in str(info.value)
    assert info.value.where.startswith(where)


def test_every_schema_violation_is_listed():
    with pytest.raises(OutputParseError) as info:
        parse_output(T, '{"label": "meh", "confidence": -1}')
    text = str(info.value)
    assert "at $.confidence: -1 is less than the minimum of 0" in text
    assert "at $.label: 'meh' is not one of" in text
    assert "2 problem(s)" in text


def test_the_schema_type_picks_between_candidates():
    reply = 'See [1] and [2] for details: {"label": "positive", "confidence": 0.4} [3]'
    assert parse_output(T, reply) == {"label": "positive", "confidence": 0.4}
    as_list = Template(kind="structured", sections={"task": "x"}, output_schema={"type": "array"})
    assert parse_output(as_list, 'Result {"note": 1} then ["a", "b"]') == ["a", "b"]


def test_without_a_schema_any_json_is_returned():
    assert parse_output(Template(kind="structured", sections={"task": "x"}), "result: [1, 2]") == [1, 2]
