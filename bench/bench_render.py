"""Render throughput: promptyard's ``render`` against plain Jinja2, in one process.

Run: ``PYTHONPATH=src python bench/bench_render.py``.

Peers (same template text, same variables):

- *jinja2 compiled*: a ``jinja2.Template`` compiled once, ``.render(**vars)`` per call — no sandbox, no
  contract check: the floor any Jinja2-based renderer sits on;
- *jinja2 sandbox, compile per call*: ``SandboxedEnvironment().from_string(text).render()`` per call — what a
  registry pays without a compiled-template cache.

Printed as ratios (promptyard ops/s ÷ peer ops/s), for a *single*, a *multi* and a *dynamic* template.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from promptyard.core.render import render
from promptyard.core.template import Part, Template, Variable

SINGLE = Template(
    text="Classify the sentiment of this review.\nReview: {{ review }}\n"
         "Answer with one of: {{ labels|join(', ') }}.",
    variables=[Variable("review"), Variable("labels", "list")],
)
MULTI = Template(kind="multi", parts=[Part("system", "You are a support agent for {{ product }}."),
                                      Part("user", "{{ question }}")])
POOL = [{"text": f"example review number {i} about battery screen price",
         "label": "pos" if i % 2 else "neg"} for i in range(50)]
DYNAMIC = Template(kind="dynamic", examples=POOL, selector="similar", k=4,
                   text="{% for ex in examples %}Review: {{ ex.text }}\n"
                        "Sentiment: {{ ex.label }}\n{% endfor %}"
                        "Review: {{ text }}\nSentiment:")
CASES = [
    ("single", SINGLE, {"review": "The battery lasts forever.", "labels": ["positive", "negative"]}),
    ("multi", MULTI, {"product": "promptyard", "question": "How do I roll back?"}),
    ("dynamic (similar, 50 examples)", DYNAMIC, {"text": "great battery and screen"}),
]


def ops_per_s(fn: Callable[[], object], seconds: float = 1.0) -> float:
    fn()
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            fn()
        n += 100
    return n / elapsed


def jinja_sources(t: Template) -> list[str]:
    return [src for _, src in t.sources()]


def main() -> None:
    print(f"{'template':34} {'promptyard/s':>13} {'jinja2 compiled/s':>18} {'ratio':>6} "
          f"{'sandbox per-call/s':>19} {'ratio':>7}")
    for name, t, variables in CASES:
        ours = ops_per_s(lambda t=t, v=variables: render(t, v))
        context = dict(variables)
        if t.kind == "dynamic":  # give the floor the examples for free: it does no selection at all
            context["examples"] = POOL[:4]
        env = jinja2.Environment()
        compiled = [env.from_string(src) for src in jinja_sources(t)]
        floor = ops_per_s(lambda c=compiled, ctx=context: [tpl.render(ctx) for tpl in c])
        sources = jinja_sources(t)
        per_call = ops_per_s(lambda s=sources, ctx=context: [
            SandboxedEnvironment().from_string(x).render(ctx) for x in s], seconds=0.5)
        print(f"{name:34} {ours:13,.0f} {floor:18,.0f} {ours / floor:6.2f} {per_call:19,.0f} "
              f"{ours / per_call:7.1f}x")


if __name__ == "__main__":
    main()
