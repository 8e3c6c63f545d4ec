"""The in-process search (``--no-ray``): space sampling, ASHA's stopping rule, recording like a Ray search."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from promptyard.tuning.search import SearchSpec
from promptyard.tuning.search_local import AshaRule, run_search_local, sample_params

SPACE = {"lr": {"loguniform": [1e-4, 1e-1]}, "dropout": {"uniform": [0.0, 0.3]}, "r": {"choice": [4, 8, 16]},
         "epochs": {"int": [1, 3]}, "warmup": {"randint": [0, 10]}, "alpha": 16}


def test_samples_stay_in_their_domains_and_follow_the_seed():
    draws = [sample_params(SPACE, random.Random(7)) for _ in range(2)]
    assert draws[0] == draws[1]
    for d in (sample_params(SPACE, random.Random(seed)) for seed in range(50)):
        assert 1e-4 <= d["lr"] < 1e-1 and 0.0 <= d["dropout"] < 0.3 and d["r"] in (4, 8, 16)
        assert 1 <= d["epochs"] <= 3 and 0 <= d["warmup"] < 10 and d["alpha"] == 16


@dataclass
class _Train:
    """A picklable stand-in TrainSpec: the trial's params land in ``config``."""

    config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    method: str = "scripted"
    prompt: str = "p"


@pytest.mark.parametrize(("mode", "reports", "stopped"), [
    # rf=2: at a rung a trial continues when it is at least the median of the values recorded there so far
    ("max", [(1, 0.5), (1, 0.4), (1, 0.6), (2, 0.1), (2, 0.2), (3, 0.0)], [False, True, False, False, False, False]),
    ("min", [(1, 0.5), (1, 0.6), (1, 0.4), (2, 0.9), (2, 0.95)], [False, True, False, False, True]),
])
def test_asha_rule_stops_trials_below_the_rung_cutoff(mode, reports, stopped):
    rule = AshaRule(SearchSpec(train_spec=_Train(), space={}, mode=mode, max_reports=4))
    assert [rule.should_stop(it, v) for it, v in reports] == stopped


def scripted_train(spec: _Train, *, report=None, checkpoint_dir: Path | None = None) -> None:
    """Reports a metric that grows with lr at steps 0..3, saving a one-file 'adapter' each time."""
    lr = spec.config["lr"]
    for step in range(4):
        out = Path(checkpoint_dir) / f"adapter-{step}"
        out.mkdir(parents=True, exist_ok=True)
        (out / "adapter_config.json").write_text(f'{{"lr": {lr}, "step": {step}}}')
        report({"step": step, "epoch": 0, "train_loss": 1.0, "val_loss": 1.0, "val_metric": lr * (step + 1),
                "adapter_dir": str(out)})


def test_in_process_search_stops_weak_trials_and_registers_the_best():
    from promptyard import Registry
    from promptyard.registry.search_records import get_search

    spec = SearchSpec(train_spec=_Train(), space={"lr": {"choice": [0.3, 0.1, 0.2]}}, trials=4, seed=1,
                      name="scripted-adapter", max_reports=4, trainer=f"{__name__}:scripted_train")
    registry = Registry.open(create=True)
    result = run_search_local(spec, registry=registry)
    lrs = [t.params["lr"] for t in result.trials]
    assert result.best.params["lr"] == max(lrs)
    assert result.best.best_metric == pytest.approx(max(lrs) * 4)
    statuses = [t.status for t in result.trials]
    assert "stopped" in statuses and result.best.status == "completed", (lrs, statuses)
    for i, t in enumerate(result.trials):  # only a trial behind an earlier one is cut, and it is cut early
        if t.status == "stopped":
            assert t.iterations < 4 and lrs[i] < max(lrs[:i]), (lrs, statuses)
    version = registry.resolve_adapter("scripted-adapter@latest")
    assert version.lineage["search"]["id"] == spec.search_id
    assert (registry.adapter_path(version.ref) / "adapter_config.json").read_text() == \
        f'{{"lr": {max(lrs)}, "step": 3}}'
    record = get_search(registry, spec.search_id)
    assert record["status"] == "finished" and len(record["trials"]) == 4
    assert result.plot_path.exists()
