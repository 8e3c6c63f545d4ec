"""Run in a fresh process: load a registered adapter onto its base model and print logits as JSON."""

from __future__ import annotations

import json
import sys


def logits_of(loaded, texts):
    import torch

    tok = loaded.tokenizer
    out = []
    for text in texts:
        ids = tok(text, add_special_tokens=loaded.kind == "encoder")["input_ids"]
        with torch.no_grad():
            logits = loaded.model(input_ids=torch.tensor([ids])).logits[0]
        out.append(logits[-1].tolist() if logits.dim() == 2 else logits.tolist())
    return out


def main() -> None:
    from promptyard.registry.api import Registry
    from promptyard.runtime.adapter_loading import load_adapted

    registry_file, ref, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    with Registry.open(registry_file) as registry:
        folder = registry.adapter_path(ref)
    print(json.dumps(logits_of(load_adapted(folder), texts)))


if __name__ == "__main__":
    main()
