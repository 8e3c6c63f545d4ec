"""Turn a :class:`CellSpec` into what inference needs: the resolved prompt, data rows, rendered prompts."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptyard.core.adapter_files import check_safetensors_only
from promptyard.core.errors import EvalError, RenderError
from promptyard.core.hashing import files_sha256, sha256_json
from promptyard.core.host import lookup
from promptyard.core.lookups import ADAPTER_META, load_dataset
from promptyard.core.protocols import member
from promptyard.core.template_files import is_template_file
from promptyard.evals.judging import JudgeContext, prepare_judges
from promptyard.evals.suite import CellSpec
from promptyard.runtime.lineage import package_versions
from promptyard.runtime.prompts import ResolvedPrompt, resolve_prompt


@dataclass
class ResolvedAdapter:
    ref: str
    path: Path
    content_hash: str  # the adapter's artifact hash (its files), what decides its outputs
    resolved: str
    version_id: int | None = None


@dataclass
class PreparedCell:
    """Everything about a cell that does not need the model: examples, rendered prompts, lineage."""

    spec: CellSpec
    prompt: ResolvedPrompt
    adapter: ResolvedAdapter | None
    task: Any
    task_name: str
    mode: str  # "choices" | "generate"
    indices: list[int]
    examples: list[Any]  # core.protocols.Example, aligned with indices
    texts: list[str]  # rendered prompts (raw text, or messages to be chat-formatted)
    messages: list[list[dict[str, str]] | None]
    records: list[dict[str, Any]]
    choices: list[str] | None
    labels: list[str]
    data_fingerprint: str
    lineage: dict[str, Any] = field(default_factory=dict)
    #: judged metrics (``judge``), each with its checked judge prompt and model, by metric name
    judges: dict[str, JudgeContext] = field(default_factory=dict)


def open_registry(spec: CellSpec, registry: Any = None) -> Any:
    """The registry to resolve references in: the one given, else the one the spec names, else the default."""
    if registry is not None:
        return registry
    from promptyard.registry.api import Registry

    return Registry.open(spec.registry)


def resolve_adapter(ref: str, registry: Any) -> ResolvedAdapter:
    """A registry adapter reference, or a local adapter folder (PEFT's, or one promptyard trained)."""
    path = Path(ref)
    if path.is_dir():
        check_safetensors_only(path, loading=True)
    if (path / "adapter_config.json").is_file() or (path / ADAPTER_META).is_file():

        files = sorted(p for p in path.rglob("*") if p.is_file())
        return ResolvedAdapter(ref, path.resolve(), files_sha256(files, path), str(path.resolve()))
    info = registry.resolve(ref, kind="adapter")
    return ResolvedAdapter(ref, registry.adapter_path(info.ref), info.artifact_hash or info.content_hash,
                           info.ref, info.id)


def select_indices(n_rows: int, sample: int | None, seed: int) -> list[int]:
    """Indices into the split: all of them, or the first ``sample`` of a seeded permutation (ascending).

    Prefixes of one permutation make samples nested: a larger sample contains every smaller one with
    the same seed, which is what lets successive halving reuse cached responses.
    """
    if sample is None or sample >= n_rows:
        return list(range(n_rows))
    return sorted(sample_order(n_rows, seed)[:sample])


def sample_order(n_rows: int, seed: int) -> list[int]:
    """The seeded permutation of a split's indices whose prefixes are the cell samples."""
    order = list(range(n_rows))
    random.Random(f"eval:{seed}").shuffle(order)
    return order


def load_split(spec: CellSpec) -> Any:
    data = load_dataset(spec.data, **spec.data_options)
    if spec.split == "all":
        return data
    part = data.split(seed=spec.seed)[spec.split]
    if len(part) == 0:  # a tiny file: scoring nothing would report nan and look like success
        raise EvalError(f"the {spec.split} split of {spec.data} is empty ({len(data)} rows in all)",
                        where=spec.label(), hint="use --split all (or `split: all` in a suite), or more rows")
    return part


def cell_indices(spec: CellSpec) -> list[int]:
    """The example indices a cell evaluates: what a distributed runner shards."""
    return select_indices(len(load_split(spec)), spec.sample, spec.seed)


def _task_name(spec: CellSpec, prompt: ResolvedPrompt, data: Any) -> str:
    if spec.task:
        return spec.task
    if prompt.task_type:
        return prompt.task_type
    return "classification" if data.labels else "generation"


def _choice_labels(spec: CellSpec, choices: list[str] | None, examples: list[Any], data: Any,
                   declared: Any = None) -> list[str]:
    """The label each choice stands for: the task's label order, or the stripped text of suite choices.

    ``declared`` is the task type's own label list (its ``labels`` member), if it has one."""
    if not choices:
        return list(data.labels)
    task_labels = (examples[0].meta or {}).get("labels") if examples else None
    if spec.choices:
        labels = [c.strip() for c in choices]
        if declared:  # the task declares its label space: every choice must be one of them
            unknown = [x for x in labels if x not in {str(x) for x in declared}]
            if unknown:
                raise EvalError(f"choices {unknown} name no label of the task ({', '.join(map(str, declared))})",
                                where=spec.label(), hint="each choice is a label with optional leading space")
        elif data.labels and not set(labels) & set(data.labels):
            # the data's labels are only those its rows happen to carry (a 2-row smoke test, a small split
            # may miss one), so choices are the label space; but none matching is a naming mismatch
            raise EvalError(f"choices {labels} name no label of the data ({', '.join(data.labels)})",
                            where=spec.label(), hint="each choice is a label with optional leading space")
        return labels
    return [str(x) for x in task_labels] if task_labels else [c.strip() for c in choices]


def prepare_cell(spec: CellSpec, *, indices: list[int] | None = None, registry: Any = None) -> PreparedCell:
    """Resolve the prompt and adapter, load and sample the data, build examples and render every prompt."""
    from promptyard.core.render import render

    reg = open_registry(spec, registry) if not is_template_file(spec.prompt) or spec.adapter else registry
    prompt = resolve_prompt(spec.prompt, reg)
    adapter = resolve_adapter(spec.adapter, reg) if spec.adapter else None
    data = load_split(spec)
    sample = select_indices(len(data), spec.sample, spec.seed)
    chosen = sample
    if indices is not None:
        allowed = set(sample)
        bad = [i for i in indices if i not in allowed]
        if bad:
            raise EvalError(f"example indices {bad[:5]} are not part of this cell's sample", where=spec.label())
        chosen = sorted(indices)
    task_name = _task_name(spec, prompt, data)
    task = lookup("task_types", task_name)
    # a classification task without labels of its own (any name, plugins too) takes the data's
    fixed = member("task_types", task, "labels")
    options = ({"labels": data.labels} if data.labels and task.kind == "classification"
               and not fixed else None)
    examples = [task.row_to_example(data.rows[i], options=options) for i in chosen]
    choices = list(spec.choices) if spec.choices else None
    if choices is None and examples and examples[0].choices:
        choices = list(examples[0].choices)
    structured = getattr(prompt.template, "kind", "") == "structured"
    mode = spec.scoring or ("choices" if choices and not structured else "generate")
    if mode == "choices" and spec.decoding.get("reply_prefix"):
        raise EvalError("decoding.reply_prefix applies to generated replies, but this cell scores choices",
                        where=spec.label(), hint="set `scoring: generate`, or drop reply_prefix")
    if mode == "choices" and spec.repeats > 1:
        raise EvalError(f"repeats ({spec.repeats}) sample replies, but this cell scores choices",
                        where=spec.label(), hint="set `scoring: generate` (--scoring generate)")
    if mode == "choices" and not choices:
        raise EvalError("choices scoring needs choices", where=spec.label(),
                        hint="set `choices:` in the suite, or use a task type that provides them")
    from promptyard.core.render import check_template

    names = list(spec.metrics) or list(task.default_metrics)
    row_variables = sorted({k for example in examples for k in example.variables})
    judges = prepare_judges(spec, names, mode=mode, variables=row_variables, registry=reg)
    accepted = {v.name for v in check_template(prompt.template)}
    texts, messages, records = [], [], []
    for i, example in zip(chosen, examples, strict=True):
        # a row's extra columns are not the template's business: pass only what it accepts
        variables = {k: v for k, v in example.variables.items() if k in accepted}
        try:
            rendered = render(prompt.template, variables, seed=spec.seed + i)
        except RenderError as exc:
            given = ", ".join(sorted(example.variables)) or "none"
            raise RenderError(exc.message, where=f"{spec.label()}, example {i}",
                              hint=f"rows of {spec.data} give: {given}; use those names in the template") from None
        texts.append(rendered.text)
        messages.append(rendered.messages)
        records.append(rendered.record or {})
    labels = _choice_labels(spec, choices, examples, data, declared=fixed)
    full_fingerprint = getattr(data, "fingerprint", "")
    # of the cell's whole sample, not of a shard: shards of one cell share their lineage
    fingerprint = sha256_json({"data": full_fingerprint, "indices": sample})
    prepared = PreparedCell(spec, prompt, adapter, task, task_name, mode, chosen, examples, texts, messages,
                            records, choices, labels, fingerprint, judges=judges)
    prepared.lineage = {
        "prompt": {"ref": spec.prompt, "resolved": prompt.resolved, "version_id": prompt.version_id,
                   "hash": prompt.content_hash},
        "adapter": None if adapter is None else {"ref": adapter.ref, "resolved": adapter.resolved,
                                                 "version_id": adapter.version_id, "hash": adapter.content_hash},
        "data": {"ref": spec.data, "split": spec.split, "sample": spec.sample, "fingerprint": fingerprint,
                 "split_fingerprint": full_fingerprint, "n": len(sample), "options": spec.data_options},
        "task": {"name": task_name, "version": str(task.version)},
        "scoring": mode, "choices": choices, "labels": labels, "decoding": dict(spec.decoding), "seed": spec.seed,
        "output_schema": getattr(prompt.template, "output_schema", None) if structured else None,
        "packages": package_versions(),
    }
    return prepared

