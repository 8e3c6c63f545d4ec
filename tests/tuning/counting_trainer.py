"""The real training loop, counting its calls: each call leaves ``trained-<n>.json`` (its method and
config) in the trial folder (the parent of ``checkpoint_dir``), so a test counts the trainings a search ran."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from promptyard.tuning.loop import train as real_train


def train(spec: Any, *, report: Any = None, checkpoint_dir: Path | None = None) -> Any:
    trial_dir = Path(checkpoint_dir).parent
    (trial_dir / f"trained-{uuid.uuid4().hex[:8]}.json").write_text(
        json.dumps({"method": spec.method, "config": spec.config}, default=str))
    return real_train(spec, report=report, checkpoint_dir=checkpoint_dir)


def trainings(storage: Path, search_id: str) -> list[dict[str, Any]]:
    """Every training a search and its extensions ran (in Tune's storage folder)."""
    return [json.loads(p.read_text()) for p in sorted(storage.glob(f"{search_id}*/**/trained-*.json"))]
