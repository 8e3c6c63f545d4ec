"""The built-in filters: what they print, and that a marker or indent repeated per line is bounded."""

from __future__ import annotations

import pytest

from promptyard.core.errors import SandboxViolation
from promptyard.core.render import render
from promptyard.core.template import Template

CASES = [
    ("{{ items|bullets }}", "- a\n- b"),
    ("{{ items|bullets('*') }}", "* a\n* b"),
    ("{{ items|numbered(0) }}", "0. a\n1. b"),
    ("{{ items|json }}", '["a", "b"]'),
    ("{{ {'k': items}|json(2) }}", '{\n  "k": [\n    "a",\n    "b"\n  ]\n}'),
    ("{{ 'one two three'|truncate_words(2) }}", "one two…"),
    ("{{ labels_of([{'label': 'y'}, {'label': 'x'}, {'label': 'y'}]) }}", "['x', 'y']"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_filter_output(text, expected):
    variables = {"items": ["a", "b"]} if "items" in text else {}
    assert render(Template(text=text), variables).text == expected


@pytest.mark.parametrize("text", ["{{ range(10000)|bullets('x' * 99999) }}",
                                  "{{ range(10000)|list|json(99999) }}",
                                  "{{ range(10000)|list|json(' ' * 99999) }}"])
def test_a_huge_repeated_marker_or_indent_is_refused(text):
    with pytest.raises(SandboxViolation, match="larger than the limit of 100") as info:
        render(Template(text=text), {})
    assert info.value.where == "text line 1"


def test_a_plugin_filter_that_raises_is_a_render_error_with_the_place():
    from promptyard import hookimpl
    from promptyard.core.errors import RenderError
    from promptyard.testing import plugin_registered

    class Buggy:
        @hookimpl
        def register_template_filters(self, register):
            register("test_buggy", lambda value: value.no_such_attribute)

    with plugin_registered(Buggy()):
        with pytest.raises(RenderError) as info:
            render(Template(text="ok\n{{ x|test_buggy }}"), {"x": "a"})
    assert str(info.value).startswith("text line 2: rendering failed in a filter or global: AttributeError: ")
    assert isinstance(info.value.__cause__, AttributeError)  # what --debug shows
