"""The real training loop, made to fail once: the first attempt of a trial dies after its 2nd report.

For the Tune retry test: the marker file lives in the trial folder (the parent of ``checkpoint_dir``), which a
retry keeps, so the second attempt runs through. Every report is logged there (``reports.jsonl``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from promptyard.tuning.loop import train as real_train

FAIL_AFTER = 2


class InjectedFailure(RuntimeError):
    """A crash the test asked for (not a PromptyardError: Tune must treat it like a dying worker)."""


def train(spec: Any, *, report: Any = None, checkpoint_dir: Path | None = None) -> Any:
    trial_dir = Path(checkpoint_dir).parent
    marker = trial_dir / "failed-once"
    first_attempt = not marker.exists()
    attempt = "first" if first_attempt else "retry"
    seen: list[int] = []

    def flaky_report(metrics: dict[str, Any]) -> None:
        with open(trial_dir / "reports.jsonl", "a") as fh:
            fh.write(json.dumps({"attempt": attempt, "step": metrics["step"]}) + "\n")
        report(metrics)  # Tune records the checkpoint first, as when a worker dies after reporting
        seen.append(metrics["step"])
        if first_attempt and len(seen) == FAIL_AFTER:
            marker.write_text("1")
            raise InjectedFailure(f"injected failure after the report at step {metrics['step']}")

    return real_train(spec, report=flaky_report, checkpoint_dir=checkpoint_dir)
