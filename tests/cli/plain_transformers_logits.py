"""Run in a fresh process in which peft cannot be imported: load a model folder with plain transformers and
print the last position's logits for each text as JSON (``python -m tests.cli.plain_transformers_logits DIR TEXTS``).
"""

from __future__ import annotations

import json
import sys

sys.modules["peft"] = None  # `import peft` raises ImportError from here on, in this process and for transformers


def main() -> None:
    try:
        import peft  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("peft is importable in the child: the test would prove nothing")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, texts = sys.argv[1], json.loads(sys.argv[2])
    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    out = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out.append(model(input_ids=torch.tensor([ids])).logits[0, -1].tolist())
    loaded = sorted(name for name in sys.modules if name == "peft" or name.startswith("peft."))
    print(json.dumps({"logits": out, "peft_modules": [n for n in loaded if sys.modules[n] is not None],
                      "class": type(model).__name__}))


if __name__ == "__main__":
    main()
