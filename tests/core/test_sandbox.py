"""Known server-side template injection and sandbox-escape payloads: all refused, none with a side effect."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptyard.core.errors import RenderError, SandboxViolation
from promptyard.core.render import check_template, render
from promptyard.core.template import Part, Template

SV, RE = SandboxViolation, RenderError
TOUCH = "touch pwned"

# (payload, variables, expected error, text the message must contain)
PAYLOADS = [
    # dunder walks from a string, a list, a tuple, a number
    ("{{ x.__class__ }}", {"x": "a"}, SV, "'__class__'"),
    ("{{ x.__class__.__mro__[1].__subclasses__() }}", {"x": "a"}, SV, "'__class__'"),
    ("{{ ''.__class__.__mro__[2].__subclasses__() }}", {}, SV, "'__class__'"),
    ('{{ "".__class__.__base__.__subclasses__() }}', {}, SV, "'__class__'"),
    ("{{ [].__class__.__base__.__subclasses__()[40]('pwned', 'w').write('x') }}", {}, SV, "'__class__'"),
    ("{{ ().__class__.__bases__[0].__subclasses__() }}", {}, SV, "'__class__'"),
    ("{{ (1).__class__.__base__ }}", {}, SV, "'__class__'"),
    ("{{ x.__init__.__globals__ }}", {"x": "a"}, SV, "'__init__'"),
    ("{{ x.__reduce_ex__(2) }}", {"x": "a"}, SV, "'__reduce_ex__'"),
    ("{{ x.__doc__ }}", {"x": "a"}, SV, "'__doc__'"),
    ("{% set c = x.__class__ %}{{ c }}", {"x": "a"}, SV, "'__class__'"),
    # Jinja's own objects: self, cycler, joiner, namespace, lipsum, loop, range, dict
    ("{{ self.__init__.__globals__.__builtins__.open('pwned', 'w') }}", {}, SV, "'__init__'"),
    ("{{ self._TemplateReference__context }}", {}, SV, "'_TemplateReference__context'"),
    ("{{ cycler.__init__.__globals__.os.system('touch pwned') }}", {}, SV, "'__init__'"),
    ("{{ joiner.__init__.__globals__.os.popen('touch pwned').read() }}", {}, SV, "'__init__'"),
    ("{{ joiner().__call__.__globals__ }}", {}, SV, "'__call__'"),
    ("{{ namespace.__init__.__globals__.os.system('touch pwned') }}", {}, SV, "'__init__'"),
    ("{{ namespace(a=1).__class__ }}", {}, SV, "'__class__'"),
    ("{{ lipsum.__globals__['os'].popen('touch pwned').read() }}", {}, SV, "'__globals__'"),
    ("{{ lipsum.__globals__.__builtins__.__import__('os').system('touch pwned') }}", {}, SV, "'__globals__'"),
    ("{% for i in x %}{{ loop.__class__ }}{% endfor %}", {"x": [1]}, SV, "'__class__'"),
    ("{{ range.__self__ }}", {}, SV, "'__self__'"),
    ("{{ dict.__base__.__subclasses__() }}", {}, SV, "'__base__'"),
    # Flask-style globals do not exist here: they are unknown variables, not objects
    ("{{ config.__class__.__init__.__globals__['os'].popen('touch pwned').read() }}", {}, SV, "'__class__'"),
    ("{{ config.items() }}", {}, RE, "missing variable 'config'"),
    (
        "{{ request.application.__globals__.__builtins__.__import__('os').popen('touch pwned').read() }}",
        {},
        SV,
        "'__globals__'",
    ),
    ("{{ url_for.__globals__['current_app'].config }}", {}, SV, "'__globals__'"),
    ("{{ get_flashed_messages.__globals__ }}", {}, SV, "'__globals__'"),
    # builtins and imports
    ("{{ __import__('os').system('touch pwned') }}", {}, SV, "'__import__'"),
    ("{{ __builtins__.open('pwned', 'w') }}", {}, SV, "'__builtins__'"),
    ("{{ os.system('touch pwned') }}", {}, RE, "missing variable 'os'"),
    ("{{ x.os.system('touch pwned') }}", {"x": {"os": "no"}}, RE, "has no attribute 'system'"),
    ("{% include '/etc/passwd' %}", {}, SV, "'include' is not supported"),
    ("{% import 'os' as os %}{{ os.system('touch pwned') }}", {}, SV, "'import' is not supported"),
    ("{% from 'os' import system %}{{ system('touch pwned') }}", {}, SV, "is not supported"),
    ("{% extends '/etc/passwd' %}", {}, SV, "'extends' is not supported"),
    # |attr and friends, constant and computed names
    ("{{ x|attr('__class__') }}", {"x": "a"}, SV, "'__class__'"),
    ("{{ (x|attr('__class__')|attr('__mro__'))[1] }}", {"x": "a"}, SV, "'__class__'"),
    ("{{ x|attr('\\x5f\\x5fclass\\x5f\\x5f') }}", {"x": "a"}, SV, "'__class__'"),
    ("{{ x|attr(name) }}", {"x": "a", "name": "__class__"}, SV, "'__class__' of 'str' object is unsafe"),
    (
        "{{ x|attr(name)|attr(name2) }}",
        {"x": "a", "name": "__init__", "name2": "__globals__"},
        SV,
        "'__init__' of 'str' object is unsafe",
    ),
    ("{{ x['__class__'] }}", {"x": "a"}, SV, "'__class__'"),
    ("{{ x['__cla' ~ 'ss__'] }}", {"x": "a"}, SV, "unsafe"),
    ("{{ x[name] }}", {"x": "a", "name": "__class__"}, SV, "unsafe"),
    ("{{ x|map(attribute='__class__')|list }}", {"x": ["a"]}, SV, "'__class__'"),
    ("{{ x|map(attribute=name)|list }}", {"x": ["a"], "name": "__class__"}, SV, "unsafe"),
    ("{{ x|selectattr('__class__')|list }}", {"x": ["a"]}, SV, "'__class__'"),
    ("{{ x|sort(attribute='__class__.__name__') }}", {"x": ["a"]}, SV, "'__class__.__name__'"),
    # format-string tricks
    ('{{ "{0.__class__}".format(x) }}', {"x": "a"}, SV, "'__class__'"),
    ('{{ "{0.__class__.__mro__}".format(x) }}', {"x": "a"}, SV, "unsafe"),
    ('{{ "{x.__init__.__globals__}".format_map({"x": x}) }}', {"x": "a"}, SV, "unsafe"),
    ("{{ fmt.format(x) }}", {"fmt": "{0.__class__.__base__}", "x": "a"}, SV, "unsafe"),
    ('{{ "%s"|format(x.__class__) }}', {"x": "a"}, SV, "'__class__'"),
    ("{{ '%0999999999d'|format(1) }}", {}, SV, "max_repeat=100000 exceeded: %-format width"),
    ("{{ '%0999999999d' % 1 }}", {}, SV, "max_repeat=100000 exceeded: %-format width"),
    ('{{ "{:>999999999}".format(x) }}', {"x": 1}, SV, "format width"),
    # generator/function/frame attributes
    ("{{ x.mro() }}", {"x": "a"}, SV, "'mro'"),
    ("{{ f.func_globals }}", {"f": "a"}, SV, "'func_globals'"),
    ("{{ g.gi_frame.f_back.f_globals }}", {"g": "a"}, SV, "'gi_frame'"),
    ("{{ x.f_locals }}", {"x": "a"}, SV, "'f_locals'"),
    # mutating the caller's data
    ("{{ items.append(1) }}", {"items": [1]}, SV, "'append' of 'list' object is unsafe"),
    ("{{ d.update({'a': 1}) }}", {"d": {}}, SV, "'update' of 'dict' object is unsafe"),
    ("{{ d.clear() }}", {"d": {"k": 1}}, SV, "'clear' of 'dict' object is unsafe"),
    # resource exhaustion
    ("{{ range(10**10)|list }}", {}, SV, "max_range=10000 exceeded: range of 10000000000 items"),
    ("{{ range(100000000) }}", {}, SV, "larger than the limit"),
    (
        "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}",
        {},
        SV,
        "max_range_total=100000 exceeded: ranges in one render",
    ),
    ("{{ 'a' * 1000000000 }}", {}, SV, "'*' would build"),
    ("{{ x * 1000000000 }}", {"x": [1]}, SV, "'*' would build"),
    ("{{ 10 ** 100000 }}", {}, SV, "max_int_bits=4096"),
    ("{{ 99 ** 99 ** 99 }}", {}, SV, "max_int_bits=4096"),
    ("{{ x.ljust(1000000000) }}", {"x": "a"}, SV, "max_repeat=100000 exceeded: ljust() argument"),
    ("{{ x|center(1000000000) }}", {"x": "a"}, SV, "center() argument"),
    ("{{ x|indent(1000000000) }}", {"x": "a\nb"}, SV, "indent() argument"),
    ("{{ x|batch(1000000000, 'y')|list }}", {"x": [1]}, SV, "batch() argument"),
    ("{{ x.replace('', y) }}", {"x": "a" * 1000, "y": "b" * 100000}, SV, "str.replace() would build"),
    # widths that arrive through nested fields, separators and prefixes repeated per item, doubling in a loop
    ("{{ '{:{}}'.format(1, 999999999) }}", {}, SV, "max_repeat=100000 exceeded: format width would build 999999999"),
    ("{{ '{:{w}}'.format(1, w='999999999') }}", {}, SV, "max_repeat=100000 exceeded: format width"),
    ("{{ ('{:{}}'|safe).format(1, 999999999) }}", {}, SV, "format width"),
    ("{{ ('x' * 100000)|join('y' * 100000) }}", {}, SV, "max_text=10000000 exceeded: |join would build"),
    ("{{ range(10000)|map('string')|join('y' * 99999) }}", {}, SV, "join would build"),
    ("{{ ('y' * 100000).join('x' * 100000) }}", {}, SV, "max_text=10000000 exceeded: str.join() would build"),
    ("{{ ('x\n' * 50000)|indent(50000) }}", {}, SV, "|indent would build"),
    ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", {}, SV,
     "'~' would build"),
    ("{% set ns = namespace(s=[1]) %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", {}, SV,
     "'+' would build"),
    ("{% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s|length }}{% endmacro %}{{ d('x', 40) }}", {}, SV,
     "'~' would build"),
    ("{% set s = 'x' * 100000 %}{% for i in range(9999) %}{{ s }}{% endfor %}", {}, SV,
     "max_text=10000000 exceeded: the rendered text would be longer"),
    ("{{ lipsum(10**6)|length }}", {}, SV, "lipsum(1000000, min=20, max=100) could build"),
    ("{{ ('a ' * 50000)|wordwrap(1, wrapstring='y' * 99999) }}", {}, SV, "|wordwrap would build"),
    ("{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}", {}, SV,
     "max_loop_iterations=1000000 exceeded: too many loop iterations"),
    ("{% macro m(s) %}{% for c in s %}{% for d in s %}{% endfor %}{% endfor %}{% endmacro %}{{ m(x) }}",
     {"x": "y" * 2000}, SV, "max_loop_iterations=1000000"),
    ("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}", {}, SV,
     "max_calls=100000 exceeded"),
    ("{{ range(10000)|list|tojson(99999) }}", {}, SV, "max_indent=100 exceeded: tojson indent of 99999"),
    ("{{ range(10000)|list|tojson(indent='x' * 99999) }}", {}, SV, "tojson indent"),
    ("{{ lipsum(5, false, 10**7, 10**7) }}", {}, SV, "could build 50000000 words"),
]


def test_there_are_at_least_forty_payloads():
    assert len(PAYLOADS) >= 40
    assert len({p[0] for p in PAYLOADS}) == len(PAYLOADS)


@pytest.mark.parametrize(
    ("payload", "variables", "error", "message"), PAYLOADS, ids=[f"{i:02d}" for i in range(len(PAYLOADS))]
)
def test_payload_is_refused_without_side_effect(payload, variables, error, message, tmp_path):
    before = sorted(p.name for p in Path.cwd().iterdir())
    with pytest.raises(error) as info:
        check_template(Template(text=payload))
        render(Template(text=payload), variables)
    text = str(info.value)
    assert message in text
    if error is SV:
        assert "sandbox violation" in text or "sandbox limit" in text
    assert not (Path.cwd() / "pwned").exists()
    assert sorted(p.name for p in Path.cwd().iterdir()) == before
    assert variables == _fresh(payload)  # the caller's data is untouched


def _fresh(payload):
    return next(v for p, v, _, _ in PAYLOADS if p == payload)


def test_mutation_attempt_leaves_caller_data_unchanged():
    items, d = [1], {"k": 1}
    for text, variables in (("{{ items.append(2) }}", {"items": items}), ("{{ d.clear() }}", {"d": d})):
        with pytest.raises(SandboxViolation):
            render(Template(text=text), variables)
    assert items == [1] and d == {"k": 1}


@pytest.mark.parametrize("kind", ["multi", "structured", "dynamic"])
def test_every_kind_is_sandboxed(kind):
    payload = "{{ x.__class__.__mro__ }}"
    t = {
        "multi": Template(kind="multi", parts=[Part("user", "ok"), Part("user", payload)]),
        "structured": Template(kind="structured", sections={"task": "ok", "input": payload}),
        "dynamic": Template(kind="dynamic", text=payload),
    }[kind]
    with pytest.raises(SandboxViolation, match="'__class__'.*'__mro__'"):
        check_template(t)


def test_refused_at_check_time_when_the_name_is_constant():
    # commit-time refusal: the template never reaches the registry
    with pytest.raises(SandboxViolation) as info:
        check_template(Template(text="fine\n{{ cycler.__init__.__globals__ }}"))
    assert info.value.where == "text line 2"


def test_safe_templates_still_work_in_the_sandbox():
    text = (
        "{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}"
        "{{ ns.n }} {{ '{} {}'.format(a, b) }} {{ '%05.1f' % 3.14159 }} {{ x|center(7) }}| {{ 2 ** 10 }} "
        "{{ items|join(',') }} {{ d.k }} {{ 'ab' * 3 }} {{ x.upper() }} {{ items|map('string')|join }}"
    )
    out = render(Template(text=text), {"a": 1, "b": "two", "x": "hi", "items": [1, 2], "d": {"k": "v"}})
    assert out.text == "3 1 two 003.1    hi  | 1024 1,2 v ababab HI 12"


def test_bounded_operations_still_do_what_they_should():
    text = (
        "{{ '{:>{}}|{w:{f}}'.format('a', 3, w=7, f='03') }} {{ '{a}-{b}'.format_map(d) }} "
        "{{ users|join(', ', attribute='n') }} {{ '-'.join(items|map('string')) }} "
        "{{ 'a\\nb'|indent(2, true) }} {{ 'x' ~ 1 ~ 'y' }} {{ items + [3] }} {{ ('{}'|safe).format('<b>') }}"
        "{{ lipsum(2, false, 3, 4)|wordcount > 5 }} {{ 'a b c'|wordwrap(3, wrapstring='|') }} {{ [1]|tojson(1) }}"
    )
    variables = {"d": {"a": 1, "b": 2}, "users": [{"n": "ann"}, {"n": "bo"}], "items": [1, 2]}
    # Markup.format escapes its arguments, as in stock Jinja2
    expected = "  a|007 1-2 ann, bo 1-2   a\n  b x1y [1, 2, 3] &lt;b&gt;True a b|c [\n 1\n]"
    assert render(Template(text=text), variables).text == expected


def test_loops_keep_their_loop_variable_and_filters():
    text = ("{% for a in items if a > 1 %}{{ loop.index }}/{{ loop.length }}:{{ a }}{{ loop.cycle(',', ';') }}"
            "{% else %}none{% endfor %}|{% for k, v in d|dictsort %}{{ k }}={{ v }}{% endfor %}|"
            "{% for t in tree recursive %}{{ t.n }}{{ loop(t.c) if t.c }}{% endfor %}")
    variables = {"items": [1, 2, 3], "d": {"b": 2, "a": 1}, "tree": [{"n": 1, "c": [{"n": 2, "c": []}]}]}
    assert render(Template(text=text), variables).text == "1/2:2,2/2:3;|a=1b=2|12"
    assert [v.type for v in check_template(Template(text=text))] == ["list", "str", "list"]  # inference unchanged


def test_a_large_document_from_the_caller_is_not_a_violation():
    doc = "word " * 400_000  # 2,000,000 characters: a long context, not an attack
    out = render(Template(text="{{ 'Context: ' ~ doc|replace('word', 'w') }}{{ doc|length }}"), {"doc": doc})
    assert out.text.startswith("Context: w w ") and out.text.endswith("2000000")
