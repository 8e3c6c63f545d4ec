"""One ASHA search over tuning methods vs one ASHA search per method, at the same total trial budget.

Both sides have the same trials in all (``--trials`` per method x the methods) with the same per-trial step
budget, each method's own sub-space, ASHA and the same seed; the search over methods shares one set of
ASHA rungs (so a weak method's trials are cut by the strong method's), the per-method searches each have
their own. Prints the best validation score (overall and per method), trial-steps actually run, wall time.

    PYTHONPATH=src .venv/bin/python bench/bench_search_methods.py            # in-process, tiny-causal
    PYTHONPATH=src .venv/bin/python bench/bench_search_methods.py --ray      # on local Ray
    PYTHONPATH=src .venv/bin/python bench/bench_search_methods.py --model smollm2-135m --data rotten_tomatoes
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

SUBSPACES = {
    "lora": {"lr": {"loguniform": [1e-3, 5e-2]}, "r": {"choice": [2, 4, 8]}},
    "ia3": {"lr": {"loguniform": [1e-2, 3e-1]}},
    "prompt_tuning": {"lr": {"loguniform": [1e-2, 3e-1]}, "num_virtual_tokens": {"choice": [2, 4, 8]}},
}


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


def _steps(result) -> int:
    return sum(int(max((h.get("step") or 0) for h in t.history)) if t.history else 0 for t in result.trials)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-causal")
    ap.add_argument("--data", default=None, help="data set ref (default: a toy sentiment JSONL)")
    ap.add_argument("--methods", default="lora,ia3,prompt_tuning")
    ap.add_argument("--trials", type=int, default=4, help="trials per method (the search over methods runs "
                                                          "trials x methods)")
    ap.add_argument("--steps", type=int, default=16, help="optimizer steps per full trial")
    ap.add_argument("--eval-every", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ray", action="store_true", help="run on local Ray (default: in this process)")
    args = ap.parse_args()

    (ROOT / "bench" / ".work").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-methods-", dir=ROOT / "bench" / ".work"))
    os.environ.update({"PROMPTYARD_WORKDIR": str(work / "w"), "PROMPTYARD_HOME": str(work / "h"),
                       "PROMPTYARD_REGISTRY": str(work / "registry.db"), "HF_HUB_OFFLINE": "1",
                       "TRANSFORMERS_OFFLINE": "1", "RAY_AUTH_MODE": "disabled"})
    from promptyard.core.template import Template
    from promptyard.runtime.ray_session import RayTarget, ray_session
    from promptyard.tuning.search import SearchSpec
    from promptyard.tuning.search_driver import run_search
    from promptyard.tuning.search_local import run_search_local
    from promptyard.tuning.space import validate_space
    from promptyard.tuning.spec import TrainSpec

    methods = args.methods.split(",")
    data = args.data or _toy_data(work / "toy.jsonl")
    base = TrainSpec(model=args.model, data=data, method=methods[0], task="sentiment",
                     prompt=Template(kind="single", text="Review: {{ text }}\nSentiment:"),
                     config={"max_steps": args.steps, "eval_every": args.eval_every, "epochs": 50,
                             "patience": 0, "batch_size": 4, "train_sample": 160, "val_sample": 40})
    reports = args.steps // args.eval_every + 1

    def search(space, trials, method):
        spec = SearchSpec(train_spec=TrainSpec(**{**base.__dict__, "method": method}), space=validate_space(space),
                          trials=trials, scheduler="asha", max_reports=reports, seed=args.seed, max_failures=0,
                          concurrent=2)
        t0 = time.perf_counter()
        result = run_search(spec, RayTarget()) if args.ray else run_search_local(spec)
        return result, time.perf_counter() - t0

    def run_all():
        across, across_wall = search({"method": {"choice": {m: SUBSPACES[m] for m in methods}}},
                                     args.trials * len(methods), methods[0])
        per = {m: search(SUBSPACES[m], args.trials, m) for m in methods}
        return across, across_wall, per

    if args.ray:
        with ray_session(RayTarget(), num_cpus=2):
            across, across_wall, per = run_all()
    else:
        across, across_wall, per = run_all()

    per_steps = sum(_steps(r) for r, _ in per.values())
    per_wall = sum(w for _, w in per.values())
    per_best = max(r.best.best_metric for r, _ in per.values() if r.best)
    where = "local Ray" if args.ray else "in-process"
    print(f"model={args.model} methods={args.methods} trials={args.trials}/method "
          f"({args.trials * len(methods)} in all) steps/trial={args.steps} eval_every={args.eval_every} ({where})")
    print(f"{'':28}{'trial-steps':>12}{'wall s':>9}{'best val':>10}  best per method")
    summary = ", ".join(f"{m} {t.best_metric:.3f}" for m, t in across.best_per_method.items())
    print(f"{'one search over methods':28}{_steps(across):>12}{across_wall:>9.1f}{across.best.best_metric:>10.4f}"
          f"  {summary}  (trials: " + ", ".join(
              f"{m} {sum(t.params.get('method') == m for t in across.trials)}" for m in methods) + ")")
    summary = ", ".join(f"{m} {r.best.best_metric:.3f}" for m, (r, _) in per.items() if r.best)
    print(f"{'one search per method':28}{per_steps:>12}{per_wall:>9.1f}{per_best:>10.4f}  {summary}")
    stopped = sum(t.status == "stopped" for t in across.trials)
    stopped_per = sum(t.status == "stopped" for r, _ in per.values() for t in r.trials)
    print(f"stopped early: {stopped}/{len(across.trials)} vs {stopped_per}/{args.trials * len(methods)}")
    print(f"compute ratio (over methods / per method, trial-steps): {_steps(across) / per_steps:.2f}; "
          f"wall ratio {across_wall / per_wall:.2f}; best-score delta {across.best.best_metric - per_best:+.4f}")


if __name__ == "__main__":
    main()
