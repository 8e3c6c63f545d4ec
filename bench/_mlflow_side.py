"""The MLflow half of bench_registry.py; runs in the MLflow venv (python _mlflow_side.py MODE ...).

Prints one JSON object. Uses MLflow's prompt registry on a SQLite tracking store (MLFLOW_TRACKING_URI).
"""

from __future__ import annotations

import json
import sys
import time


def _mlflow():
    import mlflow

    return mlflow


def setup(name: str) -> dict:
    mlflow = _mlflow()
    t0 = time.perf_counter()
    mlflow.genai.register_prompt(name=name, template="Classify: {{ x }}", commit_message="v1")
    mlflow.genai.set_prompt_alias(name, alias="production", version=1)
    return {"setup_s": time.perf_counter() - t0}


def commits(name: str, n: int) -> dict:
    mlflow = _mlflow()
    # one untimed commit first: the first call in a process also creates MLflow's store and engine
    mlflow.genai.register_prompt(name=name, template="warm-up: {{ x }}", commit_message="warm-up")
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        mlflow.genai.register_prompt(name=name, template=f"Version {i}: {{{{ x }}}}", commit_message=f"c{i}")
        times.append(time.perf_counter() - t0)
    return {"times": times}


def resolve(name: str, n: int, cached: bool) -> dict:
    mlflow = _mlflow()
    kwargs = {} if cached else {"cache_ttl_seconds": 0}
    uri = f"prompts:/{name}@production"
    mlflow.genai.load_prompt(uri, **kwargs).format(x=1)  # warm-up (fills the cache when cached)
    t0 = time.perf_counter()
    for _ in range(n):
        mlflow.genai.load_prompt(uri, **kwargs).format(x=1)
    return {"ops_per_s": n / (time.perf_counter() - t0), "n": n}


def cold(name: str) -> dict:
    t0 = time.perf_counter()
    mlflow = _mlflow()
    text = mlflow.genai.load_prompt(f"prompts:/{name}@production").format(x=1)
    return {"text": text, "in_process_s": time.perf_counter() - t0}


def writer(name: str, n: int) -> dict:
    errors = []
    mlflow = _mlflow()
    for i in range(n):
        try:
            mlflow.genai.register_prompt(name=name, template=f"W {i} {time.time()}: {{{{ x }}}}")
        except Exception as exc:  # counted, like the promptyard writers
            errors.append(repr(exc)[:200])
    return {"errors": errors}


def http_load(name: str, n: int, concurrency: int, cached: bool, move_at: int) -> dict:
    """``load_prompt`` of ``name@production`` from an MLflow server (MLFLOW_TRACKING_URI=http://…) by
    ``concurrency`` threads, ``n`` calls in all; after ``move_at`` calls the alias moves to version 2 and
    every call that started after the move and still got version 1 is counted as stale."""
    import subprocess
    import threading

    mlflow = _mlflow()
    kwargs = {} if cached else {"cache_ttl_seconds": 0}
    uri = f"prompts:/{name}@production"
    mlflow.genai.load_prompt(uri, **kwargs).format(x=1)  # warm-up (fills the cache when cached)
    lock = threading.Lock()
    state = {"next": 0, "moved_at": None}
    latencies, stale, errors, versions = [], [0], [], {}

    def worker() -> None:
        while True:
            with lock:
                i = state["next"]
                if i >= n:
                    return
                state["next"] = i + 1
                if i == move_at:
                    # from another process, as a teammate or CI would: an alias set in this process also
                    # clears this process's own prompt cache, which would hide the staleness being counted
                    code = (f"import mlflow; mlflow.MlflowClient().set_prompt_alias({name!r}, alias='production', "
                            "version=2)")
                    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=600)
                    state["moved_at"] = time.perf_counter()
                moved = state["moved_at"]
            t0 = time.perf_counter()
            try:
                prompt = mlflow.genai.load_prompt(uri, **kwargs)
                prompt.format(x=1)
            except Exception as exc:  # counted
                errors.append(repr(exc)[:200])
                continue
            latencies.append(time.perf_counter() - t0)
            version = int(prompt.version)  # MLflow returns it as a string
            with lock:
                versions[version] = versions.get(version, 0) + 1
                if moved is not None and t0 > moved and version == 1:
                    stale[0] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "latencies": latencies, "stale": stale[0], "errors": errors[:5], "n_errors": len(errors),
            "versions": versions}


def serve_setup(name: str) -> dict:
    """Two versions of ``name`` on the MLflow server, alias production on version 1."""
    mlflow = _mlflow()
    mlflow.genai.register_prompt(name=name, template="Classify: {{ x }}", commit_message="v1")
    mlflow.genai.register_prompt(name=name, template="Label: {{ x }}", commit_message="v2")
    mlflow.genai.set_prompt_alias(name, alias="production", version=1)
    return {"ok": True}


if __name__ == "__main__":
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "setup":
        out = setup(args[0])
    elif mode == "commits":
        out = commits(args[0], int(args[1]))
    elif mode == "resolve":
        out = resolve(args[0], int(args[1]), args[2] == "cached")
    elif mode == "cold":
        out = cold(args[0])
    elif mode == "writer":
        out = writer(args[0], int(args[1]))
    elif mode == "serve_setup":
        out = serve_setup(args[0])
    elif mode == "http_load":
        out = http_load(args[0], int(args[1]), int(args[2]), args[3] == "cached", int(args[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print("RESULT " + json.dumps(out))
