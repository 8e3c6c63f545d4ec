"""render() and check_template() over the four kinds, the variable contract and bad inputs."""

from __future__ import annotations

import pytest

from promptyard.core.errors import RenderError, TemplateSyntaxError, ValidationError
from promptyard.core.render import Rendered, check_template, render
from promptyard.core.template import Part, Template, Variable

POOL = [
    {"text": "great film", "label": "pos"},
    {"text": "awful film", "label": "neg"},
    {"text": "loved it", "label": "pos"},
]

KIND_CASES = [
    pytest.param(
        Template(text="Review: {{ text }}\nSentiment:"),
        {"text": "nice"},
        "Review: nice\nSentiment:",
        None,
        id="single",
    ),
    pytest.param(
        Template(kind="multi", parts=[Part("system", "You label {{ task }}."), Part("user", "{{ text }}")]),
        {"task": "sentiment", "text": "nice"},
        "You label sentiment.\nnice",
        [{"role": "system", "content": "You label sentiment."}, {"role": "user", "content": "nice"}],
        id="multi",
    ),
    pytest.param(
        Template(
            kind="structured",
            sections={"task": "Classify {{ text }}.", "input": "{{ text }}", "output_format": "One word."},
        ),
        {"text": "nice"},
        "## Task\nClassify nice.\n\n## Input\nnice\n\n## Output format\nOne word.",
        None,
        id="structured",
    ),
    pytest.param(
        Template(
            kind="dynamic",
            examples=POOL,
            k=2,
            text="{% for ex in examples %}{{ ex.text }} -> {{ ex.label }}\n{% endfor %}{{ text }} ->",
        ),
        {"text": "nice"},
        "great film -> pos\nawful film -> neg\nnice ->",
        None,
        id="dynamic",
    ),
]


@pytest.mark.parametrize(("template", "variables", "text", "messages"), KIND_CASES)
def test_each_kind_renders_text_and_messages(template, variables, text, messages):
    out = render(template, variables)
    assert isinstance(out, Rendered)
    assert out.kind == template.kind
    assert out.text == text
    assert out.messages == messages
    assert out.to_json() == {"kind": template.kind, "text": text, "messages": messages, "record": out.record}


@pytest.mark.parametrize(("template", "variables", "text", "messages"), KIND_CASES)
def test_each_kind_reports_every_bad_variable_at_once(template, variables, text, messages):
    bad = {
        name: 3 for name in list(variables)[1:]
    }  # first variable missing, others wrong type... if declared
    bad["unexpected"] = "x"
    with pytest.raises(RenderError) as info:
        render(template, bad)
    problems = info.value.problems
    assert f"missing variable {list(variables)[0]!r} (str)" in problems
    assert "unexpected variable 'unexpected'" in problems


BAD_VARIABLES = [
    ({"a": "x"}, ["missing variable 'b' (int)", "missing variable 'c' (bool)"]),
    ({"a": 1, "b": 2, "c": True}, ["variable 'a' must be str, got int (1)"]),
    (
        {"a": "x", "b": True, "c": 1},
        ["variable 'b' must be int, got bool (True)", "variable 'c' must be bool, got int (1)"],
    ),
    ({"a": "x", "b": 1.5, "c": False}, ["variable 'b' must be int, got float (1.5)"]),
    ({"a": "x", "b": 1, "c": True, "f": "1.5"}, ["variable 'f' must be float, got str ('1.5')"]),
    ({"a": "x", "b": 1, "c": True, "l": "abc"}, ["variable 'l' must be list, got str ('abc')"]),
    ({"a": "x", "b": 1, "c": True, "d": [1]}, ["variable 'd' must be dict, got list ([1])"]),
    (
        {"b": "1", "c": "yes", "zzz": 1, "yyy": 2},
        [
            "missing variable 'a' (str)",
            "variable 'b' must be int, got str ('1')",
            "variable 'c' must be bool, got str ('yes')",
            "unexpected variable 'zzz'",
            "unexpected variable 'yyy'",
        ],
    ),
]
DECLARED = Template(
    text="{{ a }} {{ b }} {{ c }} {{ f }} {{ l|length }} {{ d|length }}",
    variables=[
        Variable("a"),
        Variable("b", "int"),
        Variable("c", "bool"),
        Variable("f", "float", required=False, default=0.5),
        Variable("l", "list", required=False, default=[]),
        Variable("d", "dict", required=False, default={}),
    ],
)


@pytest.mark.parametrize(("variables", "problems"), BAD_VARIABLES)
def test_declared_contract_lists_every_problem(variables, problems):
    with pytest.raises(RenderError) as info:
        render(DECLARED, variables)
    assert info.value.problems == problems
    for problem in problems:
        assert problem in str(info.value)


def test_declared_contract_applies_defaults_and_accepts_int_for_float():
    assert render(DECLARED, {"a": "x", "b": 1, "c": False}).text == "x 1 False 0.5 0 0"
    assert (
        render(DECLARED, {"a": "x", "b": 1, "c": True, "f": 2, "l": [1, 2], "d": {"k": 1}}).text
        == "x 1 True 2 2 1"
    )


def test_inferred_contract_accepts_plain_values_but_not_objects():
    t = Template(text="{{ n }}")
    assert render(t, {"n": 5}).text == "5"
    assert render(t, {"n": [1, {"k": (None, True, 0.5)}]}).text == "[1, {'k': (None, True, 0.5)}]"
    with pytest.raises(RenderError, match="must be plain data"):
        render(t, {"n": object()})


@pytest.mark.parametrize(("value", "got"), [
    ([print], "builtin_function_or_method inside list"),
    ({"k": [1, {"f": open}]}, "builtin_function_or_method inside dict"),
    ((1, object()), "object inside tuple"),
    ({object(): 1}, "object inside dict"),
])
def test_objects_nested_in_plain_data_are_refused_too(value, got):
    # a callable inside a list is as reachable from a template ({{ n[0]('...') }}) as one at the top
    with pytest.raises(RenderError, match=f"variable 'n' must be plain data .*got {got}"):
        render(Template(text="{{ n }}"), {"n": value})


INFERENCE = [
    ("{{ name }}", [("name", "str", True)]),
    ("{% for x in items %}{{ x }}{% endfor %}", [("items", "list", True)]),
    ("{{ user.name }} {{ user['age'] }}", [("user", "dict", True)]),
    ("{{ rows[0] }}", [("rows", "list", True)]),
    ("{% for k, v in d.items() %}{{ k }}{% endfor %}", [("d", "dict", True)]),
    (
        "{{ tone|default('neutral') }} {% if extra is defined %}{{ extra }}{% endif %}",
        [("tone", "str", False), ("extra", "str", False)],
    ),
    ("{% set greeting = 'hi' %}{{ greeting }} {{ who }}", [("who", "str", True)]),
    ("{{ range(3)|list|length }} {{ 'x'|upper }}", []),
    ("{{ b }}\n{{ a }}", [("b", "str", True), ("a", "str", True)]),
]


@pytest.mark.parametrize(("text", "expected"), INFERENCE)
def test_contract_is_inferred_when_not_declared(text, expected):
    contract = check_template(Template(text=text))
    assert [(v.name, v.type, v.required) for v in contract] == expected


def test_declared_contract_is_returned_as_declared():
    assert check_template(DECLARED) == DECLARED.variables


def test_using_an_undeclared_variable_is_an_error_at_check_time():
    t = Template(text="{{ a }}\n{{ b }} {{ c }}", variables=[Variable("a")])
    with pytest.raises(
        ValidationError, match=r"undeclared variable\(s\) 'b' \(text line 2\), 'c' \(text line 2\)"
    ):
        check_template(t)


SYNTAX_ERRORS = [
    ("hello {{ name + }}", "text", 1, 17),
    ("line one\n{% for x in items %}\n{{ x }", "text", 3, 6),
    ("{{ name | nosuchfilter }}", "text", 1, 11),
    ("ok\n\n{% frobnicate %}", "text", 3, 4),
    ("a\n  {{ 'unclosed }}", "text", 2, 6),
    ("{% if x %}open", "text", 1, 15),
    ("{{ x y }}", "text", 1, 6),
    ("{{ $ }}", "text", 1, 4),
]


@pytest.mark.parametrize(("text", "location", "line", "column"), SYNTAX_ERRORS)
def test_syntax_errors_have_line_and_column(text, location, line, column):
    with pytest.raises(TemplateSyntaxError) as info:
        check_template(Template(text=text))
    assert info.value.where == f"{location} line {line}, column {column}"


@pytest.mark.parametrize(
    ("template", "where"),
    [
        (
            Template(kind="multi", parts=[Part("system", "ok"), Part("user", "{{ broken")]),
            "parts[1] (user) line 1",
        ),
        (Template(kind="structured", sections={"task": "ok", "input": "{% if %}"}), "sections.input line 1"),
        (Template(kind="dynamic", text="fine\n{{ }}"), "text line 2"),
    ],
)
def test_syntax_errors_name_the_source_in_every_kind(template, where):
    with pytest.raises(TemplateSyntaxError, match=r"line \d+, column \d+") as info:
        check_template(template)
    assert info.value.where.startswith(where)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (Template(kind="multi"), "at least one part"),
        (Template(kind="structured", sections={"summary": "x"}), "unknown section"),
        (
            Template(kind="structured", sections={"task": "x"}, output_schema={"type": "nonsense"}),
            "not a valid JSON Schema",
        ),
        (Template(kind="dynamic", text="x", selector="no-such-selector"), "unknown example selector"),
        (Template(kind="dynamic", text="x", k=-1), "k must be 0"),
        (Template(kind="dynamic", text="x", raw=True), "raw mode is not available"),
        (Template(text="{{ x }}", variables=[Variable("_x")]), "not an identifier"),
        (Template(text="{{ x }}", variables=[Variable("x"), Variable("x", "int")]), "'x' is declared twice"),
        (Template(text="{{ x }}", variables=[Variable("x", "int", default="3")]), "default '3' of variable 'x'"),
    ],
)
def test_bad_structure_is_refused_at_check_time(template, message):
    with pytest.raises(Exception, match=message):
        check_template(template)


def test_runtime_errors_are_render_errors_with_the_line():
    t = Template(text="ok\n{{ d.missing }}")
    with pytest.raises(RenderError, match="has no attribute 'missing'") as info:
        render(t, {"d": {"k": 1}})
    assert info.value.where == "text line 2"
    with pytest.raises(RenderError, match="ZeroDivisionError"):
        render(Template(text="{{ 1 / n }}"), {"n": 0})


# --------------------------------------------------------------------------------------------------
# raw mode
# --------------------------------------------------------------------------------------------------

RAW_CASES = [
    # literal JSON and Jinja-looking text stay as they are; only {{ name }} placeholders are filled
    (
        'Answer as {"label": "{{ label }}"} e.g. {{ "label": "pos" }} {% raw %} {# x #}',
        [],
        {"label": "neg"},
        'Answer as {"label": "neg"} e.g. {{ "label": "pos" }} {% raw %} {# x #}',
    ),
    # with a declared contract, only declared names are placeholders
    ("{{ a }} and {{ other }}", [Variable("a")], {"a": "A"}, "A and {{ other }}"),
    # non-string values are written as JSON
    (
        "{{ n }} {{ flag }} {{ items }}",
        [Variable("n", "int"), Variable("flag", "bool"), Variable("items", "list")],
        {"n": 3, "flag": True, "items": ["x", 1]},
        '3 true ["x", 1]',
    ),
    ("no placeholders {{}} {{ 1 }}", [], {}, "no placeholders {{}} {{ 1 }}"),
]


@pytest.mark.parametrize(("text", "declared", "variables", "expected"), RAW_CASES)
def test_raw_mode_keeps_literal_braces(text, declared, variables, expected):
    t = Template(text=text, raw=True, variables=declared)
    assert render(t, variables).text == expected


def test_raw_mode_infers_placeholders_and_checks_variables():
    t = Template(text='{"q": "{{ question }}", "ctx": {{ context }}}', raw=True)
    assert [v.name for v in check_template(t)] == ["question", "context"]
    with pytest.raises(RenderError, match="missing variable 'context'"):
        render(t, {"question": "why"})


def test_the_same_text_without_raw_is_a_syntax_error_with_a_hint():
    with pytest.raises(TemplateSyntaxError, match="raw: true"):
        check_template(Template(text='Example: {{ "label": "pos" }}'))


def test_raw_multi_and_structured():
    multi = Template(
        kind="multi", raw=True, parts=[Part("system", 'Reply {"a": 1}'), Part("user", "{{ q }}")]
    )
    assert render(multi, {"q": "hi"}).messages == [
        {"role": "system", "content": 'Reply {"a": 1}'},
        {"role": "user", "content": "hi"},
    ]
    structured = Template(
        kind="structured", raw=True, sections={"task": "{{ t }}", "output_format": '{"x": {{}}}'}
    )
    assert render(structured, {"t": "T"}).text == '## Task\nT\n\n## Output format\n{"x": {{}}}'


# --------------------------------------------------------------------------------------------------
# content hash and caching
# --------------------------------------------------------------------------------------------------


def _variants():
    base = dict(
        kind="dynamic",
        text="{{ x }}",
        examples=[{"text": "a", "label": "b"}],
        selector="random",
        k=1,
        seed=0,
        variables=[Variable("x")],
    )
    changes = [
        ("text", "{{ x }} "),
        ("examples", [{"text": "a", "label": "c"}]),
        ("selector", "similar"),
        ("k", 2),
        ("seed", 1),
        ("variables", [Variable("x", "int")]),
        ("variables", [Variable("x", description="d")]),
        ("variables", [Variable("x", required=False)]),
        ("kind", "single"),
    ]
    return base, changes


def test_content_hash_is_stable_for_equal_content():
    base, _ = _variants()
    a, b = Template(**base), Template(**{**base, "examples": [{"label": "b", "text": "a"}]})
    assert a.content_hash() == b.content_hash() == Template.from_dict(a.to_dict()).content_hash()
    assert len(a.content_hash()) == 64


@pytest.mark.parametrize("change", range(len(_variants()[1])))
def test_content_hash_changes_with_any_change(change):
    base, changes = _variants()
    field, value = changes[change]
    assert Template(**base).content_hash() != Template(**{**base, field: value}).content_hash()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            Template(kind="multi", parts=[Part("user", "x")]),
            Template(kind="multi", parts=[Part("system", "x")]),
        ),
        (
            Template(kind="structured", sections={"task": "x"}),
            Template(kind="structured", sections={"task": "x"}, output_schema={"type": "object"}),
        ),
        (Template(text="x"), Template(text="x", raw=True)),
    ],
)
def test_content_hash_covers_kind_specific_fields(a, b):
    assert a.content_hash() != b.content_hash()


def test_cache_does_not_leak_between_templates_with_equal_text():
    a = Template(text="{{ x }}", variables=[Variable("x", "int")])
    b = Template(text="{{ x }}")
    assert render(a, {"x": 1}).text == "1"
    assert render(b, {"x": "s"}).text == "s"
    with pytest.raises(RenderError):
        render(a, {"x": "s"})


def test_concurrent_renders_share_the_cache_safely():
    from concurrent.futures import ThreadPoolExecutor

    templates = [Template(text=f"{i}: {{{{ x }}}}") for i in range(50)]

    def work(i: int) -> str:
        return render(templates[i % 50], {"x": i}).text

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(2000)))
    assert results == [f"{i % 50}: {i}" for i in range(2000)]


def test_random_templates_only_ever_raise_promptyard_errors():
    """Fuzz: any text either checks and renders, or fails with a PromptyardError that says where."""
    import random
    import re

    from promptyard.core.errors import PromptyardError

    pieces = ["{{", "}}", "{%", "%}", "{#", "#}", " ", "\n", "x", "y", "if", "endif", "for", "in", "endfor", "'",
              '"', "(", ")", "[", "]", "|", "upper", ".", "__class__", "1", "+", ":", ",", "set", "=", "raw",
              "endraw", "-", "~", "$", "é"]
    rng = random.Random(0)
    syntax_errors = 0
    for _ in range(800):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        try:
            contract = check_template(Template(text=text))
        except TemplateSyntaxError as exc:
            syntax_errors += 1
            match = re.fullmatch(r"text line (\d+), column (\d+)", exc.where)
            assert match, exc.where
            line, column = int(match.group(1)), int(match.group(2))
            lines = text.split("\n")
            assert 1 <= line <= len(lines) and 1 <= column <= len(lines[line - 1]) + 1, (text, exc.where)
            continue
        except PromptyardError as exc:
            assert exc.where
            continue
        values = {v.name: [1] if v.type == "list" else {"a": 1} if v.type == "dict" else "s" for v in contract}
        try:
            render(Template(text=text), values)
        except PromptyardError:
            pass
    assert syntax_errors > 50
