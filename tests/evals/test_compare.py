"""compare and gate on constructed cells whose statistics are known."""

from __future__ import annotations

import pytest

from promptyard.core.errors import EvalError, GateFailed
from promptyard.evals.compare import compare_cells, gate, raise_if_failed


def stored_cell(predictions, references, *, split_fingerprint="d" * 64, prompt="p@1"):
    """A cell as ``load_run`` returns it, with the examples given."""
    return {
        "position": 0,
        "lineage": {"prompt": {"resolved": prompt, "hash": "h"}, "model": {"ref": "m", "hash": "mh"},
                    "adapter": None, "data": {"split_fingerprint": split_fingerprint, "fingerprint": "f"}},
        "metrics": [{"name": "accuracy"}, {"name": "f1"}],
        "examples": [{"index": i, "prompt_hash": "", "output": p, "prediction": p, "reference": r, "scores": None,
                      "latency_s": 0.0, "tokens": 0, "cached": False, "render": {}}
                     for i, (p, r) in enumerate(zip(predictions, references, strict=True))],
    }


# 40 examples: both right on 20, both wrong on 8, only A right on 2, only B right on 10
REFS = ["pos"] * 40
A = ["pos"] * 20 + ["neg"] * 8 + ["pos"] * 2 + ["neg"] * 10
B = ["pos"] * 20 + ["neg"] * 8 + ["neg"] * 2 + ["pos"] * 10


def test_compare_reports_delta_ci_mcnemar_and_flips():
    result = compare_cells(stored_cell(A, REFS), stored_cell(B, REFS, prompt="p@2"), seed=0)
    acc = next(m for m in result.metrics if m.name == "accuracy")
    assert (acc.a, acc.b, acc.delta) == pytest.approx((22 / 40, 30 / 40, 8 / 40))
    assert acc.low < 0.2 < acc.high and acc.low > 0  # B is better on the paired resamples
    assert acc.test.test == "mcnemar_exact"
    # discordant pairs 2 vs 10: p = 2 * P(X <= 2 | n=12) = 2 * (1 + 12 + 66) / 4096
    assert acc.test.p_value == pytest.approx(2 * 79 / 4096)
    assert result.n_flipped == {"fixed": 10, "broken": 2}
    assert {f["index"] for f in result.flipped if f["direction"] == "broken"} == {28, 29}
    f1 = next(m for m in result.metrics if m.name == "f1")
    assert f1.test.test == "paired_bootstrap"  # F1 is not a mean of per-example scores


def test_compare_refuses_different_data():
    with pytest.raises(EvalError, match="different data"):
        compare_cells(stored_cell(A, REFS), stored_cell(B, REFS, split_fingerprint="e" * 64))


@pytest.mark.parametrize(("candidate", "max_drop", "passed"), [
    (B, 0.0, True),     # better: passes with no allowed drop
    (A, 0.0, True),     # identical: a drop of 0 is allowed
    (A, 0.01, True),
])
def test_gate_passes_when_not_worse(candidate, max_drop, passed):
    result = gate(stored_cell(A, REFS), stored_cell(candidate, REFS), metric="accuracy", max_drop=max_drop)
    assert result.passed is passed
    raise_if_failed(result)


def test_gate_fails_beyond_the_threshold_with_exit_code_3():
    # baseline B (0.75) -> candidate A (0.55): a drop of 0.2
    assert gate(stored_cell(B, REFS), stored_cell(A, REFS), metric="accuracy", max_drop=0.25).passed
    result = gate(stored_cell(B, REFS), stored_cell(A, REFS), metric="accuracy", max_drop=0.1)
    assert not result.passed
    with pytest.raises(GateFailed) as info:
        raise_if_failed(result)
    assert info.value.exit_code == 3
    assert "delta -0.2000" in str(info.value) and "mcnemar_exact" in str(info.value)
