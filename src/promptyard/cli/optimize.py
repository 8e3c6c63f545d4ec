"""``promptyard optimize``: search for a better prompt under a model-call budget; ``optimize list|show``;
``eval search`` (successive halving over variants, kept as an alias).

A thin layer over :mod:`promptyard.evals.optimize_run`: options in, tables or JSON out.
"""

from __future__ import annotations

from typing import Any, Optional

import typer

from promptyard.cli.app import app as root_app
from promptyard.cli.eval import _cell_options, _registry
from promptyard.cli.eval import app as eval_app
from promptyard.cli.output import console, print_json, table
from promptyard.core.errors import UsageError
from promptyard.evals.optimize_plot import plot_progress
from promptyard.runtime.ray_session import choose_executor

app = typer.Typer(help="Search for a better prompt under a budget of model calls; list and show optimisations.",
                  invoke_without_command=True)
root_app.add_typer(app, name="optimize")

JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
OptStr = Optional[str]  # noqa: UP045 - typer needs Optional[...] on Python 3.11
OptInt = Optional[int]  # noqa: UP045
OptFloat = Optional[float]  # noqa: UP045


def parse_settings(pairs: list[str] | None) -> dict[str, str]:
    """``--set key=value`` pairs (the optimiser's config converts each value to its field's type)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"expected key=value, got {pair!r}", where="--set", hint="e.g. --set eta=3")
        out[key.strip()] = value.strip()
    return out


def build_request(*, prompt: str | None, model: str | None, data: str | None, optimizer: str, **kw: Any) -> Any:
    """An :class:`OptimizeRequest` from command-line values (shared with ``eval search``)."""
    from promptyard.evals.optimize_run import OptimizeRequest

    base = _cell_options(prompt, model, data, kw.pop("adapter", None), "validation", None, None,
                         kw.pop("seed", 0), kw.pop("task", None), kw.pop("scoring", None), None,
                         kw.pop("max_new_tokens", None), kw.pop("batch_size", None), kw.pop("chat", False)).cells[0]
    return OptimizeRequest(prompt=prompt, base=base, optimizer=optimizer, **kw)


@app.callback()
def optimize(
    ctx: typer.Context,
    prompt: OptStr = typer.Option(None, "--prompt", help="The prompt to improve (name@label, name@N, or a file)."),
    model: OptStr = typer.Option(None, "--model", help="Model the prompt is for: smollm2-135m, tiny-causal, a folder."),
    data: OptStr = typer.Option(None, "--data", help="Data set: rotten_tomatoes, file.jsonl, file.csv."),
    optimizer: str = typer.Option("successive_halving", "--optimizer",
                                  help="successive_halving, bootstrap_fewshot, proposed_instructions, bandit, "
                                       "random_search, or a plugin's (`promptyard plugins list`)."),
    budget_calls: OptInt = typer.Option(None, "--budget-calls",
                                        help="Most model calls in all (cache hits are free); test split included."),
    budget_seconds: OptFloat = typer.Option(None, "--budget-seconds", help="Stop searching after this many seconds."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the projected calls and time, and exit."),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="Optimiser setting key=value (repeatable)."),  # noqa: UP045
    metric: OptStr = typer.Option(None, "--metric", help="Metric to optimise (default: the task's first)."),
    variants: OptStr = typer.Option(None, "--variants", help="YAML list of variants: the pool to choose from."),
    generate: bool = typer.Option(False, "--generate", help="Generate the pool (wordings, few-shot counts)."),
    proposer: OptStr = typer.Option(None, "--proposer",
                                    help="Model that proposes instructions (proposed_instructions; default "
                                         "smollm2-135m)."),
    validation_sample: OptInt = typer.Option(None, "--validation-sample",
                                             help="Validation examples the optimiser may use (default: all)."),
    test_sample: OptInt = typer.Option(None, "--test-sample", help="Test examples the result is reported on."),
    train_sample: int = typer.Option(64, "--train-sample", help="Training rows handed to the optimiser."),
    description: str = typer.Option("", "--description", help="What the task is, for the proposer."),
    label: OptStr = typer.Option(None, "--label", help="Point this label (e.g. staging) at the committed winner."),
    no_commit: bool = typer.Option(False, "--no-commit", help="Record the optimisation; commit nothing."),
    adapter: OptStr = typer.Option(None, "--adapter"),
    task: OptStr = typer.Option(None, "--task", help="Task type (default: the prompt's)."),
    scoring: OptStr = typer.Option(None, "--scoring", help="choices or generate."),
    max_new_tokens: OptInt = typer.Option(None, "--max-new-tokens"),
    batch_size: OptInt = typer.Option(None, "--batch-size"),
    seed: int = typer.Option(0, "--seed"),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore earlier cached responses."),
    ray: bool = typer.Option(False, "--ray", help="Score candidates on a local Ray instance."),
    ray_address: OptStr = typer.Option(None, "--ray-address", envvar="PROMPTYARD_RAY_ADDRESS",
                                       help="Score candidates on the Ray cluster at ADDRESS."),
    as_json: bool = JSON,
) -> None:
    """Optimise a prompt: the optimiser chooses on the validation split, the result is reported on the test split
    (paired comparison with the starting prompt), the winner is committed as a new version naming the record."""
    if ctx.invoked_subcommand is not None:
        return
    from promptyard.evals.optimize_run import make_plan
    from promptyard.evals.optimize_run import optimize as run_optimize
    request = build_request(
        prompt=prompt, model=model, data=data, optimizer=optimizer, metric=metric, budget_calls=budget_calls,
        budget_seconds=budget_seconds, settings=parse_settings(sets), variants_file=variants, generate=generate,
        proposer=proposer, validation_sample=validation_sample, test_sample=test_sample, train_sample=train_sample,
        description=description, commit=not no_commit, label=label, cache=not no_cache,
        ray_target=choose_executor(ray, ray_address), adapter=adapter, task=task, scoring=scoring,
        max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed)
    registry = _registry()
    plan = make_plan(registry, request)
    if dry_run:
        projection = plan.to_dict()
        if as_json:
            print_json(projection)
        else:
            _print_projection(projection)
        return
    result = run_optimize(registry, plan)
    if as_json:
        print_json(result.to_dict())
    else:
        print_record(result.record)


def _print_projection(p: dict[str, Any]) -> None:
    table(f"optimize --dry-run: {p['optimizer']} on {p['prompt']} | {p['model']} | {p['data']}", ["", ""], [
        ["examples", f"{p['validation_examples']} validation, {p['train_examples']} train, {p['test_examples']} test"],
        ["pool", ", ".join(p["pool"]) or "-"],
        ["search calls", p["search_calls"]],
        ["test-split calls", f"{p['test_calls']} (start and winner)"],
        ["total calls", f"{p['total_calls']}" + (f" of a budget of {p['budget_calls']}" if p["budget_calls"] else "")],
        ["estimated time", f"{p['estimated_seconds']} s ({p['seconds_per_call']:.4f} s per call, from "
                           f"{p['estimate_from']})"],
        ["settings", ", ".join(f"{k}={v}" for k, v in p["settings"].items()) or "-"],
    ])


def _fmt(value: Any) -> str:
    return "" if value is None or value != value else f"{value:.4f}"


def print_record(r: dict[str, Any]) -> None:
    """An optimisation's candidates, test result and commit, for people."""
    result = r["result"]
    rows = []
    for c in r["candidates"]:
        n = len(c["rewards"])
        mean = sum(c["rewards"].values()) / n if n else None
        mark = "*" if c["number"] == r["best_candidate"] else ""
        rows.append([f"{c['number']}{mark}", c["name"], c["origin"], "" if c["parent"] is None else c["parent"],
                     c["status"] if c["status"] != "rejected" else f"rejected: {c['reason'][:50]}", n, _fmt(mean),
                     c["calls"]])
    table(f"optimization {r['id']}: {r['optimizer']} on {r['prompt']} ({r['status']}, {r['duration_s']:.1f}s)",
          ["#", "candidate", "origin", "parent", "status", "val n", f"val {r['metric']}", "calls"], rows)
    test = result.get("test")
    if test:
        s, w = test["start"], test["winner"]
        console.print(f"test split ({test['n']} examples): start {s['value']:.4f} [{s['low']:.4f}, {s['high']:.4f}]"
                      f" -> winner {w['value']:.4f} [{w['low']:.4f}, {w['high']:.4f}]")
    comparison = result.get("comparison")
    if comparison:
        m = comparison["metrics"][0]
        console.print(f"paired: delta {m['delta']:+.4f} [{m['low']:+.4f}, {m['high']:+.4f}], "
                      f"{m['test']['test']} p={m['test']['p_value']:.4g}")
    budget = result.get("budget") or {}
    limit = f" of {r['budget_calls']}" if r["budget_calls"] else ""
    console.print(f"model calls: {r['calls_spent']} searching + {r['test_calls']} on the test split{limit}"
                  + (f"; stopped by the {budget['stopped_by']} budget" if budget.get("stopped_by") else ""))
    committed = result.get("committed")
    console.print(f"committed {committed['ref']}" + (f" (label {committed['label']})" if committed["label"] else "")
                  if committed else "nothing committed (the starting prompt is best, or --no-commit)")
    if r.get("error"):
        console.print(f"[red]error: {r['error']}[/red]")


@app.command("list")
def list_cmd(limit: int = typer.Option(50, "--limit"), as_json: bool = JSON) -> None:
    """List optimisations, newest first."""
    from promptyard.registry.optimization_records import list_optimizations

    rows = list_optimizations(_registry(), limit=limit)
    if as_json:
        print_json(rows)
        return
    table("optimizations", ["id", "optimizer", "prompt", "model", "status", "calls", "test start -> winner",
                            "committed", "created"],
          [[o["id"], o["optimizer"], o["prompt"], o["model"], o["status"], o["calls_spent"] + o["test_calls"],
            f"{_fmt(o['test']['start']['value'])} -> {_fmt(o['test']['winner']['value'])}" if o["test"] else "",
            (o["committed"] or {}).get("ref", ""), o["created_at"][:19]] for o in rows])


@app.command("show")
def show(optimization_id: str = typer.Argument(..., metavar="ID"),
         plot: OptStr = typer.Option(None, "--plot", help="Write a PNG of score against calls spent."),
         as_json: bool = JSON) -> None:
    """Show an optimisation: every candidate, its origin and scores, the test result and the commit."""
    from promptyard.registry.optimization_records import get_optimization

    record = get_optimization(_registry(), optimization_id)
    if plot:
        plot_progress(record, plot)
    if as_json:
        print_json(record)
        return
    print_record(record)
    if plot:
        console.print(f"wrote {plot}")


@eval_app.command("search")
def search(
    prompt: str = typer.Option(..., "--prompt", help="The prompt to improve (name@label)."),
    variants: OptStr = typer.Option(None, "--variants", help="YAML list of variants (texts or template fields)."),
    generate: bool = typer.Option(False, "--generate", help="Generate wording / few-shot / selector variants."),
    model: str = typer.Option(..., "--model"),
    data: str = typer.Option(..., "--data"),
    adapter: OptStr = typer.Option(None, "--adapter"),
    metric: str = typer.Option("accuracy", "--metric"),
    min_examples: int = typer.Option(16, "--min-examples", help="Examples per variant in the first round."),
    eta: int = typer.Option(2, "--eta", help="Keep 1/eta of the variants per round."),
    budget_calls: OptInt = typer.Option(None, "--budget-calls", help="Most model calls in all (cache hits are free)."),
    test_sample: OptInt = typer.Option(None, "--test-sample", help="Test examples the winner is reported on."),
    seed: int = typer.Option(0, "--seed"),
    no_commit: bool = typer.Option(False, "--no-commit", help="Report the best variant without committing it."),
    no_cache: bool = typer.Option(False, "--no-cache"),
    as_json: bool = JSON,
) -> None:
    """Successive halving over variants on the validation split (`optimize --optimizer successive_halving`)."""
    from promptyard.evals.optimize_run import make_plan
    from promptyard.evals.optimize_run import optimize as run_optimize

    if not variants and not generate:
        raise UsageError("give a variants file or ask to generate variants", where="eval search",
                         hint="--variants FILE or --generate")
    request = build_request(prompt=prompt, model=model, data=data, optimizer="successive_halving", metric=metric,
                            settings={"min_examples": str(min_examples), "eta": str(eta)}, variants_file=variants,
                            generate=generate, budget_calls=budget_calls, test_sample=test_sample,
                            commit=not no_commit, cache=not no_cache, adapter=adapter, seed=seed)
    registry = _registry()
    result = run_optimize(registry, make_plan(registry, request))
    record = result.record
    if as_json:
        print_json(record)
        return
    names = {str(c["number"]): c["name"] for c in record["candidates"]}
    for r in record["history"]:
        if r.get("kind") == "round":
            table(f"round {r['round']}: {r['examples']} examples", ["variant", metric],
                  [[names[i], f"{score:.4f}"] for i, score in r["scores"].items()])
    committed = record["result"]["committed"]
    console.print(f"best: {record['result']['winner_name']} (optimization {record['id']})"
                  + (f"; committed {committed['ref']}" if committed else "; nothing committed"))
