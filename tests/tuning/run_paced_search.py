"""A search driver process for the kill-and-resume test: ``python -m tests.tuning.run_paced_search ID LOG DATA``.

Six trials of the real training loop (LoRA on tiny-causal), two at a time, paced by ``paced_trainer``.
"""

from __future__ import annotations

import os
import sys

from promptyard import Registry
from promptyard.core.template import Template
from promptyard.runtime.ray_session import RayTarget
from promptyard.tuning.search import SearchSpec
from promptyard.tuning.search_driver import run_search
from promptyard.tuning.space import validate_space
from promptyard.tuning.spec import TrainSpec

LOOP = {"max_steps": 15, "eval_every": 3, "epochs": 20, "patience": 0, "batch_size": 4, "train_sample": 48,
        "val_sample": 16}


def train_spec(data: str) -> TrainSpec:
    """What every trial trains (the test trains the same in-process to check the resumed search's results)."""
    return TrainSpec(model="tiny-causal", data=data, method="lora", task="sentiment", seed=1, quiet=True,
                     prompt=Template(kind="single", text="Review: {{ text }}\nSentiment:"), config=dict(LOOP))


def main(search_id: str, log_path: str, data: str) -> None:
    os.environ["PROMPTYARD_TEST_TRIAL_LOG"] = log_path  # read by paced_trainer in the trial workers
    spec = SearchSpec(
        train_spec=train_spec(data),
        space=validate_space({"lr": {"loguniform": [1e-3, 5e-2]}, "r": {"choice": [2, 4]}}),
        trials=6, concurrent=2, scheduler="fifo", trainer="tests.tuning.paced_trainer:train", max_failures=0, seed=5,
        name="paced-resumed", search_id=search_id)
    run_search(spec, RayTarget(), registry=Registry.open(create=True), num_cpus=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
