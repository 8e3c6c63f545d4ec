"""How well a judge model separates right answers from wrong ones: eight hand-written questions, each judged with
its right answer and with a wrong one, through the ``judge`` metric's own code and the host's context (the same
path ``eval run --metric judge`` takes). Prints, per judge prompt, the mean score of right and of wrong answers and
in how many of the eight pairs the right answer scored higher.

    PYTHONPATH=src .venv/bin/python bench/bench_judge.py                       # the embedded SmolLM2, scoring=choices
    PYTHONPATH=src .venv/bin/python bench/bench_judge.py --model /path/to/bigger-model --chat
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

QA = [("What is the capital of France?", "Paris", "Berlin"), ("What is two plus two?", "four", "seven"),
      ("What colour is the sky on a clear day?", "blue", "green"), ("What is the opposite of hot?", "cold", "tall"),
      ("What animal says meow?", "a cat", "a cow"), ("How many legs does a spider have?", "eight", "three"),
      ("What do bees make?", "honey", "milk"), ("What is frozen water called?", "ice", "sand")]
PROMPTS = {
    "question": "Question: {{ input }}\nCorrect answer: {{ reference }}\nGiven answer: {{ reply }}\n"
                "Is the given answer correct? Answer yes or no.\nAnswer:",
    "same": "Answer A: {{ reference }}\nAnswer B: {{ reply }}\nDo A and B say the same thing?",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--scoring", default="choices", choices=("choices", "generate"))
    ap.add_argument("--chat", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from promptyard.evals.judging import JudgeContext
    from promptyard.evals.modelpool import ModelPool
    from promptyard.plugins.metrics.judge import JUDGE, JudgeConfig

    pool = ModelPool()
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in PROMPTS.items():
            path = Path(tmp) / f"{name}.json"
            path.write_text(json.dumps({"template": {"kind": "single", "text": text}}))
            config = JudgeConfig(prompt=str(path), model=args.model, scoring=args.scoring, chat=args.chat)
            context = JudgeContext("judge", config, variables=[])
            JUDGE.prepare(context)
            context.pool = pool
            t0 = time.perf_counter()
            right = JUDGE.judge(context, [{"input": q, "reply": a, "reference": a} for q, a, _ in QA])
            wrong = JUDGE.judge(context, [{"input": q, "reply": w, "reference": a} for q, a, w in QA])
            wins = sum(r > w for r, w in zip(right, wrong, strict=True))
            print(f"{name:9} {args.model} scoring={args.scoring} chat={args.chat}: right {sum(right) / 8:.3f}  "
                  f"wrong {sum(wrong) / 8:.3f}  right > wrong in {wins}/8 pairs  ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
