"""``promptyard tune``: train an adapter from a prompt, a model and data, and register it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from promptyard.cli import progress
from promptyard.cli.app import app as root_app
from promptyard.cli.data import data_options
from promptyard.cli.output import console, print_json, table
from promptyard.cli.state import state
from promptyard.core.errors import UsageError
from promptyard.core.host import get_host
from promptyard.core.protocols import member
from promptyard.core.refs import check_name
from promptyard.runtime.adapter_loading import default_adapter_name, register_result
from promptyard.tuning.resume import has_state
from promptyard.tuning.spec import TrainSpec, parse_sets
from promptyard.tuning.task_mix import load_task_mix, mix_name

app = typer.Typer(name="tune", help="Train adapters (PEFT methods or fine-tuning) and search hyper-parameters.",
                  no_args_is_help=True)
root_app.add_typer(app, name="tune")


@app.command("run")
def run(
    prompt: Optional[str] = typer.Option(None, "--prompt", "-p",  # noqa: UP045
                                         help="Prompt reference (NAME@label) or template file."),
    model: Optional[str] = typer.Option(None, "--model", "-m",  # noqa: UP045
                                        help="smollm2-135m, minilm-l6, a local folder or hub id "
                                             "(required unless the mix names it)."),
    data: Optional[str] = typer.Option(None, "--data", "-d",  # noqa: UP045
                                       help="rotten_tomatoes, bbc_news, or a .jsonl/.csv file "
                                            "(required without --mix)."),
    mix: Optional[Path] = typer.Option(None, "--mix", help="Task mix YAML: tune one adapter on several "  # noqa: UP045
                                                           "(prompt, data, task) triples with weights."),
    method: str = typer.Option("lora", "--method", help="lora, prompt_tuning, prefix_tuning, p_tuning, ia3, full, or "
                                                           "peft:<type> (`tune methods` lists them)."),
    sets: list[str] = typer.Option(None, "--set", "-s", help="key=value for the method or the loop (repeatable)."),
    name: Optional[str] = typer.Option(None, "--name", help="Adapter name (default: <prompt>-<method>)."),  # noqa: UP045
    task: Optional[str] = typer.Option(None, "--task", help="Task type (default: the prompt's, else "  # noqa: UP045
                                                            "classification)."),
    seed: int = typer.Option(0, "--seed", help="Seed for splits, initialisation and batch order."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after N optimizer steps."),  # noqa: UP045
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Passes over the training split."),  # noqa: UP045
    text_column: Optional[str] = typer.Option(None, help="Data column holding the input text."),  # noqa: UP045
    label_column: Optional[str] = typer.Option(None, help="Data column holding the label."),  # noqa: UP045
    target_column: Optional[str] = typer.Option(None, help="Data column holding the target."),  # noqa: UP045
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Leave malformed rows out."),
    label: Optional[str] = typer.Option(None, "--label", help="Also point this label at the new version."),  # noqa: UP045
    message: str = typer.Option("", "--message", help="Version message (default: method, model and score)."),
    register: bool = typer.Option(True, "--register/--no-register", help="Register the adapter."),
    resume: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--resume", help="Continue the interrupted run in this run dir (give the same options again)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.",
                                 callback=progress.silence_for_json),
) -> None:
    """Train an adapter: split the data, train with early stopping, keep the best, register it."""
    from promptyard.tuning.loop import new_run_dir, train
    from promptyard.tuning.plan import plan_run

    if resume is not None and not has_state(resume):
        raise UsageError(f"no resume state in {resume}", where="--resume",
                         hint="give the run dir an interrupted `tune run` printed (it holds resume/)")
    options = data_options(text_column, label_column, target_column, skip_bad_rows)
    mix_data, model = mix_or_single(mix, model=model, data=data, prompt=prompt, task=task, options=options)
    run_dir = resume.resolve() if resume is not None else new_run_dir()
    config = parse_sets(sets or [])
    if max_steps is not None:
        config["max_steps"] = max_steps
    if epochs is not None:
        config["epochs"] = epochs
    spec = TrainSpec(model=model, data=data or "", method=method, prompt=prompt, task=task, config=config,
                     seed=seed, data_options=options, registry=state.registry, run_dir=str(run_dir), mix=mix_data)
    adapter_name = name or (f"{mix_name(mix_data)}-{method.replace('_', '-').replace(':', '-')}" if mix_data
                            else default_adapter_name(prompt, method))
    registry = None
    if register:
        from promptyard.registry.api import Registry

        check_name(adapter_name)  # a bad name fails before training, not after
        plan_run(spec)
        registry = Registry.open(state.registry)
    if not (state.quiet or as_json):
        console.print(f"run dir {run_dir} (if interrupted, run the same command with --resume {run_dir})")
    result = train(spec)
    out = {"adapter_dir": str(result.adapter_dir), "run_dir": str(result.run_dir), "metrics": result.metrics,
           "curves_png": str(result.curves_png) if result.curves_png else None, "version": None}
    if registry is not None:
        with registry:
            version = register_result(registry, adapter_name, result, message)
            out["version"] = version.ref
            if label:
                registry.label_adapter(version.ref, label, force=True, reason="tune run --label")
                out["label"] = label
    if as_json:
        print_json(out)
        return
    m = result.metrics
    console.print(f"validation {m['metric_name']}{' (weighted mean of the tasks)' if mix_data else ''}: "
                  f"{m['initial_val_metric']:.4f} (step 0) -> "
                  f"{m['val_metric']:.4f} (best, step {m['best_step']}); "
                  f"{m['tokens_per_s']:.0f} tokens/s, {m['padding_share']:.1%} padding")
    if mix_data:
        table("tasks", ["task", "weight", f"step 0 {m['metric_name']}", f"best {m['metric_name']}"],
              [[n, f"{t['weight']:g}", f"{t['initial_val_metric']:.4f}", f"{t['val_metric']:.4f}"]
               for n, t in m["tasks"].items()])
    console.print(f"curves: {result.curves_png or result.curves_json}")
    if out["version"]:
        console.print(f"registered adapter [bold]{out['version']}[/bold]"
                      + (f" (label {label})" if label else ""))
    else:
        console.print(f"adapter: {result.adapter_dir}")


def mix_or_single(mix: Path | None, *, model: str | None, data: str | None, prompt: str | None, task: str | None,
                  options: dict) -> tuple[dict | None, str]:
    """The task mix read from ``--mix`` (or None) and the model: ``--model``, else the mix file's ``model``.

    With a mix, the single-task options (--data, --prompt, --task, the column options) are refused: each task
    of the mix names its own."""
    if mix is None:
        if model is None or data is None:
            raise UsageError(f"missing option {'--model' if model is None else '--data'}",
                             hint="name the model and the data (or give a task mix with --mix)")
        return None, model
    given = [flag for flag, value in (("--data", data), ("--prompt", prompt), ("--task", task)) if value]
    given += [f"--{k.replace('_', '-')}" for k in options]
    if given:
        raise UsageError(f"{given[0]} cannot be combined with --mix", where=given[0],
                         hint="each task of the mix names its own prompt, data, task and options")
    mix_data = load_task_mix(mix)
    model = model or mix_data.get("model")
    if not model:
        raise UsageError("no model to tune", where=str(mix),
                         hint="pass --model, or add `model: NAME` to the task mix file")
    return mix_data, model


@app.command("methods")
def methods(as_json: bool = typer.Option(False, "--json", help="Print JSON."),
            settings: bool = typer.Option(False, "--settings", help="Also list each method's settings "
                                                                    "(type, default, help).")) -> None:
    """List the tuning methods: the built-ins and every `peft:<type>` of the installed peft, the model kinds
    each works on (with the reason where one cannot work), and their settings."""
    rows = [method_row(m) for m in get_host().table("tuning_methods").values(expand=True)]
    if as_json:
        print_json(rows)
        return
    table("tuning methods", ["method", "models", "cannot work on", "description"],
          [[r["name"], ", ".join(r["model_kinds"]) or "-",
            "; ".join(f"{k}: {why}" for k, why in r["cannot_work"].items()) or "-",
            r["description"] + ("; found with " + ", ".join(f"{k}={v}" for k, v in r["tried_with"].items())
                                if r["tried_with"] else "")]
           for r in rows])
    if settings:
        table("settings", ["method", "setting", "type", "default", "help"],
              [[r["name"], f["name"], f["type"], json.dumps(f["default"], default=str), f["help"]]
               for r in rows for f in r["settings"]])


def method_row(m: Any) -> dict[str, Any]:
    """What `tune methods` says about one method: kinds, settings with type/default/help, and why not."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(m.config_class)
    fields = []
    for f in dataclasses.fields(m.config_class):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        hint = hints.get(f.name, f.type)
        fields.append({"name": f.name, "type": str(hint).replace("typing.", "") if not isinstance(hint, type)
                       else hint.__name__, "default": default, "help": f.metadata.get("help", "")})
    reasons = getattr(m, "reasons", None)
    found = reasons() if callable(reasons) else {}
    note = member("tuning_methods", m, "unsupported_note")
    kinds = list(member("tuning_methods", m, "model_kinds"))
    cannot = {k: why for k, why in found.items() if why}
    if not found and note:
        cannot = {k: note for k in ("causal", "encoder") if k not in kinds}
    tried = getattr(m, "tried_with", None)
    return {"name": m.name, "description": member("tuning_methods", m, "description"), "model_kinds": kinds,
            "tried_with": tried() if callable(tried) else {},
            "cannot_work": cannot, "supported_tasks": member("tuning_methods", m, "supported_tasks"),
            "settings": fields, "search_space": m.default_search_space(), "note": note}
