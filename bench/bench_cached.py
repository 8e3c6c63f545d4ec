"""An unchanged re-run through the CLI, end to end (process start included), against its first run.

Run: ``.venv/bin/python bench/bench_cached.py [--sample 200] [--model smollm2-135m]``.

Three commands, each in a fresh process with a throwaway registry and response cache:
``eval run`` of one cell (rotten_tomatoes, the two sentiment choices), the same ``eval run`` again, and an
``eval gate`` of two prompt versions, then the same gate again. The re-runs are answered wholly by the
response cache (responses, metric scores and intervals, the gate's paired comparison), so they load no
model and import no torch. A model conversion (the embedded SmolLM2 from its GGUF) is done before timing.
Prints each wall time and the re-run / first-run ratio; the goal is <= 10%.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()
    exe = [sys.executable, "-m", "promptyard.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PROMPTYARD_HOME=str(Path(tmp) / "home"))
        if "PROMPTYARD_CACHE" in os.environ:  # keep the converted model, but a response cache of our own
            env["PROMPTYARD_CACHE"] = os.environ["PROMPTYARD_CACHE"]
        reg = str(Path(tmp) / "registry.db")
        run = [*exe, "--registry", reg]
        subprocess.run([*run, "init"], env=env, check=True, capture_output=True)
        for text in ("Review: {{ text }}\nSentiment:", "Movie review: {{ text }}\nIs it positive or negative?"):
            subprocess.run([*run, "prompt", "commit", "sent", "--text", text], env=env, check=True,
                           capture_output=True)
        cell = ["--model", args.model, "--data", "rotten_tomatoes", "--sample", str(args.sample)]
        subprocess.run([*run, "eval", "run", "--prompt", "sent@1", *cell[:4], "--sample", "1", "--no-cache"],
                       env=env, check=True, capture_output=True)  # converts/builds the model folder once
        subprocess.run([*run, "cache", "clear"], env=env, check=True, capture_output=True)
        evals = [*run, "eval", "run", "--prompt", "sent@1", *cell, "--choice", " positive", "--choice", " negative"]
        gate = [*run, "eval", "gate", "--baseline", "sent@1", "--candidate", "sent@2", *cell, "--max-drop", "1"]
        first_run = timed(evals, env)
        rerun = timed(evals, env)
        subprocess.run([*run, "cache", "clear"], env=env, check=True, capture_output=True)
        first_gate = timed(gate, env)
        regate = timed(gate, env)
    print(f"load average: {os.getloadavg()[0]:.2f}  model: {args.model}  examples per cell: {args.sample}")
    print(f"{'command':28} {'first s':>9} {'re-run s':>9} {'re-run/first':>13}")
    print(f"{'eval run (1 cell)':28} {first_run:9.2f} {rerun:9.2f} {rerun / first_run:12.1%}")
    print(f"{'eval gate (2 cells)':28} {first_gate:9.2f} {regate:9.2f} {regate / first_gate:12.1%}")


if __name__ == "__main__":
    main()
