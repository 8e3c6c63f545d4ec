"""Distributed evaluation on a real multi-node Ray cluster on one machine (head + two worker nodes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptyard.evals.distributed import plan_shards

WORDS_POS = ["wonderful", "moving", "charming", "delightful", "smart", "warm", "funny", "great"]
WORDS_NEG = ["dull", "slow", "boring", "tedious", "ugly", "pointless", "lifeless", "awful"]


@pytest.mark.parametrize(("sizes", "shard_size", "expected"), [
    ([[0, 1, 2, 3, 4]], 2, [(0, (0, 1)), (0, (2, 3)), (0, (4,))]),
    ([[5, 9], [1, 2, 3]], 3, [(0, (5, 9)), (1, (1, 2, 3))]),
    ([[], [7]], 4, [(1, (7,))]),
])
def test_plan_shards_covers_every_index_once(sizes, shard_size, expected):
    shards = plan_shards(sizes, shard_size)
    assert [(s.cell_pos, s.indices) for s in shards] == expected
    assert [s.shard_id for s in shards] == list(range(len(shards)))


def _reviews(path: Path, n: int = 40) -> str:
    rows = []
    for i in range(n):
        good = i % 2 == 0
        words = WORDS_POS if good else WORDS_NEG
        text = " ".join(words[(i * k) % len(words)] for k in range(1, 2 + i % 5))
        rows.append({"text": f"{text} film number {i}", "label": "positive" if good else "negative"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture
def suite(tmp_path):
    from promptyard.evals.suite import parse_suite
    from promptyard.registry.api import Registry

    reg = Registry.open(create=True)
    reg.commit("sent", {"kind": "single", "text": "Review: {{ text }}\nSentiment:"}, task_type="classification")
    reg.commit("sent", {"kind": "single", "text": "Is this review positive or negative?\n{{ text }}\nAnswer:"},
               task_type="classification")
    data = _reviews(tmp_path / "reviews.jsonl")
    parsed = parse_suite({"name": "ray-suite", "data": [{"ref": data, "split": "all"}],
                          "prompts": ["sent@1", "sent@2"], "models": ["tiny-causal"],
                          "metrics": ["accuracy", "f1"], "decoding": {"batch_size": 4}, "n_boot": 200})
    return reg, parsed


def _same(a, b):
    assert [r.spec for r in a] == [r.spec for r in b]
    for x, y in zip(a, b, strict=True):
        assert [e.index for e in x.examples] == [e.index for e in y.examples]
        assert [e.prediction for e in x.examples] == [e.prediction for e in y.examples]
        for ex, ey in zip(x.examples, y.examples, strict=True):
            assert ex.scores == pytest.approx(ey.scores, abs=1e-4)
        assert [(m.name, m.value, m.low, m.high) for m in x.metrics] == \
            [(m.name, m.value, m.low, m.high) for m in y.metrics]


@pytest.mark.ray
@pytest.mark.slow
def test_suite_sharded_over_two_nodes_equals_in_process_run(ray_cluster, suite):
    from promptyard.evals.cache import ResponseCache
    from promptyard.evals.distributed import DistributedStats, run_cells_distributed
    from promptyard.evals.suite_run import run_cells
    from promptyard.registry.evals_store import load_run
    from promptyard.runtime.ray_session import RayTarget

    reg, parsed = suite
    local = run_cells(parsed.cells, registry=reg, cache=None)
    stats = DistributedStats()
    remote = run_cells_distributed(parsed.cells, registry=reg, cache=None, shard_size=5, stats=stats)
    _same(local, remote)
    assert stats.shards == 16 and stats.resubmitted == 0
    assert len(stats.nodes) == 2  # both worker nodes did work

    from promptyard.evals.distributed import run_suite_distributed

    run = run_suite_distributed(parsed, RayTarget(), registry=reg, shard_size=8)
    _same(local, run.results)
    stored = load_run(reg, run.run_id, with_examples=True)
    assert [c["n_examples"] for c in stored["cells"]] == [40, 40]
    # the driver wrote every response to the cache: an in-process re-run is all cache hits
    again = run_cells(parsed.cells, registry=reg, cache=ResponseCache())
    assert [(r.cache_hits, r.cache_misses) for r in again] == [(40, 0), (40, 0)]
    _same(local, again)


@pytest.mark.ray
@pytest.mark.slow
def test_node_lost_mid_run_every_example_exactly_once(ray_cluster, suite):
    """Runs last in this module: it removes a worker node from the shared cluster."""
    from promptyard.evals.distributed import DistributedStats, run_cells_distributed
    from promptyard.evals.suite_run import run_cells

    reg, parsed = suite
    local = run_cells(parsed.cells, registry=reg, cache=None)
    removed = []

    def lose_a_node(done, total, stats):
        if removed:
            return
        # Remove the node that has NOT finished a shard yet: it still holds unfinished shards.
        busy = [n for n in ray_cluster.worker_nodes if n.node_id not in stats.nodes]
        victim = busy[0] if busy else next(iter(ray_cluster.worker_nodes))
        removed.append(victim.node_id)
        ray_cluster.remove_node(victim)

    stats = DistributedStats()
    remote = run_cells_distributed(parsed.cells, registry=reg, cache=None, shard_size=4, stats=stats,
                                   on_shard=lose_a_node)
    assert removed
    assert stats.actors_lost >= 1 and stats.resubmitted >= 1
    for r in remote:
        indices = [e.index for e in r.examples]
        assert indices == sorted(set(indices)) == list(range(40))  # every example, exactly once
    _same(local, remote)
