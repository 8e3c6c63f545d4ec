"""Re-run a stored run from its lineage and check that every metric comes out the same."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from promptyard.core.errors import EvalError
from promptyard.evals.suite import CellSpec, Suite
from promptyard.registry.evals_store import load_run

TOLERANCE = 1e-9


@dataclass
class Reproduction:
    """Stored against recomputed metrics per cell; ``matches`` when every value agrees."""

    run_id: int
    new_run_id: int | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not self.problems and all(r["match"] for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "new_run_id": self.new_run_id, "matches": self.matches,
                "rows": self.rows, "problems": self.problems}


def pinned_spec(cell: dict[str, Any], registry_path: str | None) -> CellSpec:
    """The cell's spec with moving references (labels, ``latest``) replaced by the exact stored versions."""
    spec = CellSpec.from_dict(cell["spec"])
    lineage = cell["lineage"]
    prompt = lineage["prompt"]["resolved"]
    adapter = lineage["adapter"]["resolved"] if lineage.get("adapter") else None
    options = {name: dict(settings) for name, settings in spec.metric_options.items()}
    for name, judge in (lineage.get("judges") or {}).items():  # a judge prompt is pinned like the prompt
        settings = options.setdefault(name, {})
        exact = {p["ref"]: p["resolved"] for p in judge.get("prompts", [])}
        if settings.get("prompt") in exact:
            settings["prompt"] = exact[settings["prompt"]]
    return replace(spec, prompt=prompt, adapter=adapter, registry=registry_path, metric_options=options)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a))


def reproduce(registry: Any, run_id: int | str, *, use_cache: bool = False, store: bool = True) -> Reproduction:
    """Re-run every cell of ``run_id`` at its pinned versions (no cache by default) and compare metrics."""
    from promptyard.evals.suite_run import run_suite

    stored = load_run(registry, run_id, with_examples=False)
    specs = [pinned_spec(c, str(registry.path)) for c in stored["cells"]]
    suite = Suite(name=f"reproduce-{stored['id']}", cells=specs, seed=stored["seed"],
                  raw={"reproduces": stored["id"]})
    result = run_suite(suite, registry=registry, cache="default" if use_cache else None, store=store,
                       kind="reproduce", note=f"reproduces run {stored['id']}")
    out = Reproduction(int(stored["id"]), result.run_id)
    for cell, fresh in zip(stored["cells"], result.results, strict=True):
        old = cell["lineage"]
        for part, a, b in (("model hash", old["model"]["hash"], fresh.lineage["model"]["hash"]),
                           ("data fingerprint", old["data"]["fingerprint"], fresh.lineage["data"]["fingerprint"]),
                           ("prompt hash", old["prompt"]["hash"], fresh.lineage["prompt"]["hash"])):
            if a != b:
                out.problems.append(f"cell {cell['position']}: {part} differs ({a[:12]} stored, {b[:12]} now)")
        for name, judge in (old.get("judges") or {}).items():
            now_hash = ((fresh.lineage.get("judges") or {}).get(name) or {}).get("model", {}).get("hash")
            if judge["model"]["hash"] != now_hash:
                out.problems.append(f"cell {cell['position']}: the {name} model's hash differs")
        for m in cell["metrics"]:
            try:
                now = fresh.metric(m["name"])
            except EvalError:
                out.problems.append(f"cell {cell['position']}: metric {m['name']} was not recomputed")
                continue
            out.rows.append({"cell": cell["position"], "metric": m["name"], "stored": m["value"],
                             "reproduced": now.value, "match": _same(m["value"], now.value)})
    return out
