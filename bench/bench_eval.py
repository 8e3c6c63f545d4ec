"""Evaluation benchmarks (see bench/README.md). Prints examples/s, accuracy and ratios against peers.

1. Classification on SmolLM2, N rotten_tomatoes reviews, choices " positive"/" negative":
   promptyard's runner vs (a) a plain per-example Hugging Face loop and (b) lm-evaluation-harness's
   ``hf`` backend (batch 16), run in the separate venv /work/bench-venv-lmeval (``--lmeval-python``).
2. Re-running an unchanged suite (response cache) vs its first run.
3. K LoRA adapters on one base: switching adapters on one loaded base vs reloading the base per adapter.

    PYTHONPATH=src python bench/bench_eval.py [--n 500] [--skip-lmeval] [--only classify,cache,adapters]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")

from promptyard.evals.modelpool import ModelPool  # noqa: E402 - light (no torch at import)

TEMPLATE = "Review: {{ text }}\nSentiment:"
CHOICES = [" positive", " negative"]
LMEVAL_PYTHON = "/work/bench-venv-lmeval/bin/python"


def examples(n: int, seed: int = 0) -> list[dict]:
    from promptyard.core.lookups import load_dataset
    from promptyard.evals.cells import select_indices

    rows = load_dataset("rotten_tomatoes").split(seed=seed)["test"].rows
    return [rows[i] for i in select_indices(len(rows), n, seed)]


def template_file(folder: Path) -> str:
    path = folder / "sentiment.json"
    path.write_text(json.dumps({"template": {"kind": "single", "text": TEMPLATE}, "task_type": "sentiment"}))
    return str(path)


def plain_loop(loaded, rows) -> tuple[float, float]:
    """(a): one forward per (example, choice), full logits, no batching: what a first script does."""
    import torch

    tok, model = loaded.tokenizer, loaded.model
    correct = 0
    t0 = time.perf_counter()
    for row in rows:
        prompt = f"Review: {row['text']}\nSentiment:"
        prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        scores = []
        for choice in CHOICES:
            cont = tok(choice, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([prompt_ids + cont])
            with torch.inference_mode():
                logprobs = torch.log_softmax(model(ids).logits[0].float(), -1)
            scores.append(sum(float(logprobs[len(prompt_ids) - 1 + k, t]) for k, t in enumerate(cont)))
        label = "positive" if scores[0] >= scores[1] else "negative"
        correct += label == row["label"]
    return len(rows) / (time.perf_counter() - t0), correct / len(rows)


LMEVAL_SCRIPT = r"""
import json, sys, time
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
folder, data_file = sys.argv[1], sys.argv[2]
rows = json.load(open(data_file))
lm = HFLM(pretrained=folder, batch_size=16, device="cpu", dtype="float32")
reqs = [Instance(request_type="loglikelihood", doc={}, arguments=(f"Review: {r['text']}\nSentiment:", c), idx=j)
        for r in rows for j, c in enumerate([" positive", " negative"])]
t0 = time.perf_counter()
out = lm.loglikelihood(reqs, disable_tqdm=True)
dt = time.perf_counter() - t0
correct = sum(("positive" if out[2 * i][0] >= out[2 * i + 1][0] else "negative") == r["label"]
              for i, r in enumerate(rows))
print(json.dumps({"examples_per_s": len(rows) / dt, "accuracy": correct / len(rows)}))
"""


def lm_eval_harness(folder: str, rows, python: str) -> tuple[float, float] | None:
    """(b): lm-evaluation-harness ``hf`` backend, batch 16, same examples and choices (separate venv)."""
    if not Path(python).exists():
        print(f"  (b) skipped: {python} not found (see bench/README.md)")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rows.json"
        data.write_text(json.dumps([{"text": r["text"], "label": r["label"]} for r in rows]))
        script = Path(tmp) / "run_lmeval.py"
        script.write_text(LMEVAL_SCRIPT)
        done = subprocess.run([python, str(script), folder, str(data)], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": ""})
    if done.returncode != 0:
        print("  (b) failed:\n" + done.stderr[-2000:])
        return None
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["examples_per_s"], result["accuracy"]


def bench_classify(n: int, skip_lmeval: bool, lmeval_python: str, skip_plain: bool = False,
                   fast: bool = False) -> None:
    from promptyard.core.lookups import load_model
    from promptyard.plugins.model_loaders import smollm2_folder

    rows = examples(n)
    loaded = load_model("smollm2-135m")
    loaded.model.eval()
    ours, exact = run_cell_on(loaded, n)
    print(f"classification, SmolLM2-135M, {n} rotten_tomatoes reviews, choices {CHOICES}")
    print(f"  promptyard runner (batch 16):   {ours[0]:6.2f} examples/s  accuracy {ours[1]:.4f}  ({loadavg()})")
    if fast:
        bench_fast(loaded, n, ours, exact)
    if not skip_plain:
        plain = plain_loop(loaded, rows)
        print(f"  (a) plain per-example HF loop:  {plain[0]:6.2f} examples/s  accuracy {plain[1]:.4f}  "
              f"ratio {ours[0] / plain[0]:.2f}x (goal >= 2.5x)  ({loadavg()})")
    if not skip_lmeval:
        peer = lm_eval_harness(str(smollm2_folder()), rows, lmeval_python)
        if peer:
            print(f"  (b) lm-eval-harness hf, b=16:   {peer[0]:6.2f} examples/s  accuracy {peer[1]:.4f}  "
                  f"ratio {ours[0] / peer[0]:.2f}x (goal >= 1.4x; >= 1.25x under load)  ({loadavg()})")
            if fast:
                for name, rate in FAST_RATES.items():
                    print(f"      {name} vs lm-eval: {rate / peer[0]:.2f}x (goal >= 1.5x with <= 1% flipped)")


FAST_RATES: dict[str, float] = {}


def run_cell_on(loaded, n: int, **decoding) -> tuple[tuple[float, float], list[str]]:
    """The runner on one classification cell (cache off): (examples/s, accuracy), and the predictions."""
    from promptyard.evals.cells import prepare_cell
    from promptyard.evals.modelpool import ModelPool
    from promptyard.evals.runner import run_prepared
    from promptyard.evals.suite import CellSpec
    from promptyard.plugins.metrics import load_module

    load_module("accuracy")  # importing `evaluate` (~6 s) is a once-per-process cost, not throughput
    with tempfile.TemporaryDirectory() as tmp:
        spec = CellSpec(prompt=template_file(Path(tmp)), model="smollm2-135m", data="rotten_tomatoes", sample=n,
                        task="sentiment", choices=tuple(CHOICES), metrics=("accuracy",),
                        decoding={"batch_size": 16, **decoding})
        prepared = prepare_cell(spec)
        pool = ModelPool()
        pool._bases["smollm2-135m"] = loaded
        t0 = time.perf_counter()
        with pool.use("smollm2-135m") as model:
            result = run_prepared(prepared, model, cache=None)
        took = time.perf_counter() - t0
    return (n / took, result.metric("accuracy").value), [e.prediction for e in result.examples]


def bench_fast(loaded, n: int, ours, exact: list[str]) -> None:
    """The opt-in precision modes: speed, and predictions that differ from exact fp32 scoring."""
    from promptyard.runtime import inference, precision
    from promptyard.runtime.threads import tuned_threads

    if not precision.cpu_bf16_native():
        print("  bf16: this CPU has no native bf16 (AMX / AVX512-BF16); the mode is refused here")
        return
    prompts = [f"Review: {r['text']}\nSentiment:" for r in examples(n)]
    # pure bf16 (nothing re-checked), straight through the scoring function: the floor of the mode
    inference.score_choices_bf16(loaded, prompts[:16], CHOICES, state_key="bench", recheck_margin=0)  # the copy
    with tuned_threads() as tuner:  # the thread count the runner would use, so only the precision differs
        tuner.step()
        t0 = time.perf_counter()
        raw, _ = inference.score_choices_bf16(loaded, prompts, CHOICES, state_key="bench", recheck_margin=0)
        raw_rate = n / (time.perf_counter() - t0)
    raw_pred = ["positive" if a >= b else "negative" for a, b in raw]
    flipped = sum(a != b for a, b in zip(raw_pred, exact, strict=True))
    print(f"  bf16, no re-check (scoring only): {raw_rate:6.2f} examples/s  flipped vs fp32 {flipped}/{n} "
          f"({100 * flipped / n:.1f}%)  ({loadavg()})")
    (rate, acc), preds = run_cell_on(loaded, n, precision="bf16")
    flipped = sum(a != b for a, b in zip(preds, exact, strict=True))
    print(f"  runner --precision bf16:        {rate:6.2f} examples/s  accuracy {acc:.4f}  flipped vs fp32 "
          f"{flipped}/{n} ({100 * flipped / n:.1f}%)  {rate / ours[0]:.2f}x fp32  ({loadavg()})")
    FAST_RATES["runner --precision bf16"] = rate
    FAST_RATES["bf16, no re-check"] = raw_rate
    precision.forget()


def bench_cache(n: int) -> None:
    from promptyard.evals.modelpool import ModelPool
    from promptyard.evals.suite import parse_suite
    from promptyard.evals.suite_run import run_cells

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PROMPTYARD_CACHE"] = str(Path(tmp) / "cache")  # an empty response cache for this bench
        prompt = template_file(Path(tmp))
        suite = parse_suite({"data": [{"ref": "rotten_tomatoes", "sample": n}], "prompts": [prompt],
                             "models": ["smollm2-135m"], "task": "sentiment", "choices": CHOICES,
                             "metrics": ["accuracy"]})
        pool = ModelPool()
        pool._base("smollm2-135m")  # loading the model is not what the cache saves; time the suite itself
        t0 = time.perf_counter()
        first = run_cells(suite.cells, pool=pool)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = run_cells(suite.cells, pool=pool)
        t_again = time.perf_counter() - t0
    assert again[0].cache_hits == n and again[0].metric("accuracy").value == first[0].metric("accuracy").value
    print(f"unchanged suite re-run ({n} examples): first {t_first:.2f}s, re-run {t_again:.2f}s = "
          f"{100 * t_again / t_first:.1f}% of the first (goal <= 5%)")


def bench_adapters(n: int, k: int) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    from promptyard.core.lookups import load_dataset, load_model
    from promptyard.evals.suite import parse_suite
    from promptyard.evals.suite_run import run_cells
    from promptyard.plugins.metrics import load_module
    from promptyard.registry.api import Registry

    with tempfile.TemporaryDirectory() as tmp:
        # the runner stores runs in a registry: a throwaway one, so the benchmark never writes to the user's
        os.environ["PROMPTYARD_REGISTRY"] = str(Path(tmp) / "registry.db")
        with Registry.open(os.environ["PROMPTYARD_REGISTRY"], create=True):
            pass
        folders = []
        for i in range(k):
            model = get_peft_model(load_model("smollm2-135m").model,
                                   LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
            torch.manual_seed(i)
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if "lora_B" in name:
                        p.normal_(0, 0.01)
            folder = Path(tmp) / f"lora{i}"
            model.save_pretrained(folder)
            folders.append(str(folder))
        suite = parse_suite({"data": [{"ref": "rotten_tomatoes", "sample": n}], "prompts": [template_file(Path(tmp))],
                             "models": [{"model": "smollm2-135m", "adapters": folders}], "task": "sentiment",
                             "choices": CHOICES, "metrics": ["accuracy"]})
        load_module("accuracy")  # once-per-process costs (importing `evaluate`, parsing the data) paid up front
        load_dataset("rotten_tomatoes")
        run_cells(suite.cells[:1], cache=None, pool=TimedPool(reuse=True))  # warm-up: kernels, lazy imports
        timings, ready, accs = {}, {}, {}
        for reuse in (False, True, True, False):  # each arm twice, in both orders; the faster run counts
            pool = TimedPool(reuse=reuse)
            t0 = time.perf_counter()
            results = run_cells(suite.cells, cache=None, pool=pool)
            took = time.perf_counter() - t0
            if took < timings.get(reuse, float("inf")):
                timings[reuse], ready[reuse] = took, pool.ready_s
            accs[reuse] = [round(r.metric("accuracy").value, 4) for r in results]
    assert accs[True] == accs[False], accs
    print(f"{k} LoRA adapters x {n} examples, SmolLM2-135M (best of 2 runs per arm):")
    print(f"  model ready per adapter: switched {ready[True] / k:.3f}s, base reloaded {ready[False] / k:.3f}s; "
          f"ratio {ready[False] / ready[True]:.1f}x")
    print(f"  whole suite: switched {timings[True]:.1f}s, base reloaded per adapter {timings[False]:.1f}s; "
          f"ratio {timings[False] / timings[True]:.2f}x (goal >= 2x); accuracies {accs[True]} (equal in both)")


class TimedPool(ModelPool):
    """A ModelPool that adds up the time spent getting each cell's model ready (load, attach, switch)."""

    ready_s = 0.0

    @contextlib.contextmanager
    def use(self, ref, adapter=None):
        t0 = time.perf_counter()
        with super().use(ref, adapter) as loaded:
            self.ready_s += time.perf_counter() - t0
            yield loaded


BURNER = "while True:\n    pass\n"


@contextlib.contextmanager
def cpu_load(n: int):
    """N CPU-bound burner processes (a busy loop each) for the duration of the block: load made on purpose."""
    procs = [subprocess.Popen([sys.executable, "-c", BURNER]) for _ in range(n)]
    try:
        if procs:
            time.sleep(1.0)  # let the scheduler see them before anything is timed
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def loadavg() -> str:
    """The 1/5/15-minute load averages, printed beside each figure (the machine is shared)."""
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--cache-n", type=int, default=200)
    parser.add_argument("--adapter-n", type=int, default=32)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--skip-lmeval", action="store_true")
    parser.add_argument("--skip-plain", action="store_true", help="leave out the (slow) plain per-example loop")
    parser.add_argument("--fast", action="store_true",
                        help="also measure --precision bf16: speed and predictions flipped vs exact fp32")
    parser.add_argument("--lmeval-python", default=LMEVAL_PYTHON)
    parser.add_argument("--only", default="classify,cache,adapters")
    parser.add_argument("--load", type=int, default=0,
                        help="start N CPU-bound burner processes for the whole run (both sides are measured under it)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    with cpu_load(args.load):
        run_parts(args, parts)


def run_parts(args, parts) -> None:
    if "classify" in parts:
        bench_classify(args.n, args.skip_lmeval, args.lmeval_python, args.skip_plain, args.fast)
    if "cache" in parts:
        bench_cache(args.cache_n)
    if "adapters" in parts:
        bench_adapters(args.adapter_n, args.k)


if __name__ == "__main__":
    sys.exit(main())
