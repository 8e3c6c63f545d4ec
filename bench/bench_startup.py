"""Cold start: ``promptyard --help`` and ``promptyard prompt render NAME -v x=1`` against ``python -c pass``.

Run: ``env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/bench_startup.py [--runs 15] [--baseline SRC:MODULE]``.

Each command runs in a fresh process, alternating, ``--runs`` times; the median wall time of each is printed
with its ratio to a bare interpreter start (the floor every Python CLI sits on). The registry is a throwaway
one in a temporary folder, with two prompts committed: ``bench`` (``Hello {{ x }}``, a plain template) and
``bench_filter`` (``Hello {{ x|upper }}``, which takes the Jinja path and loads the plugin host). ``--help``
is timed after one untimed run, so it is the cached replay (a first ``--help`` draws with typer, as the
baseline does). ``--baseline /tmp/old/src:promptyard`` runs the same commands from another checkout's ``src``
(``python -m MODULE``) in the same rounds, to compare two versions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", help="SRC:MODULE of another checkout to time beside this one")
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parents[1] / "src")
    versions = {"": (here, "promptyard.cli")}
    if args.baseline:
        src, _, module = args.baseline.partition(":")
        versions["baseline "] = (src, module or "promptyard")
    with tempfile.TemporaryDirectory() as tmp:
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], dict(os.environ))}
        for label, (src, module) in versions.items():
            home = Path(tmp) / (label.strip() or "current")
            env = dict(os.environ, PROMPTYARD_HOME=str(home), PYTHONPATH=src)
            exe = [sys.executable, "-m", module]
            reg = str(home / "registry.db")
            subprocess.run([*exe, "--registry", reg, "init"], env=env, check=True, capture_output=True)
            for name, text in (("bench", "Hello {{ x }}"), ("bench_filter", "Hello {{ x|upper }}")):
                subprocess.run([*exe, "--registry", reg, "prompt", "commit", name, "--text", text],
                               env=env, check=True, capture_output=True)
            subprocess.run([*exe, "--help"], env=env, check=True, capture_output=True)  # fills the help cache
            cases[f"{label}promptyard --help"] = ([*exe, "--help"], env)
            cases[f"{label}promptyard prompt render"] = (
                [*exe, "--registry", reg, "prompt", "render", "bench", "-v", "x=1"], env)
            cases[f"{label}prompt render, with a filter"] = (
                [*exe, "--registry", reg, "prompt", "render", "bench_filter", "-v", "x=1"], env)
        times: dict[str, list[float]] = {k: [] for k in cases}
        load_before = os.getloadavg()[0]
        for _ in range(args.runs):
            for name, (cmd, env) in cases.items():
                times[name].append(timed(cmd, env))
    floor = statistics.median(times["python -c pass"])
    print(f"load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after  runs: {args.runs}")
    print(f"{'command':45} {'median s':>9} {'x python -c pass':>17}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:45} {med:9.3f} {med / floor:17.1f}")


if __name__ == "__main__":
    main()
