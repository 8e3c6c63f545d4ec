"""Cold start: ``promptyard --help`` and ``promptyard prompt render NAME -v x=1`` against ``python -c pass``.

Run: ``PYTHONPATH=src .venv/bin/python bench/bench_startup.py [--runs 10]``.

Each command runs in a fresh process, alternating, ``--runs`` times; the median wall time of each is printed
with its ratio to a bare interpreter start (the floor every Python CLI sits on). The registry is a throwaway
one in a temporary folder, with one prompt committed.
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
    args = parser.parse_args()
    exe = [sys.executable, "-m", "promptyard.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PROMPTYARD_HOME=tmp)
        reg = str(Path(tmp) / "registry.db")
        subprocess.run([*exe, "--registry", reg, "init"], env=env, check=True, capture_output=True)
        subprocess.run([*exe, "--registry", reg, "prompt", "commit", "bench", "--text", "Hello {{ x }}"],
                       env=env, check=True, capture_output=True)
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "promptyard --help": [*exe, "--help"],
            "promptyard prompt render": [*exe, "--registry", reg, "prompt", "render", "bench", "-v", "x=1"],
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.runs):
            for name, cmd in cases.items():
                times[name].append(timed(cmd, env))
    floor = statistics.median(times["python -c pass"])
    print(f"load average: {os.getloadavg()[0]:.2f}  runs: {args.runs}")
    print(f"{'command':28} {'median s':>9} {'× python -c pass':>17}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:28} {med:9.3f} {med / floor:17.1f}")


if __name__ == "__main__":
    main()
