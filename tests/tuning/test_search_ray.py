"""Hyper-parameter search on a real local Ray (CPU): ASHA, errors, in-process parity, registry records."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ray_fixtures import module_ray  # noqa: E402
from toy_trainer import ToySpec, train  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def ray_instance(tmp_path_factory):
    with module_ray(tmp_path_factory.mktemp("ray")):
        yield


def _spec(space, **kw):
    from promptyard.tuning.search import SearchSpec
    from promptyard.tuning.space import validate_space

    base = dict(train_spec=ToySpec(max_steps=40, eval_every=5), space=validate_space(space), trials=8,
                concurrent=2, trainer="toy_trainer:train", max_failures=0, seed=3)
    base.update(kw)
    return SearchSpec(**base)


def _registry():
    from promptyard import Registry

    return Registry.open(create=True)


def test_asha_search_stops_some_trials_and_registers_best_with_lineage():
    from promptyard.registry.searches import get_search
    from promptyard.tuning.ray_exec import RayTarget
    from promptyard.tuning.search_driver import run_search

    registry = _registry()
    spec = _spec({"lr": {"loguniform": [1e-3, 0.5]}, "hidden": {"choice": [4, 16]}},
                 name="toy-search", label="staging")
    result = run_search(spec, RayTarget(), registry=registry)

    assert len(result.trials) == 8
    statuses = [t.status for t in result.trials]
    assert "stopped" in statuses, statuses  # ASHA cut some trials short
    assert "completed" in statuses
    stopped = [t for t in result.trials if t.status == "stopped"]
    assert all(t.iterations < 8 for t in stopped)
    best = max((t for t in result.trials), key=lambda t: t.best_metric)
    assert result.best.trial_id == best.trial_id

    version = registry.resolve_adapter("toy-search@staging")
    assert version.id == result.adapter.id
    assert version.lineage["search"]["id"] == spec.search_id
    assert version.lineage["search"]["trial_id"] == best.trial_id
    assert version.lineage["hyperparameters"]["lr"] == pytest.approx(best.params["lr"])
    stored = registry.adapter_path("toy-search@staging")
    assert (stored / "adapter_model.pt").exists() and not (stored / "promptyard_trial.json").exists()

    record = get_search(registry, spec.search_id)
    assert record["status"] == "finished" and record["adapter_version_id"] == version.id
    assert {t["trial_id"] for t in record["trials"]} == {t.trial_id for t in result.trials}
    assert all(t["history"] for t in record["trials"])
    assert result.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_single_trial_on_ray_equals_in_process_run():
    from promptyard.tuning.ray_exec import RayTarget
    from promptyard.tuning.search_driver import run_search

    params = {"lr": 0.2, "hidden": 8, "act": "tanh"}
    local = train(ToySpec(config=dict(params), max_steps=30, eval_every=5), checkpoint_dir=Path("local"))
    spec = _spec(params, trials=1, scheduler="fifo", train_spec=ToySpec(max_steps=30, eval_every=5))
    result = run_search(spec, RayTarget())
    (trial,) = result.trials
    assert trial.status == "completed"
    for key in ("val_metric", "train_loss", "val_loss"):
        assert [h[key] for h in trial.history] == pytest.approx([h[key] for h in local["history"]])


def test_trial_that_raises_is_reported_and_search_goes_on():
    from promptyard.tuning.ray_exec import RayTarget
    from promptyard.tuning.search_driver import run_search
    from promptyard.tuning.search_results import render_table

    spec = _spec({"act": {"choice": ["relu", "bogus"]}, "lr": {"uniform": [0.05, 0.3]}}, trials=6,
                 scheduler="fifo", name="toy-errors")
    result = run_search(spec, RayTarget())
    errored = [t for t in result.trials if t.status == "error"]
    fine = [t for t in result.trials if t.status != "error"]
    assert errored and fine
    assert all(t.params["act"] == "bogus" for t in errored)
    assert all("unknown activation 'bogus'" in t.error for t in errored)
    assert all(t.params["act"] == "relu" and t.iterations == 8 for t in fine)
    assert result.best.params["act"] == "relu"

    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(render_table(result.trials, "val_metric", result.best.trial_id))
    text = console.export_text()
    assert "TuningError: act: unknown activation 'bogus'" in text
