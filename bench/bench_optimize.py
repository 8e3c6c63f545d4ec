"""Prompt optimisers at equal budgets of model calls vs random search over the same pool vs the starting prompt.

The pool is what bootstrapped few-shot builds (its demonstration sets) plus the generated wordings, written to a
variants file so that random search, successive halving and the bandit choose among exactly the same candidates.
Every search runs with its own response cache (no call is free because another run made it). Prints, per run:
search calls, test accuracy with its 95% interval, the paired delta against the start, wall time; then the goal:
bootstrapped few-shot and the bandit reach random search's best test score with <= 50% of its calls.

    PYTHONPATH=src .venv/bin/python bench/bench_optimize.py                                  # SmolLM2, rotten_tomatoes
    PYTHONPATH=src .venv/bin/python bench/bench_optimize.py --validation-sample 32 --test-sample 100 --budget 200
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

START = "Review: {{ text }}\nSentiment:"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", default="rotten_tomatoes")
    ap.add_argument("--validation-sample", type=int, default=48)
    ap.add_argument("--test-sample", type=int, default=200)
    ap.add_argument("--budget", type=int, default=300, help="search calls random search gets (the others get half)")
    ap.add_argument("--candidates", type=int, default=6, help="demonstration sets in the pool")
    ap.add_argument("--scoring", default="generate", choices=("choices", "generate"),
                    help="generate: replies are read for their label (prompt wording matters); choices: log-likelihood")
    ap.add_argument("--max-new-tokens", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    (ROOT / "bench" / ".work").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-optimize-", dir=ROOT / "bench" / ".work"))
    os.environ.update({"PROMPTYARD_WORKDIR": str(work / "w"), "PROMPTYARD_REGISTRY": str(work / "registry.db"),
                       "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    os.environ.setdefault("PROMPTYARD_HOME", str(work / "h"))  # keep a converted model: set PROMPTYARD_HOME
    import yaml

    from promptyard.evals.optimize_run import OptimizeRequest, make_plan, optimize
    from promptyard.evals.suite import CellSpec
    from promptyard.registry.api import Registry

    registry = Registry.open(create=True)
    registry.commit("sent", {"kind": "single", "text": START}, message="start", task_type="sentiment")
    decoding = {"max_new_tokens": args.max_new_tokens, "batch_size": 16} if args.scoring == "generate" else {}
    base = CellSpec(prompt="sent@1", model=args.model, data=args.data, seed=args.seed, scoring=args.scoring,
                    decoding=decoding)
    half = args.budget // 2
    test_reserve = 2 * args.test_sample

    def run(optimizer: str, search_calls: int, **kw) -> dict:
        request = OptimizeRequest(prompt="sent@1", base=base, optimizer=optimizer,
                                  budget_calls=search_calls + test_reserve,
                                  validation_sample=args.validation_sample, test_sample=args.test_sample,
                                  cache=False, commit=False, **kw)
        t0 = time.perf_counter()
        record = optimize(registry, make_plan(registry, request)).record
        record["wall_s"] = time.perf_counter() - t0
        return record

    boot_settings = {"candidates": str(args.candidates), "min_examples": "8", "train_examples": "16"}
    rows = {"bootstrap_fewshot": run("bootstrap_fewshot", half, settings=boot_settings)}
    pool = [{"name": c["name"], **c["template"]} for c in rows["bootstrap_fewshot"]["candidates"]
            if c["origin"] == "bootstrap"]
    from promptyard.evals.variants import WORDINGS

    pool += [{"name": f"wording{i}", "text": prefix + START} for i, prefix in enumerate(WORDINGS[1:], start=1)]
    variants = work / "pool.yaml"
    variants.write_text(yaml.safe_dump(pool, allow_unicode=True))
    rows["random_search"] = run("random_search", args.budget, variants_file=str(variants))
    rows["bandit"] = run("bandit", half, variants_file=str(variants), settings={"batch": "4"})
    rows["successive_halving"] = run("successive_halving", half, variants_file=str(variants),
                                     settings={"min_examples": "8"})
    rows["proposed_instructions"] = run("proposed_instructions", half,
                                        settings={"rounds": "2", "proposals": "2", "examples": "24",
                                                  "failure_examples": "8"})
    report(rows, args, len(pool))


def report(rows: dict, args: argparse.Namespace, pool: int) -> None:
    out = []
    start = next(iter(rows.values()))["result"]["test"]["start"]
    print(f"{args.model} on {args.data} ({args.scoring}): validation {args.validation_sample}, "
          f"test {args.test_sample}, pool {pool}+1, budget {args.budget} search calls (half for the others)")
    print(f"{'run':24} {'search calls':>12} {'test accuracy [95% CI]':>26} {'delta vs start [CI], p':>30} "
          f"{'wall s':>8}")
    print(f"{'starting prompt':24} {0:>12} {start['value']:>8.3f} [{start['low']:.3f}, {start['high']:.3f}]")
    for name, r in rows.items():
        w = r["result"]["test"]["winner"]
        comparison = r["result"]["comparison"]
        delta = "   (start kept)"
        if comparison:
            m = comparison["metrics"][0]
            delta = f"{m['delta']:+.3f} [{m['low']:+.3f}, {m['high']:+.3f}], p={m['test']['p_value']:.3g}"
        print(f"{name:24} {r['calls_spent']:>12} {w['value']:>8.3f} [{w['low']:.3f}, {w['high']:.3f}]"
              f"{delta:>32} {r['wall_s']:>8.1f}")
        out.append({"run": name, "search_calls": r["calls_spent"], "test": w, "comparison": comparison,
                    "wall_s": r["wall_s"], "winner": r["result"]["winner_name"], "id": r["id"]})
    best_random = rows["random_search"]["result"]["test"]["winner"]["value"]
    random_calls = rows["random_search"]["calls_spent"]
    for name in ("bootstrap_fewshot", "bandit"):
        r = rows[name]
        ratio = r["calls_spent"] / random_calls if random_calls else float("nan")
        reached = r["result"]["test"]["winner"]["value"] >= best_random
        print(f"goal {name}: test {r['result']['test']['winner']['value']:.3f} vs random search's {best_random:.3f} "
              f"with {ratio:.2f}x its calls -> {'met' if reached and ratio <= 0.5 else 'NOT met'}")
    if args.json:
        print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
