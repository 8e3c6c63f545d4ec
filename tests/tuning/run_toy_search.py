"""A search driver process for the kill-and-resume test: ``python run_toy_search.py SEARCH_ID LOG``."""

from __future__ import annotations

import sys

from toy_trainer import ToySpec

from promptyard import Registry
from promptyard.tuning.ray_exec import RayTarget
from promptyard.tuning.search import SearchSpec
from promptyard.tuning.search_driver import run_search
from promptyard.tuning.space import validate_space


def main(search_id: str, log_path: str) -> None:
    spec = SearchSpec(
        train_spec=ToySpec(max_steps=30, eval_every=5, step_sleep=0.08, log_path=log_path),
        space=validate_space({"lr": {"loguniform": [0.01, 0.5]}, "hidden": {"choice": [4, 16]}}),
        trials=6, concurrent=2, scheduler="fifo", trainer="toy_trainer:train", max_failures=0, seed=5,
        name="toy-resumed", search_id=search_id)
    run_search(spec, RayTarget(), registry=Registry.open(create=True), num_cpus=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
