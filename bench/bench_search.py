"""8-trial ASHA search on local Ray vs the same 8 trials run to completion one after another in-process.

Prints total trial-steps (optimizer steps actually run), wall time and the best validation score of
each side, and the ratios (goal: ASHA compute <= 0.6x at an equal best score).

    PYTHONPATH=src .venv/bin/python bench/bench_search.py                      # real loop, tiny-causal
    PYTHONPATH=src .venv/bin/python bench/bench_search.py --model smollm2-135m --data rotten_tomatoes
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


def _toy_data(path: Path, n: int = 240, seed: int = 0) -> str:
    """A learnable sentiment set (the label follows from one word; lengths vary)."""
    rng = random.Random(seed)
    pos, neg = ["great", "wonderful", "superb", "moving", "fun"], ["awful", "boring", "dull", "weak", "bad"]
    filler = ["the film", "this movie", "the plot", "the acting", "its story"]
    rows = []
    for _ in range(n):
        label = rng.choice(["positive", "negative"])
        words = [rng.choice(filler), "was", rng.choice(pos if label == "positive" else neg)]
        words += [rng.choice(filler) for _ in range(rng.randint(0, 6))]
        rows.append({"text": " ".join(words), "label": label})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-causal")
    ap.add_argument("--data", default=None, help="data set ref (default: a toy sentiment JSONL)")
    ap.add_argument("--method", default="lora")
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--steps", type=int, default=32, help="optimizer steps per full trial")
    ap.add_argument("--eval-every", type=int, default=4)
    ap.add_argument("--concurrent", type=int, default=2)
    args = ap.parse_args()

    (ROOT / "bench" / ".work").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-search-", dir=ROOT / "bench" / ".work"))
    os.environ.update({"PROMPTYARD_WORKDIR": str(work / "w"), "PROMPTYARD_HOME": str(work / "h"),
                       "PROMPTYARD_REGISTRY": str(work / "registry.db"), "HF_HUB_OFFLINE": "1",
                       "TRANSFORMERS_OFFLINE": "1", "RAY_AUTH_MODE": "disabled"})
    from promptyard.core.template import Template
    from promptyard.runtime.ray_session import RayTarget
    from promptyard.tuning.loop import train
    from promptyard.tuning.search import SearchSpec
    from promptyard.tuning.search_driver import run_search
    from promptyard.tuning.space import to_tune, validate_space
    from promptyard.tuning.spec import TrainSpec

    data = args.data or _toy_data(work / "toy.jsonl")
    base = TrainSpec(model=args.model, data=data, method=args.method, task="sentiment", quiet=True,
                     prompt=Template(kind="single", text="Review: {{ text }}\nSentiment:"),
                     config={"max_steps": args.steps, "eval_every": args.eval_every, "epochs": 50,
                             "patience": 0, "batch_size": 4, "train_sample": 160, "val_sample": 40})
    space = validate_space({"lr": {"loguniform": [1e-4, 5e-2]}, "r": {"choice": [2, 4, 8]}})
    domains = to_tune(space)
    rng = random.Random(0)
    import numpy as np

    def draw(domain):
        value = domain.sample(random_state=np.random.RandomState(rng.randrange(1 << 30)))
        return value.item() if hasattr(value, "item") else value

    points = [{k: draw(d) for k, d in domains.items()} for _ in range(args.trials)]

    t0 = time.perf_counter()
    seq_best, seq_steps = None, 0
    for p in points:
        spec = TrainSpec(**{**base.__dict__, "config": {**base.config, **p}})
        result = train(spec)
        seq_steps += result.metrics["steps"]
        best = result.metrics["val_metric"]
        seq_best = best if seq_best is None else max(seq_best, best)
    seq_wall = time.perf_counter() - t0

    t0 = time.perf_counter()
    spec = SearchSpec(train_spec=base, space=space, trials=args.trials, scheduler="asha",
                      concurrent=args.concurrent, points=points, max_failures=0, name="bench-search")
    result = run_search(spec, RayTarget())
    asha_wall = time.perf_counter() - t0
    asha_steps = sum(int(max((h.get("step") or 0) for h in t.history) if t.history else 0)
                     for t in result.trials)
    asha_best = result.best.best_metric if result.best else None
    stopped = sum(t.status == "stopped" for t in result.trials)

    print(f"model={args.model} method={args.method} trials={args.trials} steps/trial={args.steps} "
          f"eval_every={args.eval_every} concurrent={args.concurrent}")
    print(f"{'':24}{'trial-steps':>12}{'wall s':>10}{'best val':>10}")
    print(f"{'sequential in-process':24}{seq_steps:>12}{seq_wall:>10.1f}{seq_best:>10.4f}")
    print(f"{'ASHA on local Ray':24}{asha_steps:>12}{asha_wall:>10.1f}{asha_best:>10.4f}")
    print(f"ASHA stopped {stopped}/{args.trials} trials early")
    print(f"compute ratio (ASHA/sequential trial-steps): {asha_steps / seq_steps:.2f}  (goal <= 0.60)")
    print(f"wall ratio: {asha_wall / seq_wall:.2f}   best-score delta: {asha_best - seq_best:+.4f} (goal 0)")


if __name__ == "__main__":
    main()
