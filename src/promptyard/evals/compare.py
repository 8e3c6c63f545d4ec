"""Compare two stored runs cell by cell (paired over example indices), and the regression gate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptyard.core.errors import EvalError, GateFailed
from promptyard.evals.metrics import Comparison, compare_metric, get_metric
from promptyard.evals.results import ExampleResult, metric_arguments

MAX_FLIPS_SHOWN = 20


def stored_examples(cell: dict[str, Any]) -> dict[int, ExampleResult]:
    """A stored cell's examples, rebuilt as :class:`ExampleResult` and keyed by example index."""
    fields = ExampleResult.__dataclass_fields__
    return {e["index"]: ExampleResult(**{k: v for k, v in e.items() if k in fields})
            for e in cell.get("examples", [])}


@dataclass
class CellComparison:
    """Cell B against cell A over their common examples."""

    a: str
    b: str
    n: int
    metrics: list[Comparison]
    flipped: list[dict[str, Any]] = field(default_factory=list)  # examples whose correctness changed
    n_flipped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "n": self.n, "metrics": [m.to_dict() for m in self.metrics],
                "flipped": self.flipped, "n_flipped": self.n_flipped}


def _describe(cell: dict[str, Any]) -> str:
    lin = cell["lineage"]
    adapter = f"+{lin['adapter']['resolved']}" if lin.get("adapter") else ""
    return f"{lin['prompt']['resolved']} | {lin['model']['ref']}{adapter}"


def compare_cells(cell_a: dict[str, Any], cell_b: dict[str, Any], *, metrics: list[str] | None = None,
                  n_boot: int = 1000, seed: int = 0, memo: Any = None) -> CellComparison:
    """Every common metric: A, B, delta, paired bootstrap CI of the delta, paired test; and the flips.

    ``memo`` (a response cache) replays a comparison computed before over the same predictions."""
    ex_a, ex_b = stored_examples(cell_a), stored_examples(cell_b)
    common = sorted(set(ex_a) & set(ex_b))
    if not common:
        raise EvalError("the two cells share no examples", hint="compare runs over the same data and split")
    if cell_a["lineage"]["data"]["split_fingerprint"] != cell_b["lineage"]["data"]["split_fingerprint"]:
        raise EvalError("the two cells were evaluated on different data",
                        hint="compare runs of the same data set, split and seed")
    a = [ex_a[i] for i in common]
    b = [ex_b[i] for i in common]
    names = metrics or [m["name"] for m in cell_a["metrics"] if m["name"] in {x["name"] for x in cell_b["metrics"]}]
    out = []
    for name in names:
        get_metric(name)
        preds_a, refs, kw_a = metric_arguments(name, a, cell_a["lineage"])
        preds_b, _, _ = metric_arguments(name, b, cell_b["lineage"])
        out.append(compare_metric(name, preds_a, preds_b, refs, n_boot=n_boot, seed=seed, memo=memo, **kw_a))
    flips = [{"index": x.index, "reference": x.reference, "a": x.prediction, "b": y.prediction,
              "direction": "fixed" if y.correct else "broken"}
             for x, y in zip(a, b, strict=True) if x.correct != y.correct]
    counts = {"fixed": sum(f["direction"] == "fixed" for f in flips),
              "broken": sum(f["direction"] == "broken" for f in flips)}
    return CellComparison(_describe(cell_a), _describe(cell_b), len(common), out, flips[:MAX_FLIPS_SHOWN], counts)


def compare_runs(run_a: dict[str, Any], run_b: dict[str, Any], **kw: Any) -> list[CellComparison]:
    """Pair the cells of two runs by position (runs of one cell each pair trivially)."""
    cells_a, cells_b = run_a["cells"], run_b["cells"]
    if len(cells_a) != len(cells_b):
        raise EvalError(f"run {run_a['id']} has {len(cells_a)} cells and run {run_b['id']} has {len(cells_b)}",
                        hint="compare runs of the same suite, or two single-cell runs")
    return [compare_cells(x, y, **kw) for x, y in zip(cells_a, cells_b, strict=True)]


@dataclass
class GateResult:
    """The gate's verdict with the statistics behind it."""

    passed: bool
    metric: str
    max_drop: float
    comparison: CellComparison
    run_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "metric": self.metric, "max_drop": self.max_drop, "run_id": self.run_id,
                "comparison": self.comparison.to_dict()}

    def summary(self) -> str:
        m = next(c for c in self.comparison.metrics if c.name == self.metric)
        verdict = "PASS" if self.passed else "FAIL"
        return (f"{verdict}: {self.metric} baseline {m.a:.4f} -> candidate {m.b:.4f} (delta {m.delta:+.4f}, "
                f"95% CI [{m.low:+.4f}, {m.high:+.4f}], {m.test.test} p={m.test.p_value:.4g}); "
                f"allowed drop {self.max_drop}")


def gate(baseline_cell: dict[str, Any], candidate_cell: dict[str, Any], *, metric: str, max_drop: float,
         n_boot: int = 1000, seed: int = 0, memo: Any = None) -> GateResult:
    """Pass unless the candidate is worse than the baseline on ``metric`` by more than ``max_drop``."""
    comparison = compare_cells(baseline_cell, candidate_cell, metrics=[metric], n_boot=n_boot, seed=seed,
                               memo=memo)
    m = comparison.metrics[0]
    drop = -m.delta if m.higher_is_better else m.delta
    return GateResult(passed=bool(drop <= max_drop + 1e-12), metric=metric, max_drop=max_drop, comparison=comparison)


def raise_if_failed(result: GateResult) -> None:
    if not result.passed:
        raise GateFailed(result.summary(), where="eval gate",
                         hint="the candidate is worse than the baseline beyond --max-drop")
