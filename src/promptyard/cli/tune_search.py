"""``promptyard tune search`` / ``tune resume`` / ``tune searches``: hyper-parameter search on Ray.

These commands join the ``tune`` sub-app of :mod:`promptyard.cli.tune` (the tuning area's module); the
logic lives in :mod:`promptyard.tuning.search_driver`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from promptyard.cli import progress
from promptyard.cli.output import console, print_json, table
from promptyard.cli.state import state
from promptyard.cli.tune import app, mix_or_single
from promptyard.core.errors import TuningError, UsageError
from promptyard.core.host import lookup
from promptyard.core.paths import check_id, registry_path
from promptyard.runtime.ray_session import choose_executor
from promptyard.tuning.search import SearchSpec
from promptyard.tuning.search_driver import resume_search, run_search
from promptyard.tuning.search_extend import extend_search
from promptyard.tuning.search_local import run_search_local
from promptyard.tuning.search_results import trial_rows
from promptyard.tuning.space import is_conditional, load_space_file, validate_space
from promptyard.tuning.spec import TrainSpec, parse_sets

RAY_OPT = typer.Option(False, "--ray", help="Run on a local Ray instance started for this command.")
ADDRESS_OPT = typer.Option(None, "--ray-address", envvar="PROMPTYARD_RAY_ADDRESS",
                           help="Join the Ray cluster at ADDRESS (e.g. 10.0.0.5:6379 or auto).")


def _registry(create: bool = False) -> Any:
    from promptyard.registry.api import Registry

    return Registry.open(state.registry, create=create)


def build_train_spec(*, prompt: str | None, model: str, data: str | None, method: str, overrides: dict[str, Any],
                     seed: int, registry: str | None, mix: dict[str, Any] | None = None) -> Any:
    """The TrainSpec ``tune run`` builds for these options (Tune's callback reports the search's progress).

    ``mix``: a task mix (:func:`promptyard.tuning.task_mix.load_task_mix`, whose paths are absolute already).
    """

    # Trials run in Tune's trial folders, maybe on other nodes: local files must be absolute paths.
    data, prompt, model = (str(Path(v).resolve()) if v and Path(v).exists() else v for v in (data, prompt, model))
    return TrainSpec(model=model, data=data or "", method=method, prompt=prompt, config=dict(overrides), seed=seed,
                     registry=registry, mix=mix)


def resolve_space(method: str, space_file: Path | None) -> dict[str, Any]:
    """The space file when given, else the tuning method's ``default_search_space()``."""

    if space_file is not None:
        return load_space_file(space_file)

    return validate_space(lookup("tuning_methods", method).default_search_space(),
                          source=f"default search space of '{method}'")


def _show(result: Any, as_json: bool) -> None:

    best = result.best
    if as_json:
        print_json(result.to_dict())
        return
    objectives = result.objectives
    method_best = {m: t.trial_id for m, t in result.best_per_method.items()}
    if not state.quiet:
        table(f"trials ({result.metric})",
              *trial_rows(result.trials, result.metric, best.trial_id if best else None, objectives=objectives,
                          method_best=method_best if len(method_best) > 1 else None), fold=True)
    if best is None:

        raise TuningError("no trial finished with a checkpoint", where=f"search {result.search_id}",
                          hint="see the errors in the table above")
    console.print(f"search {result.search_id}: best trial {best.trial_id} "
                  f"{result.metric}={best.best_metric:.4g} {best.params}")
    if len(result.best_per_method) > 1:
        table("best per method", ["method", "trial", f"best {result.metric}", "evals", "params"],
              [[m, t.trial_id, f"{t.best_metric:.4g}", str(t.iterations),
                ", ".join(f"{k}={v}" for k, v in t.params.items() if k != "method")]
               for m, t in result.best_per_method.items()])
    if len(objectives) > 1:
        labels = [o.label or o.name for o in objectives]
        table(f"Pareto front ({', '.join(labels)})", ["trial", "method", *labels],
              [[t.trial_id, t.method(), *[f"{t.objectives[o.name]:.4g}" for o in objectives]]
               for t in result.pareto])
    if result.adapter is not None:
        console.print(f"best adapter {result.adapter.ref}")
    console.print(f"plot: {result.plot_path}")


@app.command("search")
def search(
    prompt: Optional[str] = typer.Option(None, "--prompt",  # noqa: UP045
                                         help="Prompt reference that formats the training data "
                                              "(required without --mix)."),
    model: Optional[str] = typer.Option(None, "--model",  # noqa: UP045
                                        help="Base model reference (e.g. smollm2-135m; required "
                                             "unless the mix names it)."),
    data: Optional[str] = typer.Option(None, "--data", help="Data set reference (e.g. rotten_tomatoes; "  # noqa: UP045
                                       "required without --mix)."),
    mix: Optional[Path] = typer.Option(None, "--mix", help="Task mix YAML: every trial tunes one adapter on "  # noqa: UP045
                                                           "all its tasks; the weighted mean is searched."),
    method: Optional[str] = typer.Option(None, "--method", help="Tuning method (default lora; a space file "  # noqa: UP045
                                                                "may choose among methods instead)."),
    space: Optional[Path] = typer.Option(None, "--space", help="YAML search space (default: the method's)."),  # noqa: UP045
    trials: int = typer.Option(16, "--trials", help="Number of trials (with --extend: trials to add)."),
    objectives: list[str] = typer.Option([], "--objective", help="Objective to optimise, repeatable: "
                                         "'accuracy', '-trainable_params' (- minimises), adapter_size, latency; "
                                         "several give the Pareto front. The first replaces --metric."),
    extend: Optional[str] = typer.Option(None, "--extend", help="Add --trials trials to the finished search "  # noqa: UP045
                                         "SEARCH_ID, seeded with its trials' results."),
    no_ray: bool = typer.Option(False, "--no-ray", help="Run the trials one after another in this process."),
    scheduler: str = typer.Option("asha", "--scheduler", help="asha, median, pbt or fifo."),
    search_alg: str = typer.Option("random", "--search-alg", help="random or optuna."),
    concurrent: Optional[int] = typer.Option(None, "--concurrent", help="Trials at once (default: as resources allow)."),  # noqa: UP045,E501
    gpus_per_trial: float = typer.Option(0.0, "--gpus-per-trial", help="GPUs per trial; 0.5 lets two share one."),
    cpus_per_trial: float = typer.Option(1.0, "--cpus-per-trial", help="CPUs per trial."),
    metric: str = typer.Option("val_metric", "--metric", help="Reported metric to optimise."),
    mode: str = typer.Option("auto", "--mode", help="max, min or auto (min for a loss, e.g. val_metric of a "
                                                    "generation task; max for accuracy)."),
    sets: list[str] = typer.Option([], "--set", help="Fixed config override key=value (repeatable)."),
    seed: int = typer.Option(0, "--seed", help="Seed for sampling and for every trial's training."),
    max_failures: int = typer.Option(1, "--max-failures", help="Retries of a failed trial from its checkpoint."),
    keep: int = typer.Option(2, "--keep-checkpoints", help="Best adapter checkpoints kept per trial."),
    name: Optional[str] = typer.Option(None, "--name", help="Registry name of the best adapter."),  # noqa: UP045
    label: Optional[str] = typer.Option(None, "--label", help="Label the best adapter (e.g. staging)."),  # noqa: UP045
    ray: bool = RAY_OPT,
    ray_address: Optional[str] = ADDRESS_OPT,  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.",
                                 callback=progress.silence_for_json),
) -> None:
    """Search hyper-parameters with Ray Tune (or in this process); register the best trial's adapter."""

    if no_ray and ray_address:
        raise UsageError("--no-ray and --ray-address exclude each other", where="--no-ray")
    if extend is not None:
        given = [flag for flag, value in (("--prompt", prompt), ("--model", model), ("--data", data), ("--mix", mix),
                                          ("--method", method), ("--space", space), ("--objective", objectives),
                                          ("--set", sets)) if value]
        if given:
            raise UsageError(f"{', '.join(given)} cannot change a search being extended", where="--extend",
                             hint="--extend takes the search's own settings; give only --trials")
        if trials < 1:
            raise UsageError(f"must be a positive integer, got {trials!r}", where="--trials")
        target = None if no_ray else choose_executor(True, ray_address)
        result = extend_search(check_id(extend, what="search id"), trials, target,
                               registry=_registry(create=False))
        _show(result, as_json)
        return
    if mix is None:
        missing = [flag for flag, value in (("--prompt", prompt), ("--model", model), ("--data", data)) if not value]
        if missing:
            raise UsageError(f"missing option {', '.join(missing)}", where="tune search",
                             hint="a new search needs --prompt, --model and --data, or --mix (or --extend SEARCH_ID)")
    mix_data, model = mix_or_single(mix, model=model, data=data, prompt=prompt, task=None, options={})
    space_dict = resolve_space(method or "lora", space)
    if method and is_conditional(space_dict):
        raise UsageError("the space file chooses the method; --method cannot also set it", where="--method")
    if objectives and metric != "val_metric":
        raise UsageError("--objective replaces --metric; give one of them", where="--objective")
    train_spec = build_train_spec(prompt=prompt, model=model, data=data, method=method or "lora",
                                  overrides=parse_sets(sets), seed=seed,
                                  registry=str(registry_path(state.registry)), mix=mix_data)
    spec = SearchSpec(train_spec=train_spec, space=space_dict, trials=trials, scheduler=scheduler,
                      search_alg=search_alg, concurrent=concurrent, cpus_per_trial=cpus_per_trial,
                      gpus_per_trial=gpus_per_trial, metric=metric, mode=mode, max_failures=max_failures,
                      keep_checkpoints=keep, seed=seed, name=name, label=label, objectives=objectives or None)
    # --no-ray: one trial after another here; else Ray: --ray-address joins a cluster, or a local instance
    target = None if no_ray else choose_executor(True, ray_address)
    registry = _registry()  # opened (and created) only once every argument has been checked
    if not (state.quiet or as_json):
        where = "this process" if target is None else target.describe()
        console.print(f"search {spec.search_id}: {trials} trials on {where}")
    if target is None:
        result = run_search_local(spec, registry=registry)
    else:
        result = run_search(spec, target, registry=registry)
    _show(result, as_json)


@app.command("resume")
def resume(
    search_id: str = typer.Argument(..., help="The search to finish (see `tune searches`)."),
    ray: bool = RAY_OPT,
    ray_address: Optional[str] = ADDRESS_OPT,  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.",
                                 callback=progress.silence_for_json),
) -> None:
    """Finish an interrupted search; finished trials are not run again."""

    target = choose_executor(True, ray_address)
    result = resume_search(search_id, target, registry=_registry(create=False))
    _show(result, as_json)


@app.command("searches")
def searches(
    search_id: Optional[str] = typer.Argument(None, help="Show one search with its trials."),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List searches, or show one with every trial's parameters, status, metric and error."""
    from promptyard.registry.search_records import get_search, list_searches

    registry = _registry(create=False)
    if search_id is None:
        rows = list_searches(registry)
        if as_json:
            print_json(rows)
            return
        table("searches", ["id", "status", "method", "scheduler", "trials", "best", "adapter"],
              [[r["id"], r["status"], r["method"], r["scheduler"], r["trials_requested"],
                r["best_metric"], r["adapter_name"]] for r in rows])
        return
    record = get_search(registry, check_id(search_id, what="search id"))
    if as_json:
        print_json(record)
        return
    summary = record.get("summary") or {}
    front = set(summary.get("pareto") or [])
    table(f"search {search_id} ({record['status']}, {record['metric']})",
          ["trial", "params", "status", "evals", "best", "front", "error"],
          [[t["trial_id"], t["params"], t["status"], t["iterations"], t["best_metric"],
            "yes" if t["trial_id"] in front else "", t["error"]] for t in record["trials"]])
    per_method = summary.get("best_per_method") or {}
    if len(per_method) > 1:
        table("best per method", ["method", "trial", "best", "params"],
              [[m, b["trial_id"], b["best_metric"], b["params"]] for m, b in per_method.items()])
