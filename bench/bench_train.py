"""Training throughput: promptyard's loop vs a plain HF ``Trainer`` + PEFT script, side by side, per method.

Same model (SmolLM2-135M), same 400 mixed-length rotten_tomatoes rows rendered through the same
prompt (identical token ids and masked labels), batch 8, one epoch, same lr and seed, dynamic padding in
both, for each method on q/v: LoRA r=8, DoRA (LoRA r=8 with ``use_dora``) and LoHa r=8 (``peft:loha``, the
generic peft method). Each side of each method runs in its own fresh process; the table shows real
(non-padding) tokens/s, the padding share of every batch, peak RSS, and validation loss measured by the
same function on the same validation rows.

Run: ``PYTHONPATH=src python bench/bench_train.py [--rows 400] [--val 100] [--methods lora,dora,loha]
[--threads N]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROMPT = "Review: {{ text }}\nSentiment:"


#: per bench method: promptyard's --method and --set, and the peft config the Trainer script builds
METHODS = {
    "lora": ("lora", {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "q_proj,v_proj"},
             ("LoraConfig", {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05})),
    "dora": ("lora", {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "q_proj,v_proj", "use_dora": True},
             ("LoraConfig", {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "use_dora": True})),
    "loha": ("peft:loha", {"r": 8, "alpha": 16, "target_modules": "q_proj,v_proj"},
             ("LoHaConfig", {"r": 8, "alpha": 16})),
}


def spec(rows: int, lr: float, method: str = "lora", val: int = 100):
    from promptyard.core.template import Template
    from promptyard.tuning.spec import TrainSpec

    name, settings, _ = METHODS[method]
    return TrainSpec(model="smollm2-135m", data="rotten_tomatoes", method=name, task="sentiment", seed=0,
                     prompt=Template(kind="single", text=PROMPT), quiet=True,
                     config={**settings, "lr": lr, "batch_size": 8, "epochs": 1, "train_sample": rows,
                             "val_sample": val, "eval_every": 0, "patience": 0, "keep": "last", "max_length": 512})


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def val_loss(model, prep) -> float:
    """Mean target-token loss on the validation rows: the same function for both sides."""
    import torch

    from promptyard.tuning.loop import evaluate

    return evaluate(model, prep, torch.device("cpu"), None)["val_loss"]


def run_promptyard(rows: int, lr: float, method: str, val: int) -> dict:
    from promptyard.tuning.loop import train

    result = train(spec(rows, lr, method, val))
    m = result.metrics
    return {"tokens_per_s": m["tokens_per_s"], "padding_share": m["padding_share"],
            "val_loss": result.history[-1]["val_loss"], "train_time_s": m["train_time_s"],
            "real_tokens": m["train_tokens"], "peak_rss_mb": peak_rss_mb()}


def run_trainer(rows: int, lr: float, method: str, val: int) -> dict:
    """What a user would write: HF Trainer, the PEFT config, DataCollatorForSeq2Seq padding per batch."""
    import tempfile
    import time
    import warnings

    import peft
    import torch
    from peft import get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from promptyard.tuning.loop import seed_everything
    from promptyard.tuning.plan import plan_run, prepare

    warnings.filterwarnings("ignore")
    prep = prepare(plan_run(spec(rows, lr, method, val)))  # the very same token ids and labels as our loop sees
    tok, base = prep.loaded.tokenizer, prep.loaded.model
    seed_everything(0)
    config_name, config = METHODS[method][2]
    model = get_peft_model(base, getattr(peft, config_name)(task_type="CAUSAL_LM", target_modules=["q_proj", "v_proj"],
                                                          **config))
    counts = {"real": 0, "padded": 0}
    seq2seq = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100, return_tensors="pt")

    def collator(features):
        batch = seq2seq(features)
        real = int(batch["attention_mask"].sum())
        counts["real"] += real
        counts["padded"] += batch["input_ids"].numel() - real
        return batch

    train_rows = [{"input_ids": f["input_ids"], "attention_mask": [1] * len(f["input_ids"]),
                   "labels": f["labels"]} for f in prep.train]
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=8, num_train_epochs=1,
                                 learning_rate=lr, lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0,
                                 max_grad_norm=1.0, seed=0, logging_steps=10, save_strategy="no", report_to=[],
                                 disable_tqdm=True, use_cpu=not torch.cuda.is_available(),
                                 dataloader_num_workers=0)
        trainer = Trainer(model=model, args=args, train_dataset=train_rows, data_collator=collator)
        t0 = time.perf_counter()
        trainer.train()
        elapsed = time.perf_counter() - t0
    return {"tokens_per_s": counts["real"] / elapsed, "real_tokens": counts["real"], "train_time_s": elapsed,
            "padding_share": counts["padded"] / (counts["real"] + counts["padded"]),
            "val_loss": val_loss(model, prep), "peak_rss_mb": peak_rss_mb()}


def child(which: str, rows: int, lr: float, threads: int, method: str, val: int) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
    run = run_promptyard if which == "promptyard" else run_trainer
    print("RESULT " + json.dumps(run(rows, lr, method, val)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--val", type=int, default=100, help="validation rows")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--methods", default="lora,dora,loha", help=f"comma separated, from {', '.join(METHODS)}")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--child", choices=["promptyard", "trainer"])
    parser.add_argument("--method", default="lora", choices=list(METHODS))
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, args.lr, args.threads, args.method, args.val)
        return
    methods = [m for m in args.methods.split(",") if m]
    results: dict[str, dict] = {}
    for method in methods:
        for which in ("trainer", "promptyard"):
            proc = subprocess.run([sys.executable, __file__, "--child", which, "--method", method,
                                   "--rows", str(args.rows), "--val", str(args.val), "--lr", str(args.lr),
                                   "--threads", str(args.threads)], capture_output=True, text=True)
            line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"{method} / {which} failed:\n{proc.stderr[-3000:]}")
            results[f"{method}/{which}"] = json.loads(line[len("RESULT "):])
            print(f"{method}/{which}: {line[len('RESULT '):]}", flush=True)  # kept if a later side is cut off
    print(f"SmolLM2-135M, r=8 on q/v, batch 8, {args.rows} rotten_tomatoes rows, 1 epoch, lr {args.lr}, "
          f"{args.val} validation rows; load before: {os.getloadavg()[0]:.2f}")
    print(f"{'':24}" + "".join(f"{m + ' Trainer':>16}{m + ' promptyard':>18}" for m in methods))
    rows = [("real tokens/s", "tokens_per_s", "{:.0f}"), ("padding share", "padding_share", "{:.1%}"),
            ("real tokens", "real_tokens", "{:.0f}"), ("train time (s)", "train_time_s", "{:.1f}"),
            ("validation loss", "val_loss", "{:.4f}"), ("peak RSS (MB)", "peak_rss_mb", "{:.0f}")]
    for label, key, fmt in rows:
        print(f"{label:24}" + "".join(f"{fmt.format(results[m + '/trainer'][key]):>16}"
                                      f"{fmt.format(results[m + '/promptyard'][key]):>18}" for m in methods))
    for method in methods:
        ours, theirs = results[f"{method}/promptyard"], results[f"{method}/trainer"]
        ratio = ours["tokens_per_s"] / theirs["tokens_per_s"]
        print(f"{method}: throughput ratio (promptyard / Trainer) {ratio:.2f}x, "
              f"peak RSS ratio {ours['peak_rss_mb'] / theirs['peak_rss_mb']:.2f}x, "
              f"validation loss {ours['val_loss']:.4f} vs {theirs['val_loss']:.4f}")


if __name__ == "__main__":
    main()
