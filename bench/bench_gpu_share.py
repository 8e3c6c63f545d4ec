"""Trials per hour on one GPU: 2 trials sharing it (0.5 GPU each) vs one trial at a time.

For a machine with a CUDA GPU (skips itself cleanly without one). Same trials, same data, FIFO scheduler:

    PYTHONPATH=src .venv/bin/python bench/bench_gpu_share.py --model smollm2-135m --trials 4 --steps 60
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", default="rotten_tomatoes")
    ap.add_argument("--method", default="lora")
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU here: nothing to measure (run this where a GPU is lent)")
        return
    (ROOT / "bench" / ".work").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-gpu-", dir=ROOT / "bench" / ".work"))
    os.environ.update({"PROMPTYARD_WORKDIR": str(work / "w"), "PROMPTYARD_HOME": str(work / "h"),
                       "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "RAY_AUTH_MODE": "disabled"})
    from promptyard.core.template import Template
    from promptyard.runtime.ray_session import RayTarget
    from promptyard.tuning.search import SearchSpec
    from promptyard.tuning.search_driver import run_search
    from promptyard.tuning.space import validate_space
    from promptyard.tuning.spec import TrainSpec

    base = TrainSpec(model=args.model, data=args.data, method=args.method, task="sentiment", quiet=True,
                     prompt=Template(kind="single", text="Review: {{ text }}\nSentiment:"),
                     config={"max_steps": args.steps, "eval_every": args.steps // 3, "patience": 0,
                             "batch_size": args.batch_size, "train_sample": args.steps * args.batch_size,
                             "val_sample": 100})
    rng = random.Random(0)
    points = [{"lr": 10 ** rng.uniform(-4, -2.5), "r": rng.choice([4, 8, 16])} for _ in range(args.trials)]
    space = validate_space({"lr": {"loguniform": [1e-4, 3e-3]}, "r": {"choice": [4, 8, 16]}})
    results = {}
    for label, gpus, concurrent in (("one at a time (1.0 GPU)", 1.0, 1), ("two sharing (0.5 GPU each)", 0.5, 2)):
        spec = SearchSpec(train_spec=base, space=space, trials=args.trials, scheduler="fifo", points=points,
                          concurrent=concurrent, gpus_per_trial=gpus, cpus_per_trial=1, max_failures=0)
        t0 = time.perf_counter()
        out = run_search(spec, RayTarget())
        wall = time.perf_counter() - t0
        results[label] = (args.trials * 3600 / wall, wall, out.best.best_metric if out.best else None)
    print(json.dumps({"gpu": torch.cuda.get_device_name(0), "model": args.model, "trials": args.trials,
                      "steps": args.steps}))
    print(f"{'':30}{'trials/hour':>12}{'wall s':>10}{'best':>8}")
    for label, (rate, wall, best) in results.items():
        print(f"{label:30}{rate:>12.1f}{wall:>10.1f}{best:>8.3f}")
    a, b = results.values()
    print(f"sharing speed-up: {b[0] / a[0]:.2f}x trials/hour")


if __name__ == "__main__":
    main()
