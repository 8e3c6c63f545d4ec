"""The real training loop, paced so a driver kill lands mid-search, with every start and end logged.

For the kill-and-resume test: ``train`` is ``promptyard.tuning.loop.train`` itself; the only additions are a
pause after each report (a tiny model trains too fast to be interrupted otherwise) and a JSON-lines log of
``start`` (with the step the loop resumes from: the resume state Tune restored into ``checkpoint_dir``) and
``end`` events, which the test reads to tell re-run trials from continued ones.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from promptyard.tuning.loop import train as real_train
from promptyard.tuning.resume import RESUME_DIR, STATE_FILE

# Part of the workload, not a wait: it stretches each trial (5 reports, ~2 s more) so that Tune's state, saved
# every second, catches unfinished trials holding a checkpoint; on an idle machine the tiny model can finish a
# trial between two saves, and the whole search before the test kills its driver. Nothing is awaited here;
# the test waits for conditions (Tune's saved state on disk, this log).
PAUSE_S = 0.4


def _log(event: str, step: int) -> None:
    from ray import tune

    log = os.environ.get("PROMPTYARD_TEST_TRIAL_LOG", "")  # set by the driver that started Ray
    if log:
        with open(log, "a") as fh:
            fh.write(json.dumps({"event": event, "trial": tune.get_context().get_trial_id(), "pid": os.getpid(),
                                 "t": time.time(), "step": step}) + "\n")


def train(spec: Any, *, report: Any = None, checkpoint_dir: Path | None = None) -> Any:
    state = Path(checkpoint_dir) / RESUME_DIR / STATE_FILE if checkpoint_dir else None
    start = json.loads(state.read_text())["loop"]["step"] if state is not None and state.exists() else 0
    _log("start", start)

    def paced(metrics: dict[str, Any]) -> None:
        report(metrics)
        time.sleep(PAUSE_S)

    result = real_train(spec, report=paced, checkpoint_dir=checkpoint_dir)
    _log("end", int(result.metrics["steps"]))
    return result
