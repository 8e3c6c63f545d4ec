"""Prompt search: score variants of a prompt on a validation split with successive halving.

Round r evaluates the surviving variants on ``min_examples * eta**r`` validation examples (nested
samples, so responses from earlier rounds come from the cache) and keeps the best ``1/eta`` of them,
until one is left or the split is used up. The winner is committed as a new version of the prompt
with the search recorded in the commit message.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promptyard.core.errors import ValidationError
from promptyard.core.host import registered
from promptyard.core.paths import work_dir
from promptyard.core.template import Template
from promptyard.core.yaml_files import load_data_file
from promptyard.evals.cells import cell_indices
from promptyard.evals.suite import CellSpec
from promptyard.runtime.prompts import resolve_prompt

WORDINGS = (
    "",
    "Read the text and answer with a single word.\n\n",
    "You are a careful annotator. Classify the following text.\n\n",
)
FEW_SHOT_COUNTS = (1, 2, 4)


@dataclass
class Variant:
    name: str
    template: Any
    scores: dict[int, float] = field(default_factory=dict)  # examples used -> metric value


@dataclass
class SearchResult:
    prompt: str
    metric: str
    variants: list[Variant]
    rounds: list[dict[str, Any]]
    best: Variant
    committed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "metric": self.metric, "best": self.best.name, "committed": self.committed,
                "rounds": self.rounds,
                "variants": [{"name": v.name, "scores": v.scores, "hash": v.template.content_hash()}
                             for v in self.variants]}

    def message(self) -> str:
        trail = "; ".join(f"round {r['round']} ({r['examples']} ex): " + ", ".join(
            f"{name}={score:.3f}" for name, score in r["scores"].items()) for r in self.rounds)
        return (f"eval search: best of {len(self.variants)} variants of {self.prompt} by {self.metric} "
                f"(successive halving): {self.best.name}. {trail}")


def load_variants(path: str | Path, base: Any) -> list[Variant]:
    """A YAML/JSON list: each item a template text (same kind as the base) or a mapping of template fields."""

    p = Path(path)
    if not p.is_file():
        raise ValidationError("variants file not found", where=str(p))
    data = load_data_file(p, what="variants file").data
    if isinstance(data, dict) and "variants" in data:
        data = data["variants"]
    if not isinstance(data, list) or not data:
        raise ValidationError("expected a non-empty list of variants", where=p.name)
    out = [Variant("base", base)]
    for i, item in enumerate(data):
        where = f"{p.name}: [{i}]"
        if isinstance(item, str):
            fields = {"text": item}
        elif isinstance(item, dict):
            fields = dict(item)
        else:
            raise ValidationError(f"expected a template text or mapping, got {type(item).__name__}", where=where)
        name = str(fields.pop("name", f"v{i + 1}"))
        out.append(Variant(name, Template.from_dict({**base.to_dict(), **fields}, where=where)))
    return out


def generate_variants(base: Any, selectors: list[str]) -> list[Variant]:
    """Wording prefixes for every kind; for dynamic templates also few-shot count and selector."""

    out = [Variant("base", base)]
    data = base.to_dict()
    if base.kind in ("single", "dynamic") and data.get("text"):
        for i, prefix in enumerate(WORDINGS[1:], start=1):
            out.append(Variant(f"wording{i}", Template.from_dict({**data, "text": prefix + data["text"]})))
    if base.kind == "dynamic":
        for k in FEW_SHOT_COUNTS:
            if k != base.k and k <= len(base.examples):
                out.append(Variant(f"k{k}", Template.from_dict({**data, "k": k})))
        for selector in selectors:
            if selector != base.selector:
                out.append(Variant(f"selector-{selector}", Template.from_dict({**data, "selector": selector})))
    seen, unique = set(), []
    for v in out:
        if v.template.content_hash() not in seen:
            seen.add(v.template.content_hash())
            unique.append(v)
    return unique


def _write(variant: Variant, task_type: str | None) -> str:
    folder = work_dir() / "search"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{variant.template.content_hash()}.json"
    path.write_text(json.dumps({"template": variant.template.to_dict(), "task_type": task_type}), encoding="utf-8")
    return str(path)


def successive_halving(variants: list[Variant], base_cell: CellSpec, *, metric: str, registry: Any,
                       n_available: int, min_examples: int = 16, eta: int = 2, cache: Any = "default",
                       task_type: str | None = None) -> tuple[Variant, list[dict]]:
    """Keep the best ``1/eta`` each round while the examples per variant grow by ``eta``."""
    from promptyard.evals.metrics import get_metric
    from promptyard.evals.suite_run import run_cells

    sign = 1.0 if get_metric(metric).higher_is_better else -1.0
    alive = list(variants)
    rounds = []
    examples = min(min_examples, n_available)
    r = 0
    while True:
        cells = [replace(base_cell, prompt=_write(v, task_type), sample=examples, metrics=(metric,)) for v in alive]
        results = run_cells(cells, registry=registry, cache=cache)
        for v, res in zip(alive, results, strict=True):
            v.scores[examples] = res.metric(metric).value
        rounds.append({"round": r, "examples": examples, "scores": {v.name: v.scores[examples] for v in alive}})

        def key(v: Variant, n: int = examples) -> float:
            value = v.scores[n]
            return -math.inf if value is None or math.isnan(value) else sign * value

        alive.sort(key=key, reverse=True)  # stable: ties keep the earlier (base first) variant
        if len(alive) == 1 or examples >= n_available:
            return alive[0], rounds
        alive = alive[:max(1, math.ceil(len(alive) / eta))]
        examples = min(examples * eta, n_available)
        r += 1


def search(registry: Any, prompt_ref: str, base_cell: CellSpec, *, metric: str, variants_file: str | None = None,
           generate: bool = False, min_examples: int = 16, eta: int = 2, commit: bool = True,
           cache: Any = "default") -> SearchResult:
    """Search variants of ``prompt_ref`` on ``base_cell``'s data (validation split) and commit the best."""

    if not variants_file and not generate:
        raise ValidationError("give a variants file or ask to generate variants", where="eval search",
                              hint="--variants FILE or --generate")
    prompt = resolve_prompt(prompt_ref, registry)
    variants = (load_variants(variants_file, prompt.template) if variants_file
                else generate_variants(prompt.template, registered("example_selectors")))
    cell = replace(base_cell, split=base_cell.split if base_cell.split != "test" else "validation", sample=None)
    n_available = len(cell_indices(cell))
    best, rounds = successive_halving(variants, cell, metric=metric, registry=registry, n_available=n_available,
                                      min_examples=min_examples, eta=eta, cache=cache, task_type=prompt.task_type)
    result = SearchResult(prompt_ref, metric, variants, rounds, best)
    if commit and prompt.version_id is not None:
        name = prompt.resolved.split("@")[0]
        info = registry.commit(name, best.template, message=result.message(),
                               lineage={"search": result.to_dict()})
        result.committed = info.ref if info is not None else None
    return result
