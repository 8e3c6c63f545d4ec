"""promptyard's registry against MLflow's prompt registry (SQLite tracking store), side by side.

    PYTHONPATH=src .venv/bin/python bench/bench_registry.py [--mlflow-python /work/bench-venv-mlflow/bin/python]

promptyard runs in this process (and in fresh processes for the cold and concurrent cases); MLflow runs
in its own virtual environment through ``bench/_mlflow_side.py`` (see bench/README.md). One run prints
both numbers and their ratio for each goal. MLflow gets fewer iterations where it is slow (said in the
output); rates are per second, so the ratios stay comparable.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
DEFAULT_MLFLOW = "/work/bench-venv-mlflow/bin/python"


def _mlflow(python: str, tracking: Path, *args: str, timeout: int = 900) -> dict:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tracking}", "MLFLOW_REGISTRY_URI": f"sqlite:///{tracking}",
           "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([python, str(HERE / "_mlflow_side.py"), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"MLflow side failed ({args}): {proc.stderr[-2000:]}")


# ---------------------------------------------------------------- promptyard side
def _template(i: int):
    from promptyard.core.template import Template

    return Template(kind="single", text=f"Version {i}: {{{{ x }}}}")


def py_commits(path: Path, n: int) -> list[float]:
    from promptyard import Registry

    reg = Registry.open(path, create=True)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        reg.commit("bench", _template(i), f"c{i}")
        times.append(time.perf_counter() - t0)
    reg.label("bench@1", "production", force=True)
    reg.close()
    return times


def py_resolve_render(path: Path, seconds: float) -> float:
    from promptyard import Registry

    reg = Registry.open(path)
    reg.render("bench@production", {"x": 1})
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(500):
            reg.render("bench@production", {"x": 1})  # checks PRAGMA data_version every call: never stale
        n += 500
    rate = n / (time.perf_counter() - t0)
    reg.close()
    return rate


def py_cold(path: Path, runs: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "promptyard.cli", "--registry", str(path), "prompt", "render", "bench", "-v", "x=1"]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t0)
    return times


def _py_writer(path: str, worker: int, n: int) -> list[str]:
    sys.path.insert(0, str(SRC))
    from promptyard import Registry
    from promptyard.core.template import Template

    errors = []
    reg = Registry.open(path)
    for i in range(n):
        try:
            reg.commit("shared", Template(text=f"w{worker} {i}: {{{{ x }}}}"))
        except Exception as exc:  # counted, like MLflow's writers
            errors.append(repr(exc))
    reg.close()
    return errors


def py_concurrent(path: Path, writers: int, n: int) -> tuple[float, int, list[int]]:
    from promptyard import Registry

    Registry.open(path, create=True).close()
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(writers) as pool:
        results = pool.starmap(_py_writer, [(str(path), w, n) for w in range(writers)])
    wall = time.perf_counter() - t0
    with Registry.open(path) as reg:
        numbers = [v.number for v in reg.versions("shared")]
    return wall, sum(len(r) for r in results), numbers


def mlflow_concurrent(python: str, tracking: Path, writers: int, n: int) -> tuple[float, int, str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tracking}", "PYTHONWARNINGS": "ignore"}
    _mlflow(python, tracking, "setup", "shared")  # schema and the prompt exist first, as for promptyard
    t0 = time.perf_counter()
    procs = [subprocess.Popen([python, str(HERE / "_mlflow_side.py"), "writer", "shared", str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(writers)]
    errors, sample = 0, ""
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        found = json.loads(lines[0][7:])["errors"] if lines else [err[-300:]] * n
        errors += len(found)
        sample = sample or (found[0] if found else "")
    return time.perf_counter() - t0, errors, sample


# ---------------------------------------------------------------- report
def row(goal: str, ours: str, theirs: str, ratio: float | None, target: str, ok: bool | None) -> None:
    shown = f"{ratio:>10.1f}x" if ratio is not None else f"{'':>11}"
    verdict = "" if ok is None else ("PASS" if ok else "FAIL")
    print(f"{goal:<44} {ours:>16} {theirs:>16} {shown}  {target:<18} {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mlflow-python", default=DEFAULT_MLFLOW)
    ap.add_argument("--commits", type=int, default=500, help="promptyard commits (default 500)")
    ap.add_argument("--mlflow-commits", type=int, default=150, help="MLflow commits (default 150; 500 takes ~30 s+)")
    ap.add_argument("--mlflow-uncached", type=int, default=40, help="MLflow uncached loads (default 40)")
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--per-writer", type=int, default=25)
    args = ap.parse_args()
    sys.path.insert(0, str(SRC))
    tmp = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    py_db, ml_db = tmp / "py" / "registry.db", tmp / "mlflow.db"
    print(f"scratch: {tmp}\n")

    py_times = py_commits(py_db, args.commits)
    _mlflow(args.mlflow_python, ml_db, "setup", "bench")  # creates the MLflow schema (not timed)
    ml_times = _mlflow(args.mlflow_python, ml_db, "commits", "bench", str(args.mlflow_commits))["times"]
    py_rate, ml_rate = len(py_times) / sum(py_times), len(ml_times) / sum(ml_times)
    head = lambda t: statistics.median(t[:20]) * 1000  # noqa: E731 - ms per commit, first 20
    tail = lambda t: statistics.median(t[-20:]) * 1000  # noqa: E731 - ms per commit, last 20
    py_flat, ml_flat = tail(py_times) / head(py_times), tail(ml_times) / head(ml_times)

    py_render = py_resolve_render(py_db, 3.0)
    ml_cached = _mlflow(args.mlflow_python, ml_db, "resolve", "bench", "20000", "cached")["ops_per_s"]
    ml_uncached = _mlflow(args.mlflow_python, ml_db, "resolve", "bench", str(args.mlflow_uncached), "uncached")[
        "ops_per_s"]

    py_cold_times = py_cold(py_db, 10)
    ml_cold_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        _mlflow(args.mlflow_python, ml_db, "cold", "bench")
        ml_cold_times.append(time.perf_counter() - t0)
    py_cold_s, ml_cold_s = statistics.median(py_cold_times), statistics.median(ml_cold_times)

    py_wall, py_errors, numbers = py_concurrent(tmp / "conc" / "registry.db", args.writers, args.per_writer)
    ml_wall, ml_errors, ml_error_sample = mlflow_concurrent(args.mlflow_python, tmp / "mlflow-conc.db", args.writers,
                                           args.per_writer)
    gapless = numbers == list(range(1, args.writers * args.per_writer + 1))

    print(f"promptyard: {args.commits} commits; MLflow: {args.mlflow_commits} commits (fewer: it is slow), "
          f"{args.mlflow_uncached} uncached loads, 3 cold runs (promptyard 10)\n")
    print(f"{'goal':<44} {'promptyard':>16} {'MLflow':>16} {'ratio':>11}  {'target':<18} result")
    row("commits per second", f"{py_rate:,.0f}/s", f"{ml_rate:,.1f}/s", py_rate / ml_rate, ">= 10x",
        py_rate / ml_rate >= 10)
    row("commit cost, last 20 / first 20 (flat = 1)", f"{py_flat:.2f}", f"{ml_flat:.2f}", None,
        "promptyard <= 1.3", py_flat <= 1.3)
    row("  ms per commit, first 20 -> last 20", f"{head(py_times):.2f}->{tail(py_times):.2f}",
        f"{head(ml_times):.1f}->{tail(ml_times):.1f}", None, "", None)
    row("resolve @production + render, never stale", f"{py_render:,.0f}/s", f"{ml_cached:,.0f}/s*",
        py_render / ml_cached, ">= 1x (stale cache)", py_render >= ml_cached)
    row("  vs MLflow with its cache off", f"{py_render:,.0f}/s", f"{ml_uncached:,.1f}/s", py_render / ml_uncached,
        ">= 1000x", py_render / ml_uncached >= 1000)
    row("cold CLI render / load+format (median)", f"{py_cold_s:.3f} s", f"{ml_cold_s:.2f} s", ml_cold_s / py_cold_s,
        ">= 10x, <= 0.35 s", ml_cold_s / py_cold_s >= 10 and py_cold_s <= 0.35)
    row(f"{args.writers} writers x {args.per_writer} commits, wall", f"{py_wall:.1f} s", f"{ml_wall:.1f} s",
        ml_wall / py_wall, "faster, 0 errors", ml_wall > py_wall and py_errors == 0)
    print("\n* MLflow's cached rate may serve a version up to 60 s stale after the label moves; promptyard's")
    print("  checks PRAGMA data_version on every call, so a move by any process is seen by the next call.")
    print(f"cold promptyard runs (s): {', '.join(f'{t:.3f}' for t in py_cold_times)}")
    print(f"concurrent writers: promptyard errors={py_errors}, numbers 1..{len(numbers)} gapless={gapless}; "
          f"MLflow errors={ml_errors} {ml_error_sample[:200]}")


if __name__ == "__main__":
    main()
