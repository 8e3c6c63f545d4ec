"""Lineage of a trained adapter: ONE schema for ``tune run`` and ``tune search``, checked when written.

Every writer (the training loop's :func:`promptyard.tuning.loop.train`, a search's best trial,
:mod:`promptyard.tuning.search_driver`, and ``adapter merge``, :mod:`promptyard.tuning.merging`) builds a
mapping with these keys and passes it through :func:`validate_lineage` before it is registered::

    source:          "run", "search" or "merge"
    base_model:      {ref: str, hash: str | None, kind: str | None}
    method:          {name: str, config: {...}}              # the tuning method and its settings
    task:            {name: str | None, labels: [...] | None, choices: [...] | None}
    prompt:          {...}                                   # ref, hash, … of the prompt version (optional)
    data:            {...}                                   # ref, fingerprints, sizes
    hyperparameters: {...}
    metrics:         {val_metric: number, metric_name: str, …}
    seed:            int | None
    packages:        {name: version}
    text_format:     {prompt_hash, chat_template_hash}       # the text it was trained on (optional;
                                                             # a list of them for a merge of several)
    search:          {id, trial_id, …}                       # searches only
    merge:           {combination, parents: [{ref, artifact_hash, weight}, …]}   # merges only
    mix:             {source, tasks: [{name, task, weight, prompt, data, labels, choices}]}
                                                             # task mixes only; then prompt and data are absent

Readers go through :func:`read_lineage`, which also accepts what older versions wrote (a search recorded
``method`` as a bare string), so every adapter in every registry reads the same way.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from promptyard.core.errors import TuningError

SOURCES = ("run", "search", "merge")
#: key -> the type its value must have (None always allowed for the optional ones)
SECTIONS: dict[str, type] = {"base_model": dict, "method": dict, "task": dict, "prompt": dict, "data": dict,
                             "hyperparameters": dict, "metrics": dict, "packages": dict, "search": dict,
                             "merge": dict, "mix": dict}
REQUIRED = ("source", "base_model", "method")

#: what decides a trained adapter's weights or an eval's numbers
PACKAGES = ("promptyard", "torch", "transformers", "peft", "accelerate", "evaluate", "numpy", "scikit-learn",
            "sacrebleu", "rouge_score")


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    out = [("python", platform.python_version())]
    for name in PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return tuple(out)


def package_versions() -> dict[str, str]:
    """``{"python": "3.11.9", "torch": "2.13.0", ...}``; a package that is absent is ``"not installed"``."""
    return dict(_versions())


def _fail(key: str, message: str) -> TuningError:
    return TuningError(f"lineage {key}: {message}", where="lineage",
                       hint="build it with promptyard.runtime.lineage (see its docstring for the schema)")


def validate_lineage(lineage: Any) -> dict[str, Any]:
    """``lineage`` when it has the schema above; TuningError naming the first key that does not."""
    if not isinstance(lineage, Mapping):
        raise _fail("(root)", f"must be a mapping, got {type(lineage).__name__}")
    for key in REQUIRED:
        if key not in lineage:
            raise _fail(key, "is missing")
    if lineage["source"] not in SOURCES:
        raise _fail("source", f"must be one of {', '.join(SOURCES)}, got {lineage['source']!r}")
    for key, expected in SECTIONS.items():
        value = lineage.get(key)
        if value is not None and not isinstance(value, expected):
            raise _fail(key, f"must be a mapping, got {type(value).__name__}")
    base, method = lineage["base_model"], lineage["method"]
    if not isinstance(base.get("ref"), str) or not base["ref"]:
        raise _fail("base_model.ref", "must be a non-empty string")
    if not isinstance(method.get("name"), str) or not method["name"]:
        raise _fail("method.name", "must be a non-empty string")
    if not isinstance(method.get("config", {}), Mapping):
        raise _fail("method.config", "must be a mapping")
    metrics = lineage.get("metrics") or {}
    value = metrics.get("val_metric")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise _fail("metrics.val_metric", f"must be a number, got {type(value).__name__}")
    seed = lineage.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _fail("seed", f"must be an integer, got {type(seed).__name__}")
    if lineage["source"] == "search" and not isinstance(lineage.get("search"), Mapping):
        raise _fail("search", "a search's lineage names the search (id, trial_id)")
    if lineage["source"] == "merge" and len((lineage.get("merge") or {}).get("parents") or []) < 2:
        raise _fail("merge", "a merge's lineage names its parents (two or more)")
    fmt = lineage.get("text_format")
    if fmt is not None and not isinstance(fmt, Mapping) and not (
            isinstance(fmt, list) and fmt and all(isinstance(f, Mapping) for f in fmt)):
        raise _fail("text_format", f"must be a mapping or a list of mappings, got {type(fmt).__name__}")
    mix = lineage.get("mix")
    if mix is not None and (not isinstance(mix.get("tasks"), list) or not mix["tasks"]
                            or not all(isinstance(t, Mapping) for t in mix["tasks"])):
        raise _fail("mix.tasks", "must be a non-empty list of task mappings")
    return dict(lineage)


def read_lineage(lineage: Any) -> dict[str, Any]:
    """Any stored lineage in the schema's shape, for readers: older shapes converted (``method`` as a bare
    string), sections that are not mappings read as empty. Never raises."""
    out = dict(lineage) if isinstance(lineage, Mapping) else {}
    method = out.get("method")
    if isinstance(method, str):
        out["method"] = {"name": method, "config": {}}
    for key in SECTIONS:
        if not isinstance(out.get(key), Mapping):
            out[key] = {}
    out.setdefault("source", "search" if out["search"] else "run")
    return out


def trained_prompts(lineage: Any) -> list[dict[str, Any]]:
    """The prompt versions an adapter was trained on (ref, resolved, hash): one, or one per task of a mix."""
    lin = read_lineage(lineage)
    if lin["mix"]:
        return [dict(t.get("prompt") or {}) for t in lin["mix"].get("tasks") or [] if isinstance(t, Mapping)]
    return [dict(lin["prompt"])] if lin["prompt"] else []


def summary(lineage: Any) -> dict[str, Any]:
    """What ``adapter list`` shows: method name, base model ref and the validation metric."""
    lin = read_lineage(lineage)
    metric = lin["metrics"].get("val_metric")
    return {"method": lin["method"].get("name"), "base_model": lin["base_model"].get("ref"),
            "metric": metric if isinstance(metric, int | float) and not isinstance(metric, bool) else None}


__all__ = ["package_versions", "read_lineage", "summary", "trained_prompts", "validate_lineage"]
