"""Candidate pools for prompt optimisers: variants given in a file, or generated from the prompt.

Generated variants: wording prefixes for every kind with a text; for dynamic templates also the
few-shot count and the selector. The optimisers that take a pool (successive halving, bandit, random
search) choose among them; ``eval search`` is successive halving over such a pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptyard.core.errors import ValidationError
from promptyard.core.host import registered
from promptyard.core.template import Template
from promptyard.core.yaml_files import load_data_file

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


def known_selectors() -> list[str]:
    """The registered few-shot example selectors (generated variants try each)."""
    return registered("example_selectors")
