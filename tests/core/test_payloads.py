"""Public template-injection and resource-exhaustion payloads, each rendered in a subprocess under 1 GB.

None executes (no file appears, no ``id`` output), none leaks (no live object, address, environment secret or
/etc/passwd text in what it renders or says), none runs into the 10 s watchdog or the address-space limit, and
every refusal is one of promptyard's own one-line errors. The payloads and their sources are in
``data/ssti_payloads.jsonl``; the runner is ``payload_runner.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.core.payload_runner import payloads

HERE = Path(__file__).parent
DATA = HERE / "data" / "ssti_payloads.jsonl"
BATCHES = 3
SECRET = "canary-7f3a91"
#: text that only a live object, an executed command, a read file or the environment would put in the output
LEAKS = ("<class '", "<function ", "<built-in", "<module '", " object at 0x", "<bound method", "uid=", "root:x:0:0",
         SECRET)


def _run_batches(cwd: Path) -> list[dict]:
    total = len(payloads(str(DATA)))
    step = -(-total // BATCHES)
    env = {**os.environ, "PROMPTYARD_TEST_SECRET": SECRET, "PROMPTYARD_SANDBOX_LIMITS": "deadline_s=2"}
    procs = [subprocess.Popen([sys.executable, str(HERE / "payload_runner.py"), str(DATA), str(lo), str(lo + step)],
                              cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for lo in range(0, total, step)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert proc.returncode == 0 or lines and lines[-1]["outcome"] == "hang", err[-2000:]
        results += lines
    return results


def test_there_are_at_least_150_public_payloads():
    listed = payloads(str(DATA))
    assert len(listed) >= 150 and len({p for _, p in listed}) == len(listed)


def test_no_payload_executes_leaks_hangs_or_exhausts_memory(tmp_path):
    listed = payloads(str(DATA))
    work = tmp_path / "work"
    work.mkdir()
    results = _run_batches(work)
    problems = []
    for r in results:
        payload = listed[r["index"]][1][:100]
        said = r.get("text", "") + r.get("message", "")
        if r["outcome"] in ("hang", "memory", "crash"):
            problems.append(f"{r['index']} {r['outcome']} {r.get('error', '')} {r.get('message', '')}: {payload}")
        elif any(leak in said for leak in LEAKS):
            problems.append(f"{r['index']} leaks {said[:200]!r}: {payload}")
        elif r["outcome"] == "refused" and "\n" in r["message"]:
            problems.append(f"{r['index']} error is not one line: {payload}")
    assert not problems, "\n".join(problems)
    assert sorted(r["index"] for r in results) == list(range(len(listed)))  # every payload ran to an outcome
    assert sorted(p.name for p in work.iterdir()) == []  # nothing written: no 'pwned', no config file
    refused = {r["index"] for r in results if r["outcome"] == "refused"}
    # the escapes and exhaustion payloads are refused, not quietly rendered (other engines' syntax is inert text)
    for index, (category, _) in enumerate(listed):
        if category in ("class-walk", "globals-rce", "exhaustion", "load"):
            assert index in refused, f"{index} was rendered: {listed[index][1][:100]}"
