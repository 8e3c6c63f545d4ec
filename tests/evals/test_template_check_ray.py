"""The template check on Ray: a cell sharded over worker nodes is marked like an in-process one, and a strict
refusal raised in a worker reaches the caller as the same one-line error (not a Ray traceback), storing nothing."""

from __future__ import annotations

import pytest

from tests.cli.adapter_fixtures import V1, V2, train_and_register
from tests.tuning.toydata import write_toy_sentiment


@pytest.mark.ray
@pytest.mark.slow
def test_ray_cells_are_marked_and_strict_refusals_come_back_whole(ray_cluster, tmp_path):
    from dataclasses import replace

    from promptyard.core.errors import TemplateMismatchError
    from promptyard.evals.distributed import run_suite_distributed
    from promptyard.evals.suite import parse_suite
    from promptyard.registry.api import Registry
    from promptyard.registry.evals_store import list_runs
    from promptyard.runtime.ray_session import RayTarget

    reg = Registry.open(create=True)
    reg.commit("sent", V1, task_type="sentiment")
    reg.commit("sent", V2, task_type="sentiment")
    data = write_toy_sentiment(tmp_path / "toy.jsonl")
    ref = train_and_register(reg, "a-lora", prompt="sent@1", data=data)
    suite = parse_suite({"name": "ray-template", "data": [{"ref": data, "sample": 8}],
                         "prompts": ["sent@1", "sent@2"], "models": [{"model": "tiny-causal", "adapters": [ref]}]})
    run = run_suite_distributed(suite, RayTarget(), registry=reg, shard_size=4)
    assert [r.lineage["template_check"]["status"] for r in run.results] == ["match", "mismatch"]

    before = len(list_runs(reg))
    suite.cells = [replace(c, strict_template=True) for c in suite.cells]
    with pytest.raises(TemplateMismatchError, match="given prompt sent@2") as refused:
        run_suite_distributed(suite, RayTarget(), registry=reg, shard_size=4)
    # the worker's own error, not Ray's wrapper of it (which the CLI would print with a remote traceback)
    assert type(refused.value) is TemplateMismatchError and "Traceback" not in str(refused.value)
    assert len(list_runs(reg)) == before
