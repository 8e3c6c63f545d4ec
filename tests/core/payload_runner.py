"""Render payloads from tests/core/data/ssti_payloads.jsonl, one JSON line of outcome each (run by test_payloads.py).

``python payload_runner.py FILE START STOP [--stock]`` under a 1 GB address-space limit (``--stock``: in
Jinja2's own sandbox, to show what a payload did before promptyard's budget); a watchdog ends the process if
one payload runs past WATCHDOG_S, naming it, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time

from promptyard.core.errors import PromptyardError
from promptyard.core.render import check_template, render
from promptyard.core.template import Template

ADDRESS_SPACE = 1 << 30
WATCHDOG_S = 10.0
#: values for the variables payloads use; others get a plain value of their inferred type
VALUES = {"x": "a", "name": "__class__", "name2": "__init__", "fmt": "{0.__class__.__base__}", "items": ["a", "b"],
          "d": {"k": "v"}, "e": "", "f": "a", "g": "a", "users": [{"username": "u"}]}
BY_TYPE = {"str": "a", "int": 1, "float": 1.0, "bool": True, "list": ["a"], "dict": {"a": "a"}}


def payloads(path: str) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8") as fh:
        return [tuple(json.loads(line)) for line in fh if line.strip() and not line.startswith("#")]


def run_one(text: str) -> dict:
    template = Template(text=text)
    try:
        contract = check_template(template)
        out = render(template, {v.name: VALUES.get(v.name, BY_TYPE.get(v.type, "a")) for v in contract})
        return {"outcome": "rendered", "text": out.text[:4000], "length": len(out.text)}
    except PromptyardError as exc:
        return {"outcome": "refused", "error": type(exc).__name__, "message": str(exc)}
    except MemoryError:
        return {"outcome": "memory"}
    except BaseException as exc:  # anything but promptyard's own errors is a finding
        return {"outcome": "crash", "error": type(exc).__name__, "message": str(exc)[:500]}


def run_stock(text: str) -> dict:
    """The same payload in Jinja2's own ImmutableSandboxedEnvironment: how it behaved before the budget."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    try:
        env = ImmutableSandboxedEnvironment()
        out = env.from_string(text).render(**VALUES)
        return {"outcome": "rendered", "text": out[:4000], "length": len(out)}
    except MemoryError:
        return {"outcome": "memory"}
    except BaseException as exc:
        return {"outcome": "crash", "error": type(exc).__name__, "message": str(exc)[:500]}


def main(path: str, start: int, stop: int, stock: bool = False) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    for index, (category, text) in enumerate(payloads(path)[start:stop], start):
        watchdog = threading.Timer(WATCHDOG_S, lambda i=index: (print(json.dumps({"index": i, "outcome": "hang"}),
                                                                      flush=True), os._exit(3)))
        watchdog.start()
        began = time.monotonic()
        result = run_stock(text) if stock else run_one(text)
        watchdog.cancel()
        result.update(index=index, category=category, seconds=round(time.monotonic() - began, 3),
                      maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), stock="--stock" in sys.argv[4:])
