"""Run evaluation cells: batched inference through ``runtime.inference``, the response cache, metrics.

``run_cell(cell, indices=None, cache=...)`` runs one cell (or the given example indices of it, for a
distributed runner that shards by index and merges with :func:`promptyard.evals.results.merge_shards`).
``run_suite`` runs every cell of a suite, loading each base model once, and stores the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from promptyard.core import stats
from promptyard.core.errors import PromptyardError
from promptyard.core.hashing import sha256_json
from promptyard.core.lookups import read_meta
from promptyard.core.structured import parse_output
from promptyard.evals.cache import ResponseCache, response_key
from promptyard.evals.cells import PreparedCell, prepare_cell
from promptyard.evals.judging import judge_examples
from promptyard.evals.modelpool import ModelPool, ModelSource
from promptyard.evals.results import CellResult, ExampleResult, compute_cell_metrics
from promptyard.evals.suite import CellSpec
from promptyard.runtime import inference
from promptyard.runtime import precision as precisions
from promptyard.runtime.model_text import model_text
from promptyard.runtime.text_format import (
    MISMATCH,
    check_text_format,
    refuse_mismatch,
    summary,
    text_format,
    trained_formats,
)
from promptyard.runtime.threads import tuned_threads

DEFAULT = "default"
#: examples per timed chunk: big enough that length-sorted batches stay full, small enough for progress
CHUNK_BATCHES = 4
Progress = Callable[[int, int], None]

log = logging.getLogger(__name__)


def open_cache(cache: ResponseCache | str | None) -> ResponseCache | None:
    """``"default"`` -> the cache in the promptyard cache dir; None -> no cache (``--no-cache``)."""
    if cache == DEFAULT:
        return ResponseCache()
    if isinstance(cache, str):
        return ResponseCache(cache)
    return cache


def format_prompts(prepared: PreparedCell, tokenizer: Any) -> list[str]:
    """Rendered text; messages (multi templates, or ``decoding.chat``) go through the model's chat template.

    A generation cell's ``decoding.reply_prefix`` is appended: the reply starts with it (an "assistant
    prefill", lm-eval's ``gen_prefix``), which steers a small model into the format asked for.
    """
    chat = bool(prepared.spec.decoding.get("chat", False))
    prefix = reply_prefix(prepared)
    return [model_text(text, messages, tokenizer, chat=chat, reply_prefix=prefix)
            for text, messages in zip(prepared.texts, prepared.messages, strict=True)]


def template_check(prepared: PreparedCell, source: ModelSource) -> dict[str, Any] | None:
    """How the cell's text format (prompt version, chat template) compares with the one its adapter was trained
    on (:mod:`promptyard.runtime.text_format`); None without an adapter. ``strict_template`` refuses a mismatch.
    The tokenizer is read only when the cell goes through its chat template (no model is loaded for it)."""
    if prepared.adapter is None:
        return None
    chat = _needs_tokenizer(prepared)
    used = text_format(prepared.prompt.content_hash, source.tokenizer if chat else None, chat=chat,
                       prompt=prepared.prompt.resolved)
    check = check_text_format(trained_formats(read_meta(prepared.adapter.path)), used)
    if prepared.spec.strict_template:
        refuse_mismatch(check, where=prepared.spec.label())
    return check


def reply_prefix(prepared: PreparedCell) -> str:
    """The text every generated reply starts with (``decoding.reply_prefix``; generation cells only)."""
    return str(prepared.spec.decoding.get("reply_prefix", "")) if prepared.mode != "choices" else ""


def extract_label(output: str, labels: Sequence[str], template: Any) -> str:
    """The label a generated reply names: from the JSON of a structured prompt, else the first one mentioned."""
    if getattr(template, "kind", "") == "structured":

        try:
            value = parse_output(template, output)
        except PromptyardError:
            return ""
        candidates = list(value.values()) if isinstance(value, dict) else [value]
        for candidate in candidates:
            for label in labels:
                if isinstance(candidate, str) and candidate.strip().lower() == label.lower():
                    return label
        return ""
    lowered = output.lower()
    found = [(m.start(), label) for label in labels
             for m in [re.search(r"\b" + re.escape(label.lower()) + r"\b", lowered)] if m]
    return min(found)[1] if found else ""


def _generation_kwargs(decoding: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in decoding.items()
            if k not in ("batch_size", "max_new_tokens", "chat", "reply_prefix", "seed", "precision")}


def cell_precision(prepared: PreparedCell) -> str:
    """The cell's numeric precision (``decoding.precision``): fp32, exact, unless bf16 was asked for."""
    return precisions.check_precision(str(prepared.spec.decoding.get("precision", precisions.DEFAULT)),
                                      where=f"{prepared.spec.label()}: decoding.precision")


def _sampled(loaded: Any, texts: list[str], decoding: dict[str, Any]) -> list[str]:
    """Sampled replies (a repeat), one prompt at a time with a seed made of the decoding seed and the prompt:
    a reply depends on its cache key only, never on the batch, shard or worker it ran in, so a repeat run in
    shards on Ray samples exactly what an in-process run samples."""
    import torch

    out = []
    for text in texts:
        digest = hashlib.sha256(f"{int(decoding['seed'])}:{text}".encode()).hexdigest()
        torch.manual_seed(int(digest[:15], 16))
        out.extend(inference.generate(loaded, [text], max_new_tokens=int(decoding.get("max_new_tokens", 32)),
                                      batch_size=1, **_generation_kwargs(decoding)))
    return out


def _infer(prepared: PreparedCell, loaded: Any, prompts: list[str], todo: list[int],
           progress: Progress | None, done0: int, total: int) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """Run the model on the examples at positions ``todo``; return position -> stored value, and facts about
    the run for the lineage (re-checked close calls of a bf16 cell)."""

    decoding = prepared.spec.decoding
    batch_size = int(decoding.get("batch_size", 16))
    precision = cell_precision(prepared)
    state_key = f"{loaded.content_hash}:{prepared.adapter.content_hash if prepared.adapter else ''}"
    tokenizer = loaded.tokenizer
    order = sorted(todo, key=lambda i: len(prompts[i]))
    chunk = max(1, batch_size * CHUNK_BATCHES)
    out: dict[int, dict[str, Any]] = {}
    facts: dict[str, Any] = {}
    done = done0
    with tuned_threads() as threads:
        for start in range(0, len(order), chunk):
            threads.step()  # from what the rest of the machine used meanwhile
            part = order[start:start + chunk]
            texts = [prompts[i] for i in part]
            t0 = time.perf_counter()
            values = _infer_chunk(prepared, loaded, texts, batch_size, precision, state_key, facts)
            per_example = (time.perf_counter() - t0) / len(part)
            lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
            for i, value, n_tokens in zip(part, values, lengths, strict=True):
                value["latency_s"] = per_example
                value["tokens"] = n_tokens + int(value.get("new_tokens", 0))
                out[i] = value
            done += len(part)
            if progress:
                progress(done, total)
    return out, facts


def _infer_chunk(prepared: PreparedCell, loaded: Any, texts: list[str], batch_size: int,
                 precision: str, state_key: str, facts: dict[str, Any]) -> list[dict[str, Any]]:
    decoding = prepared.spec.decoding
    if prepared.mode == "choices":
        choices = list(prepared.choices or [])
        if precision == "bf16":
            scores, close = inference.score_choices_bf16(loaded, texts, choices, batch_size=batch_size,
                                                         state_key=state_key)
            facts["rechecked_fp32"] = facts.get("rechecked_fp32", 0) + len(close)
        else:
            scores = inference.score_choices(loaded, texts, choices, batch_size=batch_size)
        return [{"scores": [float(s) for s in row]} for row in scores]
    model = precisions.for_precision(loaded, precision, state_key)
    if "seed" in decoding:  # a sampled repeat: seeded per prompt, so it replays
        replies = _sampled(model, texts, decoding)
    else:
        replies = inference.generate(model, texts, max_new_tokens=int(decoding.get("max_new_tokens", 32)),
                                     batch_size=batch_size, **_generation_kwargs(decoding))
    prefix = reply_prefix(prepared)  # part of the reply (the model continued it), not of the prompt
    return [{"output": prefix + r, "new_tokens": len(loaded.tokenizer(r, add_special_tokens=False)["input_ids"])}
            for r in replies]


def _example_result(prepared: PreparedCell, pos: int, prompt: str, value: dict[str, Any],
                    cached: bool) -> ExampleResult:
    example = prepared.examples[pos]
    reference = "" if example.target is None else str(example.target)
    task = prepared.task
    if prepared.mode == "choices":
        scores = value["scores"]
        best = max(range(len(scores)), key=lambda j: scores[j])
        # the task's predict decides (the built-ins take the best-scored label, as the choice shown does)
        output, prediction = (prepared.choices or [])[best], task.predict(scores, {"labels": prepared.labels})
    else:
        scores = None
        output = value["output"]
        # the prefix is stored with the reply but never scored: only what the model wrote decides,
        # except that a structured reply is parsed whole (the prefix opened its JSON)
        prefix = reply_prefix(prepared)
        written = output[len(prefix):] if prefix and output.startswith(prefix) else output
        template = prepared.prompt.template
        if task.kind == "classification":
            structured = getattr(template, "kind", "") == "structured"
            prediction = extract_label(output if structured else written, prepared.labels, template)
        else:
            prediction = task.predict(written, {"labels": prepared.labels})
    prompt_hash = hashlib.sha256(prompt.encode("utf-8")).hexdigest()
    return ExampleResult(prepared.indices[pos], prompt_hash, output, prediction, reference, scores,
                         float(value.get("latency_s", 0.0)), int(value.get("tokens", 0)), cached,
                         prepared.records[pos])


def run_prepared(prepared: PreparedCell, loaded: Any, *, cache: ResponseCache | None = None,
                 progress: Progress | None = None, pool: ModelPool | None = None) -> CellResult:
    """Inference (cache first) and metrics for a prepared cell on a model: a loaded one, or a
    :class:`~promptyard.evals.modelpool.ModelSource` that loads it only if an example misses the cache.

    With ``repeats`` N > 1 (generation cells) each example gets N sampled replies, repeat r with decoding
    seed ``seed * 1000 + r`` (in the cache key and the lineage); the result is repeat 0's, and
    ``lineage["repeats"]`` holds each example's pass rate over the N replies and its spread. ``pool`` loads
    the judge model of judged metrics (a fresh pool when not given).
    """
    if not isinstance(loaded, ModelSource):
        loaded = ModelSource.of(loaded)
    checked = template_check(prepared, loaded)  # before any inference: strict refuses here
    if checked is not None and checked["status"] == MISMATCH:
        log.warning("%s: %s", prepared.spec.label(), summary(checked))
    seeds, specs = repeat_specs(prepared.spec)
    if len(specs) == 1:
        return _run_once(prepared, loaded, cache=cache, progress=progress, pool=pool,
                         checked=checked)
    runs = [_run_once(replace(prepared, spec=spec), loaded, cache=cache, progress=progress, pool=pool,
                      checked=checked) for spec in specs]
    return combine_repeats(prepared.spec, runs, seeds)


def repeat_specs(spec: CellSpec) -> tuple[list[int], list[CellSpec]]:
    """The decoding seeds of a cell's repeats and one single-reply cell per repeat (sampling, seed set);
    a cell without repeats is its own only one."""
    repeats = int(getattr(spec, "repeats", 1) or 1)
    if repeats <= 1:
        return [], [spec]
    seeds = [spec.seed * 1000 + r for r in range(repeats)]
    specs = [replace(spec, repeats=1, decoding={"do_sample": True, "temperature": 0.7, **spec.decoding, "seed": s})
             for s in seeds]
    return seeds, specs


def combine_repeats(spec: CellSpec, runs: list[CellResult], seeds: list[int]) -> CellResult:
    """The cell result of a repeated cell from its repeats' results (repeat 0's, with the summary)."""
    first = runs[0]
    first.spec = spec
    first.lineage = {**first.lineage, "repeats": repeat_summary(runs, seeds)}
    first.duration_s = sum(r.duration_s for r in runs)
    first.cache_hits, first.cache_misses = sum(r.cache_hits for r in runs), sum(r.cache_misses for r in runs)
    first.judge_hits, first.judge_misses = sum(r.judge_hits for r in runs), sum(r.judge_misses for r in runs)
    return first


def repeat_summary(runs: list[CellResult], seeds: list[int]) -> dict[str, Any]:
    """Per metric: each example's mean over the repeats (its pass rate, for 0/1 metrics), their mean with a
    bootstrap 95% interval, and the spread (standard deviation of the per-example rates)."""
    out: dict[str, Any] = {"n": len(runs), "seeds": seeds, "metrics": {}}
    for m in runs[0].metrics:
        rows = [next(x for x in r.metrics if x.name == m.name).per_example for r in runs]
        if any(row is None for row in rows):
            continue
        rates = [sum(col) / len(col) for col in zip(*rows, strict=True)]
        mean = sum(rates) / len(rates)
        spread = (sum((x - mean) ** 2 for x in rates) / len(rates)) ** 0.5
        ci = stats.bootstrap_ci(stats.mean_resampler(rates), len(rates), seed=seeds[0])
        out["metrics"][m.name] = {"pass_rate": mean, "low": ci.low, "high": ci.high, "spread": spread,
                                  "per_repeat": [next(x for x in r.metrics if x.name == m.name).value for r in runs],
                                  "per_example": rates}
    return out


def _needs_tokenizer(prepared: PreparedCell) -> bool:
    """Whether formatting the prompts reads the tokenizer (its chat template): chat asked for, or messages."""
    return bool(prepared.spec.decoding.get("chat", False)) or any(prepared.messages)


def _keys(prepared: PreparedCell, prompts: list[str], model_hash: str) -> list[str]:
    adapter_hash = prepared.adapter.content_hash if prepared.adapter else None
    task = prepared.lineage["task"]
    return [response_key(model_hash=model_hash, adapter_hash=adapter_hash, prompt=p, decoding=prepared.spec.decoding,
                         task=task["name"], task_version=task["version"], mode=prepared.mode,
                         choices=prepared.choices) for p in prompts]


def _run_once(prepared: PreparedCell, source: ModelSource, *, cache: ResponseCache | None = None,
              progress: Progress | None = None, pool: ModelPool | None = None,
              checked: dict[str, Any] | None = None) -> CellResult:
    t0 = time.perf_counter()
    spec = prepared.spec
    prompts = format_prompts(prepared, source.tokenizer if _needs_tokenizer(prepared) else None)

    def look_up(model_hash: str) -> tuple[list[str], dict[str, Any], list[int]]:
        keys = _keys(prepared, prompts, model_hash)
        found = cache.get_many(keys) if cache is not None else {}
        return keys, found, [i for i, k in enumerate(keys) if k not in found]

    keys, found, todo = look_up(source.content_hash)
    fresh: dict[int, dict[str, Any]] = {}
    if todo:  # only now is the model needed
        located = source.content_hash
        if source.loaded().content_hash != located:  # a loader whose `locate` disagrees with what it loads
            keys, found, todo = look_up(source.content_hash)
    if progress:
        progress(len(keys) - len(todo), len(keys))
    facts: dict[str, Any] = {}
    if todo:
        fresh, facts = _infer(prepared, source.loaded(), prompts, todo, progress, len(keys) - len(todo), len(keys))
    if cache is not None and fresh:
        cache.put_many({keys[i]: v for i, v in fresh.items()})
    examples = [_example_result(prepared, i, prompts[i], fresh[i] if i in fresh else found[keys[i]],
                                i not in fresh) for i in range(len(keys))]
    lineage = dict(prepared.lineage)
    lineage["model"] = {"ref": spec.model, "hash": source.content_hash, "path": source.path}
    if checked is not None:
        lineage["template_check"] = checked
    judge_hits = judge_misses = 0
    if prepared.judges:
        lineage["judges"], judge_hits, judge_misses = judge_examples(
            prepared.judges, _judge_items(prepared, examples), examples, pool=pool, cache=cache)
    precision = cell_precision(prepared)
    if precision != precisions.DEFAULT:
        lineage["precision"] = {"mode": precision, **facts}
        if prepared.mode == "choices":
            lineage["precision"]["recheck_margin"] = precisions.RECHECK_MARGIN
    lineage["key"] = sha256_json({k: lineage[k] for k in ("prompt", "adapter", "data", "task", "scoring",
                                                          "choices", "decoding", "seed")} | {
                                     "model": source.content_hash}
                                 | ({"judges": lineage["judges"]} if prepared.judges else {}))
    names = list(spec.metrics) or list(prepared.task.default_metrics)
    metrics = compute_cell_metrics(names, examples, lineage, n_boot=spec.n_boot, seed=spec.seed, memo=cache)
    return CellResult(spec, lineage, examples, metrics, duration_s=time.perf_counter() - t0,
                      cache_hits=len(keys) - len(todo), cache_misses=len(todo), judge_hits=judge_hits,
                      judge_misses=judge_misses)


def _judge_items(prepared: PreparedCell, examples: list[ExampleResult]) -> list[dict[str, Any]]:
    """What a judge reads of each example: the prompt the model was given, what it wrote, the reference."""
    prefix = reply_prefix(prepared)
    return [{"input": prepared.texts[pos],
             "reply": e.output[len(prefix):] if prefix and e.output.startswith(prefix) else e.output,
             "reference": e.reference, "variables": dict(prepared.examples[pos].variables)}
            for pos, e in enumerate(examples)]


def run_cell(cell: CellSpec, *, indices: list[int] | None = None, cache: ResponseCache | str | None = DEFAULT,
             registry: Any = None, pool: ModelPool | None = None, progress: Progress | None = None) -> CellResult:
    """Run one cell (optionally only the example ``indices`` of it); results carry each example's index."""
    prepared = prepare_cell(cell, indices=indices, registry=registry)
    pool = pool or ModelPool()
    with contextlib.ExitStack() as stack:  # the model loads only if the cache misses an example
        source = pool.source(cell.model, prepared.adapter, stack)
        return run_prepared(prepared, source, cache=open_cache(cache), progress=progress, pool=pool)
