"""Batched generation: promptyard's runner against Hugging Face ``generate`` with the same settings.

SmolLM2-135M-Instruct answers N rotten_tomatoes reviews in its chat template ("Is this review positive or
negative? Explain briefly."; ``--data bbc_news``: summarises news articles, long prompts), greedy, the same
``max_new_tokens`` and batch size on both sides:

- promptyard: ``prepare_cell`` + ``run_prepared`` on a generation cell (cache off), i.e.
  ``runtime.inference.generate`` (greedy: :mod:`promptyard.runtime.decoding`) plus the runner's bookkeeping;
- HF: the prompts in their order, batches of the same size, left padding, ``model.generate(do_sample=False)``,
  the new tokens decoded with ``skip_special_tokens`` — what a script written against transformers does;
  then the same with the prompts sorted by length first (what promptyard's generation did before its own loop).

It prints the rates, the ratios (goal >= 1.5x) and how many replies differ (goal 0: greedy is deterministic).
``--account`` also times the loop with each of its parts taken away in turn (shared prefix, packed weights
of the layers other than the output layer, all packed weights, continuous batching), to say what each is worth.

    PYTHONPATH=src python bench/bench_generate.py [--n 64] [--max-new-tokens 32] [--batch 8] [--load N] [--account]
"""

from __future__ import annotations

import argparse
import json
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

#: the data set -> (what a reply is asked for, the rows called)
TASKS = {"rotten_tomatoes": ("Is this movie review positive or negative? Explain briefly.\n\n{{ text }}", "reviews"),
         "bbc_news": ("Summarise this news article in one sentence.\n\n{{ text }}", "news articles")}
TEMPLATE = TASKS["rotten_tomatoes"][0]


def hf_generate(loaded, prompts: list[str], max_new_tokens: int, batch: int,
                sort: bool = False) -> tuple[float, list[str]]:
    """Plain transformers: batches in the given order (or by length), left padding, greedy ``generate``."""
    import torch

    tok, model = loaded.tokenizer, loaded.model
    tok.padding_side = "left"
    order = sorted(range(len(prompts)), key=lambda i: len(tok(prompts[i])["input_ids"])) if sort \
        else list(range(len(prompts)))
    out: dict[int, str] = {}
    t0 = time.perf_counter()
    for b in range(0, len(order), batch):
        rows = order[b:b + batch]
        enc = tok([prompts[i] for i in rows], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            result = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        new = tok.batch_decode(result[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        out.update(zip(rows, new, strict=True))
    return len(prompts) / (time.perf_counter() - t0), [out[i] for i in range(len(prompts))]


def account(loaded, prompts: list[str], max_new_tokens: int, batch: int, replies: list[str]) -> None:
    """The greedy loop whole, then without each of its parts (the same prompts, timed one after another)."""
    import contextlib

    from promptyard.runtime import decoding
    from promptyard.runtime.inference import generate

    def without_batching(model, encoded, *, batch_size, **kwargs):  # fixed batches, by length: no row joins late
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out = [None] * len(encoded)
        for b in range(0, len(order), batch_size):
            rows = order[b:b + batch_size]
            for i, reply in zip(rows, whole(model, [encoded[i] for i in rows], batch_size=batch_size, **kwargs),
                                strict=True):
                out[i] = reply
        return out

    whole, min_prefix, packed = decoding.greedy, decoding.MIN_PREFIX, decoding.packed_weights
    variants = {"the whole loop": {}, "without the shared prefix": {"MIN_PREFIX": 10 ** 9},
                "without packing the other layers": {"packed_weights": lambda model, rows, body: packed(model, rows,
                                                                                                         False)},
                "without packed weights": {"packed_weights": lambda model, rows, body: contextlib.nullcontext()},
                "without continuous batching": {"greedy": without_batching}}
    for label, patch in variants.items():
        for name, value in patch.items():
            setattr(decoding, name, value)
        try:
            t0 = time.perf_counter()
            got = generate(loaded, prompts, max_new_tokens=max_new_tokens, batch_size=batch)
            rate = len(prompts) / (time.perf_counter() - t0)
        finally:
            decoding.greedy, decoding.MIN_PREFIX, decoding.packed_weights = whole, min_prefix, packed
        differ = sum(a != b for a, b in zip(got, replies, strict=True))
        print(f"    {label:34} {rate:6.2f} examples/s  replies that differ from the runner's: {differ}")


def promptyard_generate(n: int, max_new_tokens: int, batch: int, precision: str | None = None,
                        data: str = "rotten_tomatoes"):
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
        path.write_text(json.dumps({"template": {"kind": "single", "text": TASKS[data][0]}}))
        spec = CellSpec(prompt=str(path), model="smollm2-135m", data=data, sample=n, task="generation",
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
    parser.add_argument("--data", choices=sorted(TASKS), default="rotten_tomatoes",
                        help="reviews to explain, or news articles to summarise (long prompts)")
    parser.add_argument("--account", action="store_true", help="also time the loop without each of its parts")
    args = parser.parse_args()
    with cpu_load(args.load):
        loaded, prompts, ours, replies = promptyard_generate(args.n, args.max_new_tokens, args.batch,
                                                             data=args.data)
        print(f"generation, SmolLM2-135M-Instruct, {args.n} {args.data} {TASKS[args.data][1]}, greedy, "
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
        differ = sum(a != b for a, b in zip(replies, theirs, strict=True))
        print(f"  HF generate, {chosen} thread(s) as the runner chose: {peer:6.2f} examples/s  "
              f"ratio {ours / peer:.2f}x  "
              f"replies that differ: {differ}/{args.n}  ({loadavg()})")
        peer, theirs = hf_generate(loaded, prompts, args.max_new_tokens, args.batch, sort=True)
        differ = sum(a != b for a, b in zip(replies, theirs, strict=True))
        print(f"  HF generate, length-sorted batches, {chosen} thread(s): {peer:6.2f} examples/s  "
              f"ratio {ours / peer:.2f}x  replies that differ: {differ}/{args.n}  ({loadavg()})")
        if args.account:
            print("  the greedy loop, part by part (runtime.inference.generate alone, no runner):")
            account(loaded, prompts, args.max_new_tokens, args.batch, replies)
        torch.set_num_threads(default)


if __name__ == "__main__":
    sys.exit(main())
