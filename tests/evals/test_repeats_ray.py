"""``eval run --repeats N --ray``: each repeat is a sampled cell cut into shards on Ray; the per-example pass rates,
their spread and each repeat's value equal an in-process run's for the same seeds, judge scores included; the
driver alone writes the registry and the response cache."""

from __future__ import annotations

import json

import pytest

from promptyard.evals.cache import ResponseCache
from promptyard.registry.evals_store import list_runs
from promptyard.runtime.ray_session import RayTarget, ray_session
from promptyard.testing import invoke

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory, ray_test_env):
    """A local two-CPU Ray instance for this module (its processes see the test environment)."""
    with ray_test_env(tmp_path_factory.mktemp("ray")), ray_session(RayTarget(), num_cpus=2):
        yield


def _run(reviews, *extra):
    result = invoke(["eval", "run", "--prompt", "sent@1", "--model", "tiny-causal", "--data", reviews, "--split", "all",
                     "--scoring", "generate", "--max-new-tokens", "2", "--metric", "accuracy", "--metric", "judge",
                     "--set", "judge.prompt=grader@1", "--set", "judge.model=tiny-causal", "--repeats", "3", *extra,
                     "--json"])
    assert result.exit_code == 0, result.stderr
    (cell,) = json.loads(result.stdout)["cells"]
    return cell


def test_repeats_on_ray_equal_the_in_process_run(ray_instance, registry, reviews):
    registry.commit("grader", {"kind": "single", "text": "Review: {{ text }}\nReply: {{ reply }}\nRight?"})
    local = _run(reviews, "--no-cache")
    remote = _run(reviews, "--ray", "--shard-size", "5", "--no-cache")
    assert local["lineage"]["repeats"]["seeds"] == remote["lineage"]["repeats"]["seeds"] == [0, 1, 2]
    for name in ("accuracy", "judge"):
        a, b = local["lineage"]["repeats"]["metrics"][name], remote["lineage"]["repeats"]["metrics"][name]
        assert len(a["per_example"]) == 12
        assert b["per_example"] == pytest.approx(a["per_example"], abs=1e-6)
        assert b["spread"] == pytest.approx(a["spread"], abs=1e-6)
        assert b["per_repeat"] == pytest.approx(a["per_repeat"], abs=1e-6)
        assert b["pass_rate"] == pytest.approx(a["pass_rate"], abs=1e-6)
    # the accuracy pass rates are not all the same: sampling really varied the replies
    assert len(set(local["lineage"]["repeats"]["metrics"]["accuracy"]["per_example"])) > 1 or \
        len(set(local["lineage"]["repeats"]["metrics"]["judge"]["per_example"])) > 1
    assert [r["name"] for r in list_runs(registry)] == ["adhoc", "adhoc"]
    # with the cache on, the driver writes what the workers ran: an in-process re-run is all hits
    cached = _run(reviews, "--ray", "--shard-size", "5")
    assert cached["cache_misses"] == 36 and cached["judge_misses"] == 36
    assert ResponseCache().stats()["entries"] == 72  # 36 sampled replies and 36 judge verdicts
    again = _run(reviews)
    assert (again["cache_hits"], again["judge_hits"], again["cache_misses"], again["judge_misses"]) == (36, 36, 0, 0)
    for name in ("accuracy", "judge"):  # judge scores batched differently agree to float rounding
        a, b = local["lineage"]["repeats"]["metrics"][name], again["lineage"]["repeats"]["metrics"][name]
        assert b["per_example"] == pytest.approx(a["per_example"], abs=1e-6)
