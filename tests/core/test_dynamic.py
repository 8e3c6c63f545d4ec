"""*dynamic* templates: selectors, value providers, conditionals, plugin filters and reproducible records."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from promptyard import hookimpl
from promptyard.core.errors import RenderError, UnknownNameError
from promptyard.core.render import check_template, render
from promptyard.core.template import Template, Variable
from promptyard.plugins.selectors import balanced_selector, random_selector, similar_selector
from promptyard.testing import plugin_registered

POOL = [
    {"text": "the film was wonderful and moving", "label": "pos"},
    {"text": "a dull and tedious film", "label": "neg"},
    {"text": "wonderful acting, wonderful score", "label": "pos"},
    {"text": "the plot made no sense", "label": "neg"},
    {"text": "it was fine", "label": "neu"},
    {"text": "great fun for the family", "label": "pos"},
    {"text": "boring, I left early", "label": "neg"},
    {"text": "average in every way", "label": "neu"},
]
SHOTS = "{% for ex in examples %}{{ ex.text }} => {{ ex.label }}\n{% endfor %}{{ text }} =>"


def dyn(selector, k=3, seed=0, text=SHOTS):
    return Template(kind="dynamic", text=text, examples=POOL, selector=selector, k=k, seed=seed)


@pytest.mark.parametrize("selector", [None, "random", "balanced", "similar"])
def test_record_reproduces_the_render(selector):
    t = dyn(selector)
    first = render(t, {"text": "wonderful film"}, seed=11)
    assert first.record["selector"] == selector
    assert first.record["seed"] == 11
    assert len(first.record["indices"]) == 3
    json.dumps(first.record)  # a record is plain JSON
    again = render(t, {"text": "wonderful film"}, record=first.record)
    assert again.text == first.text and again.record == first.record


@pytest.mark.parametrize("selector", ["random", "balanced", "similar"])
def test_same_seed_same_choice(selector):
    t = dyn(selector)
    assert render(t, {"text": "x"}).record["indices"] == render(t, {"text": "x"}).record["indices"]


def test_render_seed_overrides_template_seed():
    t = dyn("random", k=4, seed=1)
    by_seed = {s: tuple(render(t, {"text": "x"}, seed=s).record["indices"]) for s in range(10)}
    assert len(set(by_seed.values())) > 1
    assert render(t, {"text": "x"}).record["indices"] == list(by_seed[1])


def test_no_selector_takes_the_first_k_or_all():
    assert render(dyn(None, k=2), {"text": "x"}).record["indices"] == [0, 1]
    assert render(dyn(None, k=0), {"text": "x"}).record["indices"] == list(range(len(POOL)))


def test_random_selector_draws_distinct_indices():
    for seed in range(20):
        chosen = random_selector(POOL, {}, 5, seed)
        assert len(set(chosen)) == 5 and all(0 <= i < len(POOL) for i in chosen)
    assert random_selector(POOL, {}, 100, 0) != list(range(len(POOL)))  # shuffled, capped at the pool
    assert sorted(random_selector(POOL, {}, 100, 0)) == list(range(len(POOL)))


@pytest.mark.parametrize(
    ("k", "counts"),
    [
        (3, {"pos": 1, "neg": 1, "neu": 1}),
        (6, {"pos": 2, "neg": 2, "neu": 2}),
        (7, None),
        (8, {"pos": 3, "neg": 3, "neu": 2}),
    ],
)
def test_balanced_selector_round_robins_across_labels(k, counts):
    for seed in range(5):
        chosen = balanced_selector(POOL, {}, k, seed)
        labels = Counter(POOL[i]["label"] for i in chosen)
        assert len(chosen) == len(set(chosen)) == k
        if counts is not None:
            assert labels == counts
        assert max(labels.values()) - min(labels.values()) <= 1
        # round-robin order: the first three are three different labels
        assert len({POOL[i]["label"] for i in chosen[:3]}) == 3


def test_similar_selector_orders_by_lexical_similarity_with_stable_ties():
    assert similar_selector(POOL, {"text": "wonderful wonderful score"}, 2, 0) == [2, 0]
    assert similar_selector(POOL, {"input": "boring plot"}, 2, 0) == [6, 3]
    # nothing in common: all scores tie, lower index first
    assert similar_selector(POOL, {"text": "zzz"}, 3, 0) == [0, 1, 2]
    # the seed does not matter for a deterministic selector
    assert similar_selector(POOL, {"text": "dull film"}, 3, 1) == similar_selector(POOL, {"text": "dull film"}, 3, 9)


def test_similar_is_used_per_input():
    t = dyn("similar", k=1)
    assert render(t, {"text": "so boring"}).text.startswith("boring, I left early => neg")
    assert render(t, {"text": "family fun"}).text.startswith("great fun for the family => pos")


def test_value_providers_and_conditionals():
    # block tags on their own lines vanish with their newline (trim_blocks + lstrip_blocks)
    text = (
        "{% if word_count > 3 %}\nLong input ({{ word_count }} words).\n"
        "{% else %}\nShort input.\n{% endif %}\n"
        "  {% if examples %}\nExamples: {{ examples|length }}\n  {% endif %}\n{{ text }}"
    )
    t = Template(kind="dynamic", text=text, examples=POOL[:2], k=0)
    assert check_template(t) == [Variable("text", description="inferred")]
    long = render(t, {"text": "one two three four five"})
    assert long.text == "Long input (5 words).\nExamples: 2\none two three four five"
    assert long.record["values"] == {"word_count": 5}
    assert render(t, {"text": "hi"}).text.startswith("Short input.")


def test_recorded_provider_values_are_replayed():
    t = Template(kind="dynamic", text="Today is {{ today }}. {{ text }}")
    out = render(t, {"text": "x"})
    assert out.record["values"]["today"] in out.text
    replay = render(t, {"text": "x"}, record={**out.record, "values": {"today": "1999-12-31"}})
    assert replay.text == "Today is 1999-12-31. x"


def test_builtin_filters_and_globals():
    t = Template(
        kind="dynamic",
        examples=POOL,
        k=4,
        selector="balanced",
        text="Labels:\n{{ labels_of(examples)|bullets }}\n{{ text|truncate_words(3) }}\n"
        "{{ examples|map(attribute='label')|list|json }}\n{{ ['a', 'b']|numbered }}",
    )
    out = render(t, {"text": "one two three four"})
    lines = out.text.split("\n")
    assert lines[:4] == ["Labels:", "- neg", "- neu", "- pos"]
    assert lines[4] == "one two three…"
    assert json.loads(lines[5]) == [POOL[i]["label"] for i in out.record["indices"]]
    assert lines[6:] == ["1. a", "2. b"]


def test_bad_record_is_refused():
    t = dyn("random")
    with pytest.raises(RenderError, match="do not fit this template's pool"):
        render(t, {"text": "x"}, record={"indices": [99]})


def test_unknown_selector_names_the_known_ones():
    with pytest.raises(UnknownNameError, match="balanced, random, similar"):
        check_template(dyn("nearest"))


def test_provider_names_cannot_be_declared():
    t = Template(
        kind="dynamic", text="{{ word_count }} {{ text }}", variables=[Variable("word_count", "int"), Variable("text")]
    )
    with pytest.raises(Exception, match="'word_count' provided by promptyard"):
        check_template(t)


def test_examples_is_reserved():
    t = Template(kind="dynamic", text="{{ examples|length }}", variables=[Variable("examples", "list")])
    with pytest.raises(Exception, match="'examples' provided by promptyard"):
        check_template(t)
    with pytest.raises(RenderError, match="unexpected variable 'examples'"):
        render(Template(kind="dynamic", text="{{ text }}"), {"text": "x", "examples": []})


class ShoutPlugin:
    """A third-party-style plugin: a filter, a global, a selector returning dicts, a provider."""

    @hookimpl
    def register_template_filters(self, register):
        register("shout", lambda s: str(s).upper() + "!")
        register("greeting", "hello", kind="global")

    @hookimpl
    def register_example_selectors(self, register):
        register("last_two", lambda pool, variables, k, seed: list(pool)[-2:])

    @hookimpl
    def register_value_providers(self, register):
        register("text_length", lambda variables: len(variables["text"]))


def test_plugin_filters_selectors_and_providers_reach_the_sandbox():
    t = Template(
        kind="dynamic",
        examples=POOL,
        selector="last_two",
        text="{{ greeting|shout }} {{ text_length }} {% for ex in examples %}{{ ex.label }} {% endfor %}{{ text }}",
    )
    with plugin_registered(ShoutPlugin(), name="shout-plugin"):
        out = render(t, {"text": "abc"})
        assert out.text == "HELLO! 3 neg neu abc"
        assert out.record["indices"] == [6, 7]  # dicts returned by the selector are recorded as indices
        with pytest.raises(Exception, match="'__class__'"):
            render(Template(text="{{ greeting.__class__ }}"), {})
    # unregistered: the filter is gone again
    with pytest.raises(Exception, match="No filter named 'shout'"):
        check_template(Template(text="{{ x|shout }}"))


class BrokenSelectorPlugin:
    @hookimpl
    def register_example_selectors(self, register):
        register("broken", lambda pool, variables, k, seed: 1 / 0)
        register("outside", lambda pool, variables, k, seed: [len(pool)])


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("broken", "selector 'broken' failed: ZeroDivisionError"),
        ("outside", "returned index 8, outside the pool of 8"),
    ],
)
def test_a_broken_selector_is_a_render_error(selector, message):
    with plugin_registered(BrokenSelectorPlugin(), name="broken-plugin"):
        with pytest.raises(RenderError, match=message):
            render(dyn(selector), {"text": "x"})
