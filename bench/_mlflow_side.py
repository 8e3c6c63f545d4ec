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
    else:
        raise SystemExit(f"unknown mode {mode}")
    print("RESULT " + json.dumps(out))
