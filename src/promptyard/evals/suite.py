"""Suite files: which prompts × models/adapters × data sets to evaluate, with which metrics and decoding.

A suite is YAML (see ``docs/evals.md`` for the reference). It expands into :class:`CellSpec` objects,
one per (data set, prompt, model, adapter); a cell is what :func:`promptyard.evals.runner.run_cell` runs.
Every validation error names the file, the key path and what was expected.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from promptyard.core.errors import PromptyardError, ValidationError
from promptyard.core.host import lookup, registered
from promptyard.core.optimization import build_config
from promptyard.core.protocols import member
from promptyard.core.text_files import read_text
from promptyard.core.yaml_files import format_key, load_yaml
from promptyard.runtime.precision import DEFAULT as DEFAULT_PRECISION
from promptyard.runtime.precision import PRECISIONS

SPLITS = ("train", "validation", "test", "all")
SCORING = ("choices", "generate")
#: decoding keys the runner understands; anything else is passed to ``generate`` as is
DECODING_KEYS = {"max_new_tokens": int, "temperature": float, "top_p": float, "top_k": int,
                 "do_sample": bool, "batch_size": int, "repetition_penalty": float, "chat": bool,
                 "reply_prefix": str, "precision": str}
#: decoding keys that count something: at least one
POSITIVE_DECODING_KEYS = ("max_new_tokens", "batch_size")
TOP_KEYS = {"name", "description", "seed", "data", "prompts", "models", "metrics", "decoding", "task",
            "scoring", "choices", "n_boot", "strict_template", "cells", "metric_options"}


@dataclass(frozen=True)
class CellSpec:
    """One evaluation cell: a prompt on a model (optionally with an adapter) over a data sample.

    Plain values only, so it pickles to a Ray worker, which re-opens the registry at ``registry``.
    """

    prompt: str
    model: str
    data: str
    adapter: str | None = None
    split: str = "test"
    sample: int | None = None
    metrics: tuple[str, ...] = ()
    decoding: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    task: str | None = None
    scoring: str | None = None
    choices: tuple[str, ...] | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    n_boot: int = 1000
    registry: str | None = None
    #: replies sampled per example (generation cells): each with its own decoding seed, recorded
    repeats: int = 1
    #: refuse (rather than warn about and mark) an adapter given text in another format than it was trained on
    strict_template: bool = False
    #: settings of metrics that take them, metric name -> {setting: value} (``judge``: prompt, model, ...)
    metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["metrics"] = list(self.metrics)
        d["choices"] = list(self.choices) if self.choices is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CellSpec:
        d = dict(d)
        d["metrics"] = tuple(d.get("metrics") or ())
        if d.get("choices") is not None:
            d["choices"] = tuple(d["choices"])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def label(self) -> str:
        model = self.model + (f"+{self.adapter}" if self.adapter else "")
        return f"{self.prompt} | {model} | {self.data}:{self.split}"

    def with_registry(self, registry: str | None) -> CellSpec:
        return replace(self, registry=registry)


@dataclass
class Suite:
    """A parsed suite file: its name, the cells it expands to, and where it came from."""

    name: str
    cells: list[CellSpec]
    path: str | None = None
    seed: int = 0
    raw: dict[str, Any] = field(default_factory=dict)


class _Checker:
    """Reads values out of the parsed YAML and raises with ``file: key.path`` on anything unexpected."""

    def __init__(self, source: str, lines: dict[str, int] | None = None):
        self.source = source
        self.lines = lines or {}  # "cells[0].prompt" -> line in the file

    def fail(self, path: str, message: str, hint: str | None = None) -> ValidationError:
        line = next((self.lines[p] for p in _prefixes(path) if p in self.lines), None)
        at = f"{self.source} line {line}" if line else self.source
        return ValidationError(message, where=f"{at}: {path}" if path else at, hint=hint)

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"expected a non-empty string, got {_show(value)}")
        return value.strip()

    def integer(self, value: Any, path: str, *, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(path, f"expected an integer >= {minimum}, got {_show(value)}")
        return value

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping, got {_show(value)}")
        return value

    def listing(self, value: Any, path: str, *, allow_scalar: bool = True) -> list[Any]:
        if allow_scalar and isinstance(value, str | dict):
            return [value]
        if not isinstance(value, list) or not value:
            raise self.fail(path, f"expected a non-empty list, got {_show(value)}")
        return value

    def known(self, d: dict[str, Any], keys: set[str], path: str) -> None:
        for key in d:
            if key not in keys:
                where = f"{path}.{key}" if path else str(key)
                raise self.fail(where, f"unknown key {key!r}", hint=f"expected one of: {', '.join(sorted(keys))}")


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if value is not None else "nothing"


def _data_entries(c: _Checker, value: Any, path: str) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(c.listing(value, path)):
        where = f"{path}[{i}]"
        if isinstance(item, str):
            item = {"ref": item}
        item = c.mapping(item, where)
        c.known(item, {"ref", "split", "sample", "options"}, where)
        if "ref" not in item:
            raise c.fail(where, "missing key 'ref'", hint="the data set reference, e.g. rotten_tomatoes")
        split = item.get("split", "test")
        if split not in SPLITS:
            raise c.fail(f"{where}.split", f"expected one of {', '.join(SPLITS)}, got {_show(split)}")
        sample = item.get("sample")
        out.append({"data": c.string(item["ref"], f"{where}.ref"), "split": split,
                    "sample": None if sample is None else c.integer(sample, f"{where}.sample", minimum=1),
                    "data_options": dict(c.mapping(item.get("options") or {}, f"{where}.options"))})
    return out


def _model_entries(c: _Checker, value: Any, path: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for i, item in enumerate(c.listing(value, path)):
        where = f"{path}[{i}]"
        if isinstance(item, str):
            out.append((item.strip(), None))
            continue
        item = c.mapping(item, where)
        c.known(item, {"model", "adapters", "include_base"}, where)
        if "model" not in item:
            raise c.fail(where, "missing key 'model'", hint="a model reference, e.g. smollm2-135m")
        model = c.string(item["model"], f"{where}.model")
        adapters = item.get("adapters") or []
        if isinstance(adapters, str):
            adapters = [adapters]
        if not isinstance(adapters, list):
            raise c.fail(f"{where}.adapters", f"expected a list of adapter references, got {_show(adapters)}")
        include_base = item.get("include_base", not adapters)
        if not isinstance(include_base, bool):
            raise c.fail(f"{where}.include_base", f"expected true or false, got {_show(include_base)}")
        if include_base:
            out.append((model, None))
        out.extend((model, c.string(a, f"{where}.adapters[{j}]")) for j, a in enumerate(adapters))
    return out


def _prompt_entries(c: _Checker, value: Any, path: str) -> list[str]:
    out = []
    for i, item in enumerate(c.listing(value, path)):
        if isinstance(item, dict):
            c.known(item, {"ref"}, f"{path}[{i}]")
            item = item.get("ref")
        out.append(c.string(item, f"{path}[{i}]"))
    return out


def _common(c: _Checker, d: dict[str, Any], path: str, base: dict[str, Any]) -> dict[str, Any]:
    """Settings shared by every cell (metrics, decoding, task, scoring, choices, seed, n_boot, strict_template)."""
    out = dict(base)
    prefix = f"{path}." if path else ""
    if "metrics" in d:
        metrics = d["metrics"]
        metrics = [metrics] if isinstance(metrics, str) else metrics
        if not isinstance(metrics, list):
            raise c.fail(f"{prefix}metrics", f"expected a list of metric names, got {_show(metrics)}")
        out["metrics"] = tuple(c.string(m, f"{prefix}metrics[{i}]") for i, m in enumerate(metrics))
        # checked here, not after inference: a typo must not cost a model load and a whole run

        known = set(registered("metrics"))
        for i, name in enumerate(out["metrics"]):
            if name not in known:
                raise c.fail(f"{prefix}metrics[{i}]", f"unknown metric {name!r}",
                             hint=f"known: {', '.join(sorted(known))}")
    if "decoding" in d:
        decoding = dict(c.mapping(d["decoding"], f"{prefix}decoding"))
        for key, kind in DECODING_KEYS.items():
            if key in decoding:
                value = decoding[key]
                ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
                if not ok or isinstance(value, bool) and kind is not bool:
                    raise c.fail(f"{prefix}decoding.{key}", f"expected {kind.__name__}, got {_show(value)}")
                if key in POSITIVE_DECODING_KEYS and value < 1:
                    raise c.fail(f"{prefix}decoding.{key}", f"expected an integer >= 1, got {_show(value)}")
        if "precision" in decoding:
            if decoding["precision"] not in PRECISIONS:
                raise c.fail(f"{prefix}decoding.precision", f"expected one of {', '.join(PRECISIONS)}, "
                             f"got {_show(decoding['precision'])}", hint="fp32 (exact) is the default")
            if decoding["precision"] == DEFAULT_PRECISION:  # the default: the same cache keys as leaving it out
                del decoding["precision"]
        out["decoding"] = {**out.get("decoding", {}), **decoding}
    if "task" in d:
        out["task"] = c.string(d["task"], f"{prefix}task")
    if "scoring" in d:
        if d["scoring"] not in SCORING:
            raise c.fail(f"{prefix}scoring", f"expected one of {', '.join(SCORING)}, got {_show(d['scoring'])}")
        out["scoring"] = d["scoring"]
    if "choices" in d:
        choices = d["choices"]
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(x, str) for x in choices):
            raise c.fail(f"{prefix}choices", f"expected a list of at least two strings, got {_show(choices)}")
        out["choices"] = tuple(choices)
    if "metric_options" in d:
        options = dict(out.get("metric_options", {}))
        for name, settings in c.mapping(d["metric_options"], f"{prefix}metric_options").items():
            where = f"{prefix}metric_options.{name}"
            options[name] = {**options.get(name, {}), **c.mapping(settings, where)}
            check_metric_options(name, options[name], c, where)
        out["metric_options"] = options
    if "seed" in d:
        out["seed"] = c.integer(d["seed"], f"{prefix}seed")
    if "n_boot" in d:
        out["n_boot"] = c.integer(d["n_boot"], f"{prefix}n_boot", minimum=10)
    if "strict_template" in d:
        if not isinstance(d["strict_template"], bool):
            raise c.fail(f"{prefix}strict_template", f"expected true or false, got {_show(d['strict_template'])}")
        out["strict_template"] = d["strict_template"]
    return out


def check_metric_options(name: str, settings: dict[str, Any], c: _Checker | None = None, where: str = "") -> None:
    """Settings for metric ``name`` must name a metric that takes settings, and build its config."""
    if name not in set(registered("metrics")):
        message, hint = f"settings for unknown metric {name!r}", f"known: {', '.join(sorted(registered('metrics')))}"
        raise c.fail(where, message, hint=hint) if c else ValidationError(message, where=where or "--set", hint=hint)
    config_class = member("metrics", lookup("metrics", name), "config_class")
    if config_class is None:
        message = f"metric {name!r} takes no settings"
        raise c.fail(where, message) if c else ValidationError(message, where=where or "--set")
    try:
        build_config(config_class, {k: v for k, v in settings.items()}, where=f"--set {name}.")
    except PromptyardError as exc:
        if c is None:
            raise
        raise c.fail(where, exc.message, hint=exc.hint) from None


def _prefixes(path: str) -> list[str]:
    """``cells[0].prompt``, ``cells[0]``, ``cells``: the key path and its parents, deepest first."""
    out = [path] if path else []
    while path:
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
        if path:
            out.append(path)
    return out


def parse_suite(data: Any, *, source: str = "suite", lines: dict[str, int] | None = None) -> Suite:
    """Validate a parsed suite document and expand it into cells (``lines``: key path -> file line)."""
    c = _Checker(source, lines)
    d = c.mapping(data, "")
    c.known(d, TOP_KEYS, "")
    common = _common(c, d, "", {})
    cells: list[CellSpec] = []
    matrix = [k for k in ("data", "prompts", "models") if k in d]
    if matrix and len(matrix) < 3:
        missing = sorted({"data", "prompts", "models"} - set(matrix))
        raise c.fail(missing[0], f"missing key {missing[0]!r}",
                     hint="a matrix suite names data, prompts and models (or list explicit cells)")
    if matrix:
        for data in _data_entries(c, d["data"], "data"):
            for prompt in _prompt_entries(c, d["prompts"], "prompts"):
                for model, adapter in _model_entries(c, d["models"], "models"):
                    cells.append(CellSpec(prompt=prompt, model=model, adapter=adapter, **data, **common))
    for i, item in enumerate(c.listing(d["cells"], "cells", allow_scalar=False) if "cells" in d else []):
        where = f"cells[{i}]"
        item = c.mapping(item, where)
        c.known(item, {"prompt", "model", "adapter", "data", "split", "sample", "options", "metrics", "decoding",
                       "task", "scoring", "choices", "seed", "n_boot", "strict_template", "metric_options"},
                      where)
        for key in ("prompt", "model", "data"):
            if key not in item:
                raise c.fail(where, f"missing key {key!r}")
        data = _data_entries(c, [{"ref": item["data"], **{k: item[k] for k in ("split", "sample", "options")
                                                          if k in item}}], where)[0]
        cells.append(CellSpec(prompt=c.string(item["prompt"], f"{where}.prompt"),
                              model=c.string(item["model"], f"{where}.model"),
                              adapter=c.string(item["adapter"], f"{where}.adapter") if item.get("adapter") else None,
                              **data, **_common(c, item, where, common)))
    if not cells:
        raise c.fail("", "the suite has no cells", hint="name data, prompts and models, or list cells")
    name = d.get("name") or (Path(source).stem if source != "suite" else "suite")
    return Suite(name=c.string(name, "name"), cells=cells, path=None, seed=common.get("seed", 0), raw=d)


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite YAML file."""
    p = Path(path)
    if not p.is_file():
        raise ValidationError("suite file not found", where=str(p), hint="pass the path of a YAML suite file")
    doc = load_yaml(read_text(p, what="suite file"), source=p.name)
    lines = {format_key(key): line for key, line in doc.lines.items()}
    suite = parse_suite(doc.data, source=p.name, lines=lines)
    suite.path = str(p.resolve())
    return suite


def single_cell(prompt: str, model: str, data: str, *, adapter: str | None = None, split: str = "test",
                sample: int | None = None, metrics: list[str] | tuple[str, ...] = (), seed: int = 0,
                decoding: dict[str, Any] | None = None, task: str | None = None, scoring: str | None = None,
                choices: list[str] | None = None, metric_options: dict[str, dict[str, Any]] | None = None) -> Suite:
    """A one-cell suite from command-line options, validated like a file."""
    doc: dict[str, Any] = {"name": "adhoc", "seed": seed, "data": [{"ref": data, "split": split}],
                           "prompts": [prompt], "models": [{"model": model, "adapters": [adapter]} if adapter
                                                           else model]}
    if sample is not None:
        doc["data"][0]["sample"] = sample
    for key, value in (("metrics", list(metrics)), ("decoding", decoding), ("task", task),
                       ("scoring", scoring), ("choices", choices)):
        if value:
            doc[key] = value
    return parse_suite(doc, source="command line")
