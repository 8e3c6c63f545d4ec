"""An evaluation suite in-process vs on 1 and 2 Ray nodes (ray.cluster_utils on this machine).

Prints examples/s for each and Ray's overhead as a share of wall time: 1 - (time the actors spent in the
runner) / (wall time x actors). Goal: overhead < 10% for cells of 30 s or more.

    PYTHONPATH=src .venv/bin/python bench/bench_dist_eval.py                     # tiny-causal, 400 examples
    PYTHONPATH=src .venv/bin/python bench/bench_dist_eval.py --model smollm2-135m --data rotten_tomatoes \
        --sample 300
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


def _toy_data(path: Path, n: int) -> str:
    rng = random.Random(0)
    words = ["great", "dull", "moving", "boring", "fun", "weak", "the film", "the plot", "was", "and"]
    rows = [{"text": " ".join(rng.choice(words) for _ in range(rng.randint(4, 30))),
             "label": rng.choice(["positive", "negative"])} for _ in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-causal")
    ap.add_argument("--data", default=None)
    ap.add_argument("--split", default="all")
    ap.add_argument("--sample", type=int, default=None)
    ap.add_argument("--rows", type=int, default=400, help="rows of the toy data (when --data is not given)")
    ap.add_argument("--shard-size", type=int, default=50)
    args = ap.parse_args()

    (ROOT / "bench" / ".work").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-dist-", dir=ROOT / "bench" / ".work"))
    os.environ.update({"PROMPTYARD_WORKDIR": str(work / "w"), "PROMPTYARD_HOME": str(work / "h"),
                       "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "RAY_AUTH_MODE": "disabled"})
    from promptyard.evals.distributed import DistributedStats, run_cells_distributed
    from promptyard.evals.suite import parse_suite
    from promptyard.evals.suite_run import run_cells
    from promptyard.registry.api import Registry
    from promptyard.runtime.ray_session import local_cluster

    reg = Registry.open(work / "registry.db", create=True)
    reg.commit("sent", {"kind": "single", "text": "Review: {{ text }}\nSentiment:"}, task_type="classification")
    data = args.data or _toy_data(work / "toy.jsonl", args.rows)
    suite = parse_suite({"name": "bench", "data": [{"ref": data, "split": args.split, "sample": args.sample}],
                         "prompts": ["sent@1"], "models": [args.model], "metrics": ["accuracy"],
                         "decoding": {"batch_size": 16}, "n_boot": 100})
    cells = [c.with_registry(str(reg.path)) for c in suite.cells]
    run_cells(cells[:1], registry=reg, cache=None)  # warm the model cache (conversion is not inference)

    t0 = time.perf_counter()
    local = run_cells(cells, registry=reg, cache=None)
    local_wall = time.perf_counter() - t0
    n = sum(len(r.examples) for r in local)
    rows = [("in-process", n / local_wall, local_wall, None)]
    for nodes in (1, 2):
        with local_cluster(nodes, cpus_per_node=1, head_cpus=0):
            stats = DistributedStats()
            # one warm-up shard per actor is not excluded: loading the model is part of Ray's cost
            t0 = time.perf_counter()
            remote = run_cells_distributed(cells, registry=reg, cache=None, shard_size=args.shard_size,
                                           stats=stats)
            wall = time.perf_counter() - t0
        actors = stats.actors_started
        overhead = 1 - stats.worker_s / (wall * actors)
        same = all([e.prediction for e in a.examples] == [e.prediction for e in b.examples]
                   for a, b in zip(local, remote, strict=True))
        rows.append((f"Ray, {nodes} node(s)", n / wall, wall, overhead))
        assert same, "distributed predictions differ from the in-process run"
    print(f"model={args.model} examples={n} shard_size={args.shard_size} (cores on this machine: "
          f"{len(os.sched_getaffinity(0))})")
    print(f"{'':20}{'examples/s':>12}{'wall s':>10}{'Ray overhead':>14}")
    for name, rate, wall, overhead in rows:
        over = "" if overhead is None else f"{overhead:.1%}"
        print(f"{name:20}{rate:>12.1f}{wall:>10.1f}{over:>14}")
    print(f"speed-up 2 nodes vs in-process: {rows[2][1] / rows[0][1]:.2f}x; "
          f"2 vs 1 node: {rows[2][1] / rows[1][1]:.2f}x; predictions identical: yes")


if __name__ == "__main__":
    main()
