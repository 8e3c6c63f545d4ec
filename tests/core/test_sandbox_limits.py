"""Issue 17, the template side: one row per defect, first as it behaved, then refused naming the limit.

Each payload runs in a subprocess under a 1 GB address-space limit (``payload_runner.py``). *Before*: the same
text in Jinja2's own ``ImmutableSandboxedEnvironment``, which checks sizes after building (or never) — it runs out
of the 1 GB, is still running when the subprocess is stopped, or prints a heap address. *After*: promptyard
refuses it with one line naming the limit, within the render deadline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from promptyard.core.errors import LimitExceeded, TemplateSyntaxError, ValidationError
from promptyard.core.render import check_template, render
from promptyard.core.sandbox_limits import LIMITS_ENV, SandboxLimits, configure, current_limits
from promptyard.core.template import Template

RUNNER = Path(__file__).parent / "payload_runner.py"
#: a 6.4M-character string, built by '~' as in the issue
S = "{% set ns = namespace(s='x' * 100000) %}{% for i in range(6) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"

# (defect, payload, the limit(s) that refuse it now: where a CPU-bound row stops first depends on the machine's
# speed, either limit is right). Before, each one ran out of the 1 GB or was still running when stopped.
DEFECTS = [
    ("2 join of an aliased list", S + "{{ ([ns.s] * 250)|join|length }}", ("max_text",)),
    ("2 tojson", S + "{{ ([ns.s] * 250)|tojson|length }}", ("max_text",)),
    ("2 string", S + "{{ ([ns.s] * 250)|string|length }}", ("max_text",)),
    ("2 str.format('{}' * n)", S + "{{ ('{}' * 250).format(*([ns.s] * 250))|length }}", ("max_built",)),
    ("2 % format", S + "{{ ('%s' * 250) % ((ns.s,) * 250) }}", ("max_text",)),
    ("2 printing a list", S + "{{ [ns.s] * 250 }}", ("max_text",)),
    ("2 growing namespace list", S + "{% set l = namespace(v=[]) %}{% for i in range(1000) %}"
                                     "{% set l.v = l.v + [ns.s ~ i] %}{% endfor %}{{ l.v|length }}", ("max_built",)),
    ("2 rendered text as it streams", S + "{% for i in range(1000) %}{{ ns.s }}{% endfor %}", ("max_text",)),
    ("2 aliased tree printed", "{% set ns = namespace(t=[1]) %}{% for i in range(60) %}{% set ns.t = [ns.t, ns.t] %}"
                               "{% endfor %}{{ ns.t }}", ("max_text",)),
    ("3 filter calls in a loop", S + "{% for i in range(10000) %}{{ (ns.s|upper)|length }}{% endfor %}",
     ("max_built",)),
    ("3 recursive loop over a long string", "{% set s = 'ab' * 50000 %}{% for c in s recursive %}"
                                            "{% if loop.depth < 50 %}{{ loop(s) }}{% endif %}{% endfor %}",
     ("deadline_s", "max_loop_iterations")),
    ("3 lipsum in a loop", "{% for i in range(10000) %}{% for j in range(10) %}{{ lipsum(5)|length }}{% endfor %}"
                           "{% endfor %}", ("deadline_s", "max_built", "max_calls")),
    ("3 sum(start=[])", "{{ ([[1] * 10000] * 10000)|sum(start=[])|length }}", ("max_text",)),
]


def _run(rows: list[str], tmp_path: Path, *extra: str, timeout: float, limits: str = "deadline_s=2") -> list[dict]:
    data = tmp_path / f"rows{len(list(tmp_path.iterdir()))}.jsonl"
    data.write_text("".join(json.dumps(["defect", text]) + "\n" for text in rows))
    env = {**os.environ, LIMITS_ENV: limits}
    try:
        proc = subprocess.run([sys.executable, str(RUNNER), str(data), "0", str(len(rows)), *extra], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [{"outcome": "hang"}]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_stock_sandbox_shows_every_defect(tmp_path):
    # one payload per process (a C-level loop such as sum's holds the GIL: only the parent's timeout stops it),
    # three at a time: each may take its 1 GB
    folders = [tmp_path / str(i) for i in range(len(DEFECTS))]
    for folder in folders:
        folder.mkdir()
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda row, folder: _run([row[1]], folder, "--stock", timeout=4), DEFECTS, folders))
    for (defect, _, _), (result,) in zip(DEFECTS, results, strict=True):
        assert result["outcome"] in ("memory", "hang"), (defect, result)  # out of the 1 GB, or still running


def test_all_defects_are_refused_naming_the_limit(tmp_path):
    results = _run([p for _, p, _ in DEFECTS], tmp_path, timeout=300)
    assert len(results) == len(DEFECTS), results[-1:]  # no row hung the runner
    for (defect, _, limits), result in zip(DEFECTS, results, strict=True):
        assert result["outcome"] == "refused" and result["error"] == "LimitExceeded", (defect, result)
        message = result["message"]
        assert any(f"sandbox limit {limit}=" in message for limit in limits), (defect, message)
        assert "\n" not in message and "Traceback" not in message, defect


def test_range_prints_as_an_error_not_a_heap_address(tmp_path):
    (before,) = _run(["{{ range }}"], tmp_path, "--stock", timeout=60)
    assert " at 0x" in before["text"]  # <function safe_range at 0x7f…>
    for text, what in [("{{ range }}", "function 'bounded_range'"), ("{{ items|map('upper') }}", "a generator"),
                       ("{{ cycler }}", "class 'Cycler'"), ("{{ [lipsum] }}", "function 'bounded_lipsum'"),
                       ("{{ x.upper }}", "function 'upper'"), ("{{ items|reverse }}", "list_reverseiterator")]:
        template = Template(text=text)
        variables = {v.name: {"items": ["a"], "x": "a"}[v.name] for v in check_template(template)}
        with pytest.raises(ValueError, match="cannot print") as info:
            render(template, variables)
        assert what in str(info.value) and "0x" not in str(info.value)


NESTED = [
    ("21 nested for-loops", "{% for a in x %}" * 21 + "{{ a }}" + "{% endfor %}" * 21, "text line 1"),
    ("70 nested parentheses", "{{ " + "(" * 70 + "a" + ")" * 70 + " }}", "text line 1"),
    ("199-term a + a + ...", "hello\n{{ " + " + ".join(["a"] * 199) + " }}", "text line 2"),
    ("2000 nested lists", "{{ " + "[" * 2000 + "]" * 2000 + " }}", "text line 1"),
]


@pytest.mark.parametrize(("what", "source", "where"), NESTED, ids=[n[0] for n in NESTED])
def test_deep_nesting_is_a_template_error_with_its_line(what, source, where):
    import jinja2

    with pytest.raises((RecursionError, SyntaxError, MemoryError)):  # before: Python's own error escaped
        compile(jinja2.Environment().compile(source, raw=True), "<template>", "exec")
    with pytest.raises(TemplateSyntaxError) as info:
        check_template(Template(text=source))
    assert info.value.where == where and "nests too deeply to compile" in str(info.value)


def test_template_size_limit_is_checked_before_parsing():
    big = Template(text="{{ x }}" * 200_000)  # 1.4M characters of tags: minutes to compile
    with pytest.raises(LimitExceeded) as info:
        check_template(big)
    assert info.value.limit == "max_template_chars" and "1400000 characters" in str(info.value)
    with pytest.raises(LimitExceeded, match="max_template_tokens=10000"):  # 15,000 tokens in 35,000 characters
        check_template(Template(text="{{ x }}" * 5000))
    check_template(Template(text="plain text, one token " * 40_000))  # 880,000 characters of text are cheap
    multi = Template(kind="multi", parts=[])
    assert current_limits().max_template_chars == 1_000_000
    configure(SandboxLimits(max_template_chars=10))
    try:
        with pytest.raises(LimitExceeded, match="max_template_chars=10"):
            check_template(Template(text="hello there {{ x }}"))
        with pytest.raises(ValidationError):  # structure errors still come first for an empty multi
            check_template(multi)
    finally:
        configure(None)


def test_limits_are_one_configuration_object():
    limits = SandboxLimits.from_text("deadline_s=0.5, max_calls=10")
    assert (limits.deadline_s, limits.max_calls, limits.max_text) == (0.5, 10, 10_000_000)
    assert set(limits.to_dict()) >= {"deadline_s", "max_template_chars", "max_text", "max_built", "max_calls"}
    with pytest.raises(ValidationError, match="known limits"):
        SandboxLimits.from_text("max_colls=3")
    with pytest.raises(ValidationError, match="sandbox limit max_calls"):
        SandboxLimits(max_calls=0)
    with pytest.raises(LimitExceeded, match="max_calls=10"):
        render(Template(text="{% for i in range(20) %}{{ i|string }}{% endfor %}"), limits=limits)
    # the same template within the defaults
    assert render(Template(text="{% for i in range(20) %}{{ i|string }}{% endfor %}")).text.endswith("1819")


def test_filter_and_method_calls_count_towards_the_call_budget():
    limits = SandboxLimits(max_calls=30)
    # (a filter of a constant is folded when the template is compiled: x is a variable here)
    for text in ("{% for i in range(31) %}{{ x|upper }}{% endfor %}",
                 "{% for i in range(31) %}{{ x.upper() }}{% endfor %}",
                 "{{ range(31)|map('string')|join }}"):
        with pytest.raises(LimitExceeded, match="max_calls=30"):
            render(Template(text=text), {"x": "a"} if "x" in text else {}, limits=limits)
    text = "{% for i in range(10) %}{{ x|upper }}{% endfor %}"
    assert render(Template(text=text), {"x": "a"}, limits=limits).text == "A" * 10


def test_recursive_loops_count_towards_the_iteration_budget():
    text = "{% for t in tree recursive %}{{ t.n }}{{ loop(t.c) }}{% endfor %}"
    tree = [{"n": i, "c": [{"n": j, "c": []} for j in range(10)]} for i in range(10)]  # 10 + 100 steps
    assert len(render(Template(text=text), {"tree": tree}).text) == 10 + 100
    with pytest.raises(LimitExceeded, match="max_loop_iterations=100"):
        render(Template(text=text), {"tree": tree}, limits=SandboxLimits(max_loop_iterations=100))


def test_the_deadline_stops_a_render_still_running():
    slow = "{% for i in range(10000) %}{{ lipsum(20)|length }}{% endfor %}"
    with pytest.raises(LimitExceeded) as info:
        render(Template(text=slow), limits=SandboxLimits(deadline_s=0.05))
    assert info.value.limit == "deadline_s" and info.value.where == "text line 1"


def test_everyday_templates_are_unaffected():
    text = ("{% for ex in examples %}Review: {{ ex.text|trim }}\nLabel: {{ ex.label|upper }}\n{% endfor %}"
            "{{ '%s/%d' % (name, n) }} {{ '{}-{}'.format(name, n) }} {{ labels|join(', ') }} {{ labels|tojson }} "
            "{{ name[1:3] }} {{ labels + ['c'] }} {{ name ~ '!' }}")
    out = render(Template(text=text), {"examples": [{"text": " good ", "label": "pos"}], "name": "abcd", "n": 3,
                                       "labels": ["a", "b"]})
    assert out.text == ('Review: good\nLabel: POS\nabcd/3 abcd-3 a, b ["a", "b"] bc [\'a\', \'b\', \'c\'] abcd!')


def test_filters_that_walk_items_count_them_as_loop_steps():
    # a sort of 10 million items takes ~40 s inside one filter call, where no deadline can look in
    limits = SandboxLimits(max_loop_iterations=100)
    for text in ("{{ items|sort|first }}", "{{ items|unique|list|length }}", "{{ items|map('string')|join }}",
                 "{{ (items|string)|title|length }}"):
        with pytest.raises(LimitExceeded, match="max_loop_iterations=100"):
            render(Template(text=text), {"items": list(range(101))}, limits=limits)
    assert render(Template(text="{{ items|sort|first }}"), {"items": [3, 1, 2]}, limits=limits).text == "1"
