"""Run in a fresh process: load several registered adapters onto their base models; print their logits as JSON.

One process for a whole table of adapters (``tests/tuning/test_peft_types.py``) keeps the fresh-process check cheap.
"""

from __future__ import annotations

import json
import sys
import warnings

from tests.tuning.reload_logits import logits_of


def main() -> None:
    from promptyard.registry.api import Registry
    from promptyard.runtime.adapter_loading import load_adapted

    warnings.filterwarnings("ignore")
    registry_file, refs, texts = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    out = {}
    with Registry.open(registry_file) as registry:
        for ref in refs:
            try:
                out[ref] = logits_of(load_adapted(registry.adapter_path(ref)), texts)
            except Exception as exc:  # noqa: BLE001 - reported per adapter, the test names it
                out[ref] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
