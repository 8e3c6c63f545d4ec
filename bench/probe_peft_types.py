"""Try every tuning type the installed peft registers on the tiny models; write what fails and why.

For each type and each model kind (tiny-causal, tiny-encoder) it does what ``tune run --method peft:<type>``
does with the type's default settings (plus :data:`PROBE_SETTINGS` for the types that have no usable
defaults): build the settings, wrap the model, one forward/backward/optimizer step, save the adapter, load
it on a fresh base model and compare logits. The first exception is the reason, stored as data in
``src/promptyard/plugins/tuning/peft_types/support.json``; ``tune methods`` shows it and
``tests/tuning/test_peft_types.py`` re-checks every stated reason. A type that fails on both kinds with
a CUDA-only error (a kernel, bitsandbytes) is marked as not working on CPU.

Run: ``python bench/probe_peft_types.py [--types loha,vera] [--check]`` (``--check``: compare with the
stored file and exit 1 on a difference, writing nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

from promptyard.core.host import get_host  # noqa: E402
from promptyard.plugins.tuning import peft_types  # noqa: E402
from promptyard.plugins.tuning.peft_types.probe import CUDA_WORDS, MODELS, PROBE_SETTINGS, try_type  # noqa: E402


def probe(types: list[str]) -> dict[str, dict[str, str]]:
    out = {}
    for type_name in types:
        found = {kind: try_type(type_name, kind) for kind in MODELS}
        cuda = all(found.values()) and all(any(w in found[k].lower() for w in CUDA_WORDS) for k in MODELS)
        found["cpu"] = found["causal"] if cuda else ""
        if type_name in PROBE_SETTINGS:
            found["settings"] = PROBE_SETTINGS[type_name]
        out[type_name] = found
        print(f"{type_name:24} causal: {found['causal'] or 'ok'} | encoder: {found['encoder'] or 'ok'}",
              file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--types", default="", help="comma-separated types (default: every type)")
    parser.add_argument("--check", action="store_true", help="compare with the stored file; write nothing")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    family = next(e.value for e in get_host().table("tuning_methods").families() if e.name == peft_types.PREFIX)
    types = [t for t in args.types.split(",") if t] or family.variant_names()
    found = probe(types)
    stored = peft_types.support()
    if args.check:
        diff = {t: (stored["types"].get(t), v) for t, v in found.items() if stored["types"].get(t) != v}
        print(json.dumps(diff, indent=1))
        sys.exit(1 if diff or stored.get("peft") != peft_types.peft_version() else 0)
    merged = dict(stored["types"]) if args.types and stored.get("peft") == peft_types.peft_version() else {}
    merged.update(found)
    data = {"peft": peft_types.peft_version(), "models": MODELS, "device": "cpu",
            "types": dict(sorted(merged.items()))}
    peft_types.SUPPORT_FILE.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {peft_types.SUPPORT_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
