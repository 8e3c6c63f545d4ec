"""``optimize --ray``: candidates scored on Ray actors give the record an in-process run gives; the driver alone
counts the calls and writes the registry."""

from __future__ import annotations

import pytest

from promptyard.runtime.ray_session import RayTarget, ray_session

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory, ray_test_env):
    """A local two-CPU Ray instance for this module (its processes see the test environment)."""
    with ray_test_env(tmp_path_factory.mktemp("ray")), ray_session(RayTarget(), num_cpus=2):
        yield


def test_optimize_on_ray_equals_the_in_process_run(ray_instance, registry, reviews100):
    from promptyard.evals.optimize_run import OptimizeRequest, make_plan, optimize
    from promptyard.evals.suite import CellSpec
    from promptyard.registry.optimization_records import list_optimizations

    def request(**kw):
        return OptimizeRequest(prompt="sent@1", base=CellSpec(prompt="sent@1", model="tiny-causal", data=reviews100),
                               optimizer="bandit", settings={"batch": "3"}, generate=True, budget_calls=50,
                               cache=False, commit=False, **kw)

    local = optimize(registry, make_plan(registry, request())).record
    remote = optimize(registry, make_plan(registry, request(ray_target=RayTarget()))).record
    assert remote["calls_spent"] == local["calls_spent"] and remote["test_calls"] == local["test_calls"]
    assert remote["calls_spent"] + remote["test_calls"] <= 50
    assert [c["rewards"] for c in remote["candidates"]] == [c["rewards"] for c in local["candidates"]]
    assert remote["result"]["test"]["winner"]["value"] == local["result"]["test"]["winner"]["value"]
    assert {o["id"] for o in list_optimizations(registry)} == {local["id"], remote["id"]}
