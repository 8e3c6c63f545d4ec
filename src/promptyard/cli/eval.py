"""``promptyard eval``: run suites and single cells, list/show/compare/report runs, gate (``eval search`` is
added by :mod:`promptyard.cli.optimize`);
``promptyard reproduce RUN`` and ``promptyard cache clear``. A thin layer over ``promptyard.evals``."""

from __future__ import annotations

from typing import Any, Optional

import typer

from promptyard.cli import progress
from promptyard.cli.app import app as root_app
from promptyard.cli.output import console, print_json, table
from promptyard.cli.state import state
from promptyard.core.errors import EvalError, UsageError
from promptyard.evals.cache import ResponseCache
from promptyard.evals.report import write_report
from promptyard.evals.reproduce import reproduce as run_reproduce
from promptyard.evals.suite import Suite, check_metric_options, load_suite, single_cell
from promptyard.registry.evals_store import list_runs as stored
from promptyard.registry.evals_store import load_run
from promptyard.runtime.precision import check_precision
from promptyard.runtime.ray_session import choose_executor

app = typer.Typer(help="Evaluate prompts x models/adapters x data: suites, compare, gate, report, search.",
                  no_args_is_help=True)
root_app.add_typer(app, name="eval")
cache_app = typer.Typer(help="The response cache of evaluations.", no_args_is_help=True)
root_app.add_typer(cache_app, name="cache")

JSON = typer.Option(False, "--json", help="Print JSON for scripts.", callback=progress.silence_for_json)
# typer needs Optional[...] on Python 3.11 for options that default to None
OptStr = Optional[str]  # noqa: UP045
OptInt = Optional[int]  # noqa: UP045


def _registry(create: bool = False) -> Any:
    from promptyard.registry.api import Registry

    return Registry.open(state.registry, create=create)


def _cell_options(prompt: str | None, model: str | None, data: str | None, adapter: str | None, split: str,
                  sample: int | None, metrics: list[str] | None, seed: int, task: str | None,
                  scoring: str | None, choices: list[str] | None, max_new_tokens: int | None,
                  batch_size: int | None, chat: bool, reply_prefix: str | None = None,
                  precision: str | None = None) -> Any:

    missing = [n for n, v in (("--prompt", prompt), ("--model", model), ("--data", data)) if not v]
    if missing:
        raise UsageError(f"missing {', '.join(missing)}", hint="give a suite file, or --prompt, --model and --data")
    decoding: dict[str, Any] = {}
    if max_new_tokens is not None:
        decoding["max_new_tokens"] = max_new_tokens
    if batch_size is not None:
        decoding["batch_size"] = batch_size
    if chat:
        decoding["chat"] = True
    if reply_prefix:
        decoding["reply_prefix"] = reply_prefix
    if precision:
        decoding["precision"] = precision
    return single_cell(prompt, model, data, adapter=adapter, split=split, sample=sample, metrics=metrics or (),
                       seed=seed, decoding=decoding or None, task=task, scoring=scoring, choices=choices)


def _template_mark(lineage: dict[str, Any]) -> str:
    """The cell's text-format check against its adapter's training: "" (no adapter), ok, MISMATCH, unrecorded."""
    status = (lineage.get("template_check") or {}).get("status")
    return {"match": "ok", "mismatch": "MISMATCH"}.get(status, status or "")


def _metric_settings(pairs: list[str] | None) -> dict[str, dict[str, str]]:
    """``--set METRIC.KEY=VALUE`` pairs as metric options (values kept as given: `judge.yes= yes` keeps its
    space)."""
    out: dict[str, dict[str, str]] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        metric, dot, name = key.strip().partition(".")
        if not sep or not dot or not metric or not name:
            raise UsageError(f"expected METRIC.KEY=VALUE, got {pair!r}", where="--set",
                             hint="e.g. --set judge.prompt=grader@production")
        out.setdefault(metric, {})[name] = value
    for metric, settings in out.items():
        check_metric_options(metric, settings, where=f"--set {metric}.")
    return out


def _with_precision(decoding: dict[str, Any], precision: str) -> dict[str, Any]:
    """``decoding`` with ``precision`` set (fp32, the default, is left out: the same cache keys as before)."""
    out = {k: v for k, v in decoding.items() if k != "precision"}
    return out if precision == "fp32" else {**out, "precision": precision}


def _print_cells(results: list[Any], title: str) -> None:
    names = list(dict.fromkeys(m.name for r in results for m in r.metrics))
    marks = [_template_mark(r.lineage) for r in results]
    rows = []
    for i, r in enumerate(results):
        by_name = {m.name: m for m in r.metrics}
        rows.append([i, r.spec.label(), len(r.examples), f"{r.cache_hits}/{len(r.examples)}"]
                    + [f"{by_name[n].value:.4f} [{by_name[n].low:.4f}, {by_name[n].high:.4f}]" if n in by_name else ""
                       for n in names] + ([marks[i]] if any(marks) else []))
    table(title, ["#", "cell", "n", "cached"] + names + (["template"] if any(marks) else []), rows)


def _stored_cells(run: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for cell in run["cells"]:
        lin = cell["lineage"]
        adapter = f"+{lin['adapter']['resolved']}" if lin.get("adapter") else ""
        metrics = "  ".join(f"{m['name']}={m['value']:.4f} [{m['low']:.4f}, {m['high']:.4f}]"
                            if m["value"] is not None else f"{m['name']}=n/a" for m in cell["metrics"])
        rows.append([cell["position"], f"{lin['prompt']['resolved']} ({lin['prompt']['hash'][:8]})",
                     f"{lin['model']['ref']}{adapter}", f"{lin['data']['ref']}:{lin['data']['split']}",
                     cell["n_examples"], metrics, _template_mark(lin)])
    return rows


@app.command("run")
def run(
    suite_file: OptStr = typer.Argument(None, metavar="[SUITE.yaml]", help="A suite file (or use the options)."),
    prompt: OptStr = typer.Option(None, "--prompt", help="Prompt reference (name@label, name@N) or file."),
    model: OptStr = typer.Option(None, "--model", help="Model: smollm2-135m, tiny-causal, a folder, a hub id."),
    data: OptStr = typer.Option(None, "--data", help="Data set: rotten_tomatoes, file.jsonl, file.csv."),
    adapter: OptStr = typer.Option(None, "--adapter", help="Adapter reference (name@label) or PEFT folder."),
    split: str = typer.Option("test", "--split", help="train, validation, test or all."),
    sample: OptInt = typer.Option(None, "--sample", help="Evaluate this many examples of the split."),
    metric: Optional[list[str]] = typer.Option(None, "--metric", help="Metric name (repeatable)."),  # noqa: UP045
    seed: int = typer.Option(0, "--seed"),
    task: OptStr = typer.Option(None, "--task", help="Task type (default: the prompt's)."),
    scoring: OptStr = typer.Option(None, "--scoring", help="choices or generate."),
    choice: Optional[list[str]] = typer.Option(None, "--choice", help="A label choice (repeatable)."),  # noqa: UP045
    max_new_tokens: OptInt = typer.Option(None, "--max-new-tokens"),
    batch_size: OptInt = typer.Option(None, "--batch-size"),
    chat: bool = typer.Option(False, "--chat", help="Wrap prompts in the model's chat template."),
    reply_prefix: OptStr = typer.Option(None, "--reply-prefix",
                                        help="Replies start with this text (generation): the model continues it."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the response cache."),
    ray: bool = typer.Option(False, "--ray", help="Shard the cells over a local Ray instance."),
    ray_address: OptStr = typer.Option(None, "--ray-address", envvar="PROMPTYARD_RAY_ADDRESS",
                                       help="Shard the cells over the Ray cluster at ADDRESS."),
    shard_size: int = typer.Option(16, "--shard-size", help="Examples per Ray task (with --ray)."),
    repeats: int = typer.Option(1, "--repeats", min=1,
                                help="Sample N replies per example (generation), each with its own recorded seed; "
                                     "report each example's pass rate and the spread."),
    strict_template: bool = typer.Option(False, "--strict-template",
                                         help="Refuse (exit 1, store nothing) a cell whose prompt version or chat "
                                              "template differs from its adapter's training; default: warn and "
                                              "mark the cell."),
    sets: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--set", help="A metric's setting METRIC.KEY=VALUE (repeatable), e.g. judge.prompt=grader@production."),
    precision: OptStr = typer.Option(None, "--precision",
                                     help="fp32 (exact, the default) or bf16: faster where the CPU has native bf16; "
                                          "close choice scores are re-checked in fp32 (docs/evals.md)."),
    as_json: bool = JSON,
) -> None:
    """Run a suite (every cell), or one cell given by --prompt/--model/--data; store the results."""
    from dataclasses import replace

    from promptyard.evals.suite_run import run_suite

    metric_options = _metric_settings(sets)
    if precision is not None:
        check_precision(precision, where="--precision")
    if suite_file:
        suite = load_suite(suite_file)
        if precision is not None:  # the option wins over the suite's decoding.precision
            suite.cells = [replace(c, decoding=_with_precision(c.decoding, precision)) for c in suite.cells]
    else:
        suite = _cell_options(prompt, model, data, adapter, split, sample, metric, seed, task, scoring, choice,
                              max_new_tokens, batch_size, chat, reply_prefix, precision)
    if metric_options:
        suite.cells = [replace(c, metric_options={**c.metric_options, **{
            m: {**c.metric_options.get(m, {}), **v} for m, v in metric_options.items()}}) for c in suite.cells]
    if repeats > 1 or strict_template:
        suite.cells = [replace(c, repeats=repeats if repeats > 1 else c.repeats,
                               strict_template=strict_template or c.strict_template) for c in suite.cells]
    registry = _registry()
    target = choose_executor(ray, ray_address)
    if target is not None:
        from promptyard.evals.distributed import run_suite_distributed

        result = run_suite_distributed(suite, target, registry=registry, cache=None if no_cache else "default",
                                       shard_size=shard_size)
    else:
        result = run_suite(suite, registry=registry, cache=None if no_cache else "default")
    if as_json:
        print_json(result.to_dict())
        return
    _print_cells(result.results, f"run {result.run_id}: {result.name} ({result.duration_s:.1f}s)")
    rows = [[i, name, r.lineage["repeats"]["n"], f"{m['pass_rate']:.4f} [{m['low']:.4f}, {m['high']:.4f}]",
             f"{m['spread']:.4f}", " ".join(f"{v:.3f}" for v in m["per_repeat"])]
            for i, r in enumerate(result.results) if "repeats" in r.lineage
            for name, m in r.lineage["repeats"]["metrics"].items()]
    if rows:
        table("repeats: per-example pass rate", ["#", "metric", "replies", "mean pass rate (95% CI)",
                                                 "spread (sd)", "per repeat"], rows)


@app.command("list")
def list_runs(limit: int = typer.Option(50, "--limit"), as_json: bool = JSON) -> None:
    """List stored runs, newest first."""

    runs = stored(_registry(), limit=limit)
    if as_json:
        print_json(runs)
        return
    table("eval runs", ["id", "name", "kind", "cells", "created", "seconds", "cache hits"],
          [[r["id"], r["name"], r["kind"], r["cells"], r["created_at"][:19], f"{r['duration_s']:.1f}",
            f"{r['cache_hits']}/{r['cache_hits'] + r['cache_misses']}"] for r in runs])


@app.command("show")
def show(run_id: str = typer.Argument(..., metavar="RUN"),
         examples: bool = typer.Option(False, "--examples", help="Include per-example outputs."),
         as_json: bool = JSON) -> None:
    """Show a run: cells, lineage and metrics with 95% CIs."""

    run_data = load_run(_registry(), run_id, with_examples=examples or as_json)
    if as_json:
        print_json(run_data)
        return
    console.print(f"[bold]run {run_data['id']}[/bold] {run_data['name']}  {run_data['created_at'][:19]}  "
                  f"{run_data['duration_s']:.1f}s  {run_data['note']}")
    rows = _stored_cells(run_data)
    marked = any(row[-1] for row in rows)
    table(None, ["#", "prompt", "model", "data", "n", "metrics (95% CI)"] + (["template"] if marked else []),
          [row if marked else row[:-1] for row in rows])
    if examples:
        for cell in run_data["cells"]:
            table(f"cell {cell['position']}", ["index", "reference", "prediction", "output"],
                  [[e["index"], e["reference"], e["prediction"], e["output"][:80]] for e in cell["examples"]])


def _print_comparisons(comparisons: list[Any]) -> None:
    for c in comparisons:
        table(f"{c.a}  ->  {c.b}  ({c.n} paired examples)",
              ["metric", "A", "B", "delta", "95% CI of delta", "test", "p"],
              [[m.name, f"{m.a:.4f}", f"{m.b:.4f}", f"{m.delta:+.4f}", f"[{m.low:+.4f}, {m.high:+.4f}]",
                m.test.test, f"{m.test.p_value:.4g}"] for m in c.metrics])
        console.print(f"flipped: {c.n_flipped.get('fixed', 0)} fixed, {c.n_flipped.get('broken', 0)} broken")
        if c.flipped:
            table("flipped examples", ["index", "reference", "A", "B", ""],
                  [[f["index"], f["reference"], f["a"], f["b"], f["direction"]] for f in c.flipped])


@app.command("compare")
def compare(
    a: str = typer.Argument(..., metavar="RUN_A|REF_A"),
    b: str = typer.Argument(..., metavar="RUN_B|REF_B"),
    model: OptStr = typer.Option(None, "--model", help="With two prompt references: the model."),
    data: OptStr = typer.Option(None, "--data", help="With two prompt references: the data set."),
    adapter: OptStr = typer.Option(None, "--adapter"),
    split: str = typer.Option("test", "--split"),
    sample: OptInt = typer.Option(None, "--sample"),
    metric: Optional[list[str]] = typer.Option(None, "--metric"),  # noqa: UP045
    seed: int = typer.Option(0, "--seed"),
    no_cache: bool = typer.Option(False, "--no-cache"),
    as_json: bool = JSON,
) -> None:
    """Compare two runs (ids) or two prompt references: delta, its bootstrap CI, paired test, flipped examples."""
    from promptyard.evals.compare import compare_cells, compare_runs
    from promptyard.evals.suite_run import run_suite

    registry = _registry()
    if a.isdigit() and b.isdigit():
        comparisons = compare_runs(load_run(registry, a), load_run(registry, b), metrics=metric)
    else:
        cells = [_cell_options(ref, model, data, adapter, split, sample, metric, seed, None, None, None, None,
                               None, False).cells[0] for ref in (a, b)]
        done = run_suite(Suite(name=f"compare {a} {b}", cells=cells, seed=seed, raw={"compare": [a, b]}),
                         registry=registry, cache=None if no_cache else "default", kind="compare")
        stored = load_run(registry, done.run_id)
        comparisons = [compare_cells(stored["cells"][0], stored["cells"][1], metrics=metric)]
    if as_json:
        print_json([c.to_dict() for c in comparisons])
        return
    _print_comparisons(comparisons)


@app.command("gate")
def gate(
    candidate: str = typer.Option(..., "--candidate", help="Candidate prompt reference."),
    baseline: str = typer.Option(..., "--baseline", help="Baseline prompt reference, e.g. name@production."),
    metric: str = typer.Option("accuracy", "--metric"),
    max_drop: float = typer.Option(0.0, "--max-drop", help="Largest allowed drop of the metric."),
    suite_file: OptStr = typer.Option(None, "--suite", help="Take model/data/decoding from this suite's first cell."),
    model: OptStr = typer.Option(None, "--model"),
    data: OptStr = typer.Option(None, "--data"),
    adapter: OptStr = typer.Option(None, "--adapter"),
    split: str = typer.Option("test", "--split"),
    sample: OptInt = typer.Option(None, "--sample"),
    seed: int = typer.Option(0, "--seed"),
    no_cache: bool = typer.Option(False, "--no-cache"),
    as_json: bool = JSON,
) -> None:
    """Exit 0 when the candidate is not worse than the baseline by more than --max-drop; exit 3 when it is."""
    from dataclasses import replace

    from promptyard.evals.compare import raise_if_failed
    from promptyard.evals.gate_run import run_gate

    if suite_file:
        base = load_suite(suite_file).cells[0]
    else:
        base = _cell_options(baseline, model, data, adapter, split, sample, [metric], seed, None, None, None, None,
                             None, False).cells[0]
    metrics = tuple(dict.fromkeys((*base.metrics, metric)))
    result = run_gate(_registry(), replace(base, prompt=baseline, metrics=metrics),
                      replace(base, prompt=candidate, metrics=metrics), metric=metric, max_drop=max_drop,
                      baseline_name=baseline, candidate_name=candidate, seed=base.seed,
                      cache=None if no_cache else "default")
    if as_json:
        print_json(result.to_dict())
    else:
        _print_comparisons([result.comparison])
        console.print(result.summary())
    raise_if_failed(result)


@app.command("report")
def report(run_id: str = typer.Argument(..., metavar="RUN"),
           html: str = typer.Option(..., "--html", help="Write the report to this HTML file."),
           as_json: bool = JSON) -> None:
    """Write one self-contained HTML report (tables, charts as embedded PNG) for a run."""

    path = write_report(load_run(_registry(), run_id), html)
    if as_json:
        print_json({"run": run_id, "html": str(path), "bytes": path.stat().st_size})
    else:
        console.print(f"wrote {path} ({path.stat().st_size} bytes)")


@root_app.command("reproduce")
def reproduce(run_id: str = typer.Argument(..., metavar="RUN"),
              use_cache: bool = typer.Option(False, "--use-cache", help="Allow cached responses."),
              as_json: bool = JSON) -> None:
    """Re-run a stored eval run from its lineage (exact versions, seed) and show that the metrics match."""

    result = run_reproduce(_registry(), run_id, use_cache=use_cache)
    if as_json:
        print_json(result.to_dict())
    else:
        table(f"reproduce run {result.run_id} (new run {result.new_run_id})",
              ["cell", "metric", "stored", "reproduced", "match"],
              [[r["cell"], r["metric"], r["stored"], r["reproduced"], "yes" if r["match"] else "NO"]
               for r in result.rows])
        for problem in result.problems:
            console.print(f"[red]{problem}[/red]")
    if not result.matches:
        raise EvalError(f"run {result.run_id} did not reproduce", hint="see the differences above")


@cache_app.command("clear")
def cache_clear(as_json: bool = JSON) -> None:
    """Delete every cached model response."""

    cache = ResponseCache()
    removed = cache.clear()
    if as_json:
        print_json({"removed": removed, "path": str(cache.path)})
    else:
        console.print(f"removed {removed} cached responses from {cache.path}")


@cache_app.command("info")
def cache_info(as_json: bool = JSON) -> None:
    """Where the response cache is and how big."""

    stats = ResponseCache().stats()
    if as_json:
        print_json(stats)
    else:
        console.print(f"{stats['path']}: {stats['entries']} responses, {stats['metric_results']} metric results, "
                      f"{stats['bytes']} bytes")
