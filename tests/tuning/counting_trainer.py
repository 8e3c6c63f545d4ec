"""The real training loop, counting its calls: each call leaves ``trainings/<random>.json`` (its method
and config) beside the training data file (a test's own folder, which Ray's workers on this machine see
too), so a test counts the trainings a search ran."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from promptyard.tuning.loop import train as real_train


def train(spec: Any, *, report: Any = None, checkpoint_dir: Path | None = None) -> Any:
    folder = Path(spec.data).parent / "trainings"
    folder.mkdir(exist_ok=True)
    (folder / f"{uuid.uuid4().hex}.json").write_text(
        json.dumps({"method": spec.method, "config": spec.config}, default=str))
    return real_train(spec, report=report, checkpoint_dir=checkpoint_dir)


def trainings(data: str | Path) -> list[dict[str, Any]]:
    """Every training run with the data file ``data``."""
    folder = Path(data).parent / "trainings"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
