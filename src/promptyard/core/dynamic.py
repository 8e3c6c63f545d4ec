"""*dynamic* templates: few-shot examples chosen per input, values from providers, and the record.

At render time promptyard adds two kinds of names to the template's context:

- ``examples``: the examples chosen from ``t.examples`` by the selector named ``t.selector`` (looked up
  in the ``example_selectors`` plugin table) with ``k`` and the seed (the render's ``seed``, else ``t.seed``).
  No selector means the first ``k`` examples in pool order (all of them when ``k`` is 0).
- every registered value provider the template reads, e.g. ``{{ word_count }}``: ``provider(variables)``.

Conditional sections are plain Jinja2 ``{% if %}`` blocks. What was chosen goes into
``Rendered.record`` (selector, seed, k, example indices, provider values), and ``render(t, variables,
record=record)`` renders exactly the same prompt again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from promptyard.core.errors import RenderError, ValidationError
from promptyard.core.host import lookup
from promptyard.core.template import Template


def check_dynamic(t: Template) -> None:
    """The pool is a list of mappings, ``k`` is not negative, the selector exists, raw mode is not used."""
    if t.raw:
        raise ValidationError("raw mode is not available for dynamic templates", where="raw",
                              hint="write literal braces inside {% raw %}...{% endraw %}")
    if not isinstance(t.examples, list) or not all(isinstance(e, Mapping) for e in t.examples):
        raise ValidationError("examples must be a list of mappings such as {text: ..., label: ...}",
                              where="examples")
    if t.k < 0:
        raise ValidationError(f"k must be 0 (all) or more, got {t.k}", where="k")
    if t.selector is not None:

        lookup("example_selectors", t.selector)  # UnknownNameError lists the known selectors


def _as_indices(chosen: Any, pool: list[dict[str, Any]], selector: str) -> list[int]:
    """Selectors may return indices into the pool or the example dicts themselves."""
    if not isinstance(chosen, (list, tuple)):
        raise RenderError(f"selector {selector!r} returned {type(chosen).__name__}, "
                          "expected a list of indices")
    indices = []
    for item in chosen:
        if isinstance(item, int) and not isinstance(item, bool):
            if not 0 <= item < len(pool):
                raise RenderError(f"selector {selector!r} returned index {item}, "
                                  f"outside the pool of {len(pool)}")
            indices.append(item)
            continue
        position = next((i for i, ex in enumerate(pool) if ex is item), None)
        if position is None:
            position = next((i for i, ex in enumerate(pool) if ex == item), None)
        if position is None:
            raise RenderError(f"selector {selector!r} returned an example that is not in the pool: "
                              f"{item!r:.60}")
        indices.append(position)
    return indices


def _replayed_indices(record: Mapping[str, Any], pool: list[dict[str, Any]]) -> list[int]:
    indices = record.get("indices")
    if not isinstance(indices, list) or not all(isinstance(i, int) and 0 <= i < len(pool) for i in indices):
        raise RenderError(f"record indices {indices!r} do not fit this template's pool "
                          f"of {len(pool)} examples",
                          where="record", hint="a record reproduces a render of the same template version")
    return list(indices)


def choose(t: Template, variables: Mapping[str, Any], seed: int) -> list[int]:
    """Indices of the examples for this input, in the order they appear in the prompt."""
    pool = t.examples
    k = t.k or len(pool)
    if t.selector is None:
        return list(range(min(k, len(pool))))

    selector = lookup("example_selectors", t.selector)
    try:
        chosen = selector(pool, dict(variables), min(k, len(pool)), seed)
    except RenderError:
        raise
    except Exception as exc:  # a plugin's bug must surface as a render error naming the plugin
        raise RenderError(f"selector {t.selector!r} failed: {type(exc).__name__}: {exc}") from exc
    return _as_indices(chosen, pool, t.selector)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def dynamic_context(t: Template, prepared: Any, variables: dict[str, Any], *, seed: int | None,
                    record: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The names promptyard adds for this render, and the record that reproduces it."""
    if record is not None:
        if not isinstance(record, Mapping):
            raise RenderError(f"record must be a mapping, got {type(record).__name__}", where="record")
        indices = _replayed_indices(record, t.examples)
        used_seed = record.get("seed", t.seed if seed is None else seed)
        recorded_values = record.get("values") or {}
    else:
        used_seed = t.seed if seed is None else seed
        indices = choose(t, variables, used_seed)
        recorded_values = {}
    values: dict[str, Any] = {}
    if prepared.providers:

        for name in prepared.providers:
            if name in recorded_values:
                values[name] = recorded_values[name]
                continue
            try:
                values[name] = lookup("value_providers", name)(dict(variables))
            except RenderError:
                raise
            except Exception as exc:
                raise RenderError(f"value provider {name!r} failed: {type(exc).__name__}: {exc}") from exc
    rec = {"selector": t.selector, "seed": used_seed, "k": t.k, "indices": indices,
           "values": {n: v for n, v in values.items() if _jsonable(v)}}
    return {"examples": [t.examples[i] for i in indices], **values}, rec


__all__ = ["check_dynamic", "choose", "dynamic_context"]
