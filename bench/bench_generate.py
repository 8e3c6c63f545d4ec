"""Batched generation: promptyard's runner against Hugging Face ``generate`` with the same settings.

SmolLM2-135M-Instruct answers N rotten_tomatoes reviews in its chat template ("Is this review positive or
negative? Explain briefly."), greedy, the same ``max_new_tokens`` and batch size on both sides:

- promptyard: ``prepare_cell`` + ``run_prepared`` on a generation cell (cache off), i.e.
  ``runtime.inference.generate`` plus the runner's bookkeeping;
- HF: the prompts in their order, batches of the same size, left padding, ``model.generate(do_sample=False)``,
  the new tokens decoded with ``skip_special_tokens`` — what a script written against transformers does.

It prints both rates, the ratio (goal >= 1.5x) and how many replies differ (goal 0: greedy is deterministic).

    PYTHONPATH=src python bench/bench_generate.py [--n 64] [--max-new-tokens 32] [--batch 8] [--load N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).parent))
from bench_eval import cpu_load, loadavg  # noqa: E402 - the same data and load helpers

TEMPLATE = "Is this movie review positive or negative? Explain briefly.\n\n{{ text }}"


def hf_generate(loaded, prompts: list[str], max_new_tokens: int, batch: int) -> tuple[float, list[str]]:
    """Plain transformers: batches in the given order, left padding, greedy ``generate``."""
    import torch

    tok, model = loaded.tokenizer, loaded.model
    tok.padding_side = "left"
    out: list[str] = []
    t0 = time.perf_counter()
    for b in range(0, len(prompts), batch):
        enc = tok(prompts[b:b + batch], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            result = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        out += tok.batch_decode(result[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return len(prompts) / (time.perf_counter() - t0), out


def promptyard_generate(n: int, max_new_tokens: int, batch: int, precision: str | None = None):
    from promptyard.core.lookups import load_model
    from promptyard.evals.cells import prepare_cell
    from promptyard.evals.runner import format_prompts, run_prepared
    from promptyard.evals.suite import CellSpec
    from promptyard.plugins.metrics import load_module
    from promptyard.runtime.inference import generate

    loaded = load_model("smollm2-135m")
    loaded.model.eval()
    load_module("exact_match")  # importing `evaluate` is a once-per-process cost, not throughput
    decoding = {"batch_size": batch, "max_new_tokens": max_new_tokens, "chat": True}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ask.json"
        path.write_text('{"template": {"kind": "single", "text": ' + repr(TEMPLATE).replace("'", '"') + "}}")
        spec = CellSpec(prompt=str(path), model="smollm2-135m", data="rotten_tomatoes", sample=n, task="generation",
                        scoring="generate", metrics=("exact_match",), decoding=decoding)
        prepared = prepare_cell(spec)
        prompts = format_prompts(prepared, loaded.tokenizer)
        generate(loaded, prompts[:batch], max_new_tokens=2, batch_size=batch)  # warm-up (one-off costs)
        t0 = time.perf_counter()
        result = run_prepared(prepared, loaded, cache=None)
        rate = n / (time.perf_counter() - t0)
    return loaded, prompts, rate, [e.output for e in result.examples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--load", type=int, default=0, help="N CPU-bound burner processes during both measurements")
    args = parser.parse_args()
    with cpu_load(args.load):
        loaded, prompts, ours, replies = promptyard_generate(args.n, args.max_new_tokens, args.batch)
        print(f"generation, SmolLM2-135M-Instruct, {args.n} rotten_tomatoes reviews, greedy, "
              f"max_new_tokens {args.max_new_tokens}, batch {args.batch}; {args.load} burner(s)")
        print(f"  promptyard runner:        {ours:6.2f} examples/s  ({loadavg()})")
        peer, theirs = hf_generate(loaded, prompts, args.max_new_tokens, args.batch)
        differ = sum(a != b for a, b in zip(replies, theirs, strict=True))
        print(f"  HF generate, same order:  {peer:6.2f} examples/s  ratio {ours / peer:.2f}x (goal >= 1.5x)  "
              f"replies that differ: {differ}/{args.n} (goal 0)  ({loadavg()})")
        # the same again with the thread count the runner chose last, so the ratio shows the generation path alone
        import torch

        from promptyard.runtime import threads

        chosen = threads._recent.get("threads", torch.get_num_threads())
        default = torch.get_num_threads()
        torch.set_num_threads(chosen)
        peer, theirs = hf_generate(loaded, prompts, args.max_new_tokens, args.batch)
        torch.set_num_threads(default)
        differ = sum(a != b for a, b in zip(replies, theirs, strict=True))
        print(f"  HF generate, {chosen} thread(s) as the runner chose: {peer:6.2f} examples/s  "
              f"ratio {ours / peer:.2f}x  "
              f"replies that differ: {differ}/{args.n}  ({loadavg()})")


if __name__ == "__main__":
    sys.exit(main())
