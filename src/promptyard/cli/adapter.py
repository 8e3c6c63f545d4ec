"""``promptyard adapter``: trained adapters as registry versions (list, show, log, label, rollback,
export, diff), plus ``promptyard predict`` and ``promptyard doctor``. Thin over the registry's API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

import typer

from promptyard.cli.app import app as root_app
from promptyard.cli.output import console, print_json, table
from promptyard.cli.state import state
from promptyard.core.errors import UsageError
from promptyard.runtime.lineage import read_lineage
from promptyard.runtime.lineage import summary as lineage_summary
from promptyard.tuning.merging import export_merged, merge_adapters

app = typer.Typer(name="adapter", help="Trained adapters: versions, labels, rollback, export, merge, diff.",
                  no_args_is_help=True)
root_app.add_typer(app, name="adapter")
JSON_OPT = typer.Option(False, "--json", help="Print JSON.")


def _open(create: bool = False):
    from promptyard.registry.api import Registry

    return Registry.open(state.registry, create=create)


@app.command("list")
def list_adapters(pattern: Optional[str] = typer.Argument(None, help="Name glob."),  # noqa: UP045
                  as_json: bool = JSON_OPT) -> None:
    """Adapters with their latest version and labels."""
    with _open() as reg:
        items = reg.list(pattern, kind="adapter")
        rows = []
        for item in items:
            latest = reg.resolve(f"{item.name}@{item.latest}", kind="adapter") if item.latest else None
            rows.append({"name": item.name, "latest": item.latest, "labels": item.labels,
                         **lineage_summary(latest.lineage if latest else {})})
    if as_json:
        print_json(rows)
        return
    table("adapters", ["name", "latest", "labels", "method", "base model", "val metric"],
          [[r["name"], r["latest"], ", ".join(f"{k}→{v}" for k, v in r["labels"].items()), r["method"],
            r["base_model"], None if r["metric"] is None else f"{r['metric']:.4f}"] for r in rows])


@app.command("show")
def show(ref: str = typer.Argument(..., help="NAME, NAME@N, NAME@label."), as_json: bool = JSON_OPT) -> None:
    """One adapter version: its files' hash and full lineage."""
    with _open() as reg:
        info = reg.resolve(ref, kind="adapter")
        path = reg.adapter_path(info.ref, verify=False)
    data = {"ref": info.ref, "content_hash": info.content_hash, "artifact_hash": info.artifact_hash,
            "path": str(path), "message": info.message, "author": info.author, "created_at": info.created_at,
            "lineage": info.lineage}
    if as_json:
        print_json(data)
        return
    lin = read_lineage(info.lineage)
    console.print(f"[bold]{info.ref}[/bold]  {info.message}")
    console.print(f"artifact sha256:{info.artifact_hash}  at {path}")
    for key in ("base_model", "prompt", "method", "task"):
        console.print(f"{key}: {json.dumps(lin.get(key), default=str)}")
    data = lin["data"]
    if lin["mix"]:  # a task mix: each task's prompt version and data instead of one
        for t in lin["mix"].get("tasks") or []:
            prompt, tdata = t.get("prompt") or {}, t.get("data") or {}
            console.print(f"task {t.get('name')} ({t.get('task')}, weight {t.get('weight')}): prompt "
                          f"{prompt.get('resolved')} {str(prompt.get('hash'))[:12]}, data {tdata.get('ref')} "
                          f"fingerprint {str(tdata.get('fingerprint'))[:12]}")
    else:
        for part in data.get("parents") or [data]:  # a merge: each parent's data
            part = part or {}
            console.print(f"data: {part.get('ref')} fingerprint {str(part.get('fingerprint'))[:12]}")
    console.print(f"metrics: {json.dumps(lin.get('metrics'), default=str)}")
    if lin.get("merge"):
        parents = ", ".join(f"{p.get('ref')} x {p.get('weight')}" for p in lin["merge"].get("parents", []))
        console.print(f"merge: {lin['merge'].get('combination')} of {parents}")
    if lin.get("text_format"):
        console.print(f"text format: {json.dumps(lin['text_format'], default=str)}")
    console.print(f"packages: {json.dumps(lin.get('packages'))}")


@app.command("log")
def log(name: str = typer.Argument(..., help="Adapter name."), as_json: bool = JSON_OPT) -> None:
    """Versions and label moves of an adapter, in time order."""
    with _open() as reg:
        events = reg.log(name, kind="adapter")
    if as_json:
        print_json(events)
        return
    rows = []
    for e in events:
        if e["type"] == "version":
            rows.append([str(e["time"])[:19], f"v{e['number']}", e["content_hash"][:12], e["author"], e["message"]])
        else:
            rows.append([str(e["time"])[:19], "label", f"{e['label']}: {e['from'] or '-'} → {e['to']}"
                         + (" (rollback)" if e["action"] == "rollback" else ""), e["actor"], e["reason"]])
    table(f"log of adapter {name}", ["time", "event", "what", "who", "message / reason"], rows)


@app.command("label")
def label(ref: str = typer.Argument(..., help="The version, e.g. NAME@3."),
          name: str = typer.Argument(..., help="Label, e.g. production."),
          force: bool = typer.Option(False, "--force", help="Move a protected label."),
          reason: str = typer.Option("", "--reason", help="Why (kept in the history)."),
          as_json: bool = JSON_OPT) -> None:
    """Point label NAME at adapter version REF."""
    with _open() as reg:
        move = reg.label_adapter(ref, name, force=force, reason=reason)
        target = reg.resolve(ref, kind="adapter")
    if as_json:
        print_json({"name": target.name, "label": name, "from": move.from_number if move else target.number,
                    "to": move.to_number if move else target.number})
    elif move is None:
        console.print(f"{name} already points to {target.ref}")
    else:
        console.print(f"{target.name}@{name}: {move.from_number or '-'} -> {move.to_number}")


@app.command("rollback")
def rollback(name: str = typer.Argument(..., help="Adapter name."),
             label_name: str = typer.Option("production", "--label", help="Label to move back."),
             to: Optional[int] = typer.Option(None, "--to", help="Version to move it to."),  # noqa: UP045
             reason: str = typer.Option("", "--reason", help="Why."),
             as_json: bool = JSON_OPT) -> None:
    """Move an adapter label back to its previous version (or --to N)."""
    with _open() as reg:
        move = reg.rollback_adapter(name, label_name, to, reason=reason)
    if as_json:
        print_json({"name": name, "label": label_name, "from": move.from_number, "to": move.to_number})
        return
    console.print(f"rolled back {name}@{label_name}: {move.from_number} -> {move.to_number}")


@app.command("export")
def export(ref: str = typer.Argument(..., help="Adapter reference."),
           folder: Path = typer.Argument(..., help="Folder to write (must not exist or be empty)."),
           merged: bool = typer.Option(False, "--merged", help="Write the base model with the adapter merged into "
                                                               "its weights: a plain transformers model folder."),
           as_json: bool = JSON_OPT) -> None:
    """Write the adapter (hash-checked) to FOLDER: PEFT's own format, loadable by PeftModel.from_pretrained;
    with --merged, a full model (config, tokenizer, safetensors) that from_pretrained loads without peft."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"{folder} exists and is not an empty folder", hint="choose a new folder")
    if merged:
        with _open() as reg:
            out = export_merged(reg, ref, folder)
        if as_json:
            print_json(out)
        else:
            console.print(f"exported {out['ref']} merged into {out['base_model']} to {folder} "
                          f"({', '.join(out['weights'])})")
        return
    with _open() as reg:
        source = reg.adapter_path(ref)  # verifies every file against the recorded hash
    folder.mkdir(parents=True, exist_ok=True)
    for path in source.rglob("*"):
        target = folder / path.relative_to(source)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)  # copyfile: a writable copy, not the store's read-only mode
    if as_json:
        print_json({"ref": ref, "folder": str(folder), "merged": False})
        return
    console.print(f"exported {ref} to {folder}")


def _weights(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--weights {text!r} is not a comma-separated list of numbers", where="--weights",
                         hint="e.g. --weights 0.7,0.3") from None


@app.command("merge")
def merge(refs: list[str] = typer.Argument(..., metavar="A B [C...]", help="LoRA adapter references (two or more)."),
          weights: Optional[str] = typer.Option(  # noqa: UP045
              None, "--weights", help="One weight per adapter, comma separated (default: equal shares)."),
          name: Optional[str] = typer.Option(None, "--name", help="Adapter name (default: <A>-merged)."),  # noqa: UP045
          combination: str = typer.Option("cat", "--combination",
                                          help="cat (exact, any ranks), linear (equal ranks, approximate) or svd "
                                               "(exact sum truncated to the largest rank)."),
          message: str = typer.Option("", "--message", help="Version message."),
          as_json: bool = JSON_OPT) -> None:
    """Combine LoRA adapters of one base into a new adapter version (peft's weighted merge); both parents are
    kept in its lineage."""
    shares = _weights(weights)
    with _open() as reg:
        info = merge_adapters(reg, refs, weights=shares, name=name, combination=combination, message=message)
    lin = info.lineage or {}
    merge_info = lin.get("merge") or {}
    if as_json:
        print_json({"version": info.ref, "artifact_hash": info.artifact_hash, **merge_info})
        return
    parents = ", ".join(f"{p['ref']} x {p['weight']:g}" for p in merge_info.get("parents", []))
    console.print(f"registered adapter [bold]{info.ref}[/bold]: {merge_info.get('combination')} merge of "
                  f"{parents} (rank {merge_info.get('rank')})")


@app.command("diff")
def diff(a: str = typer.Argument(..., help="First adapter reference."),
         b: str = typer.Argument(..., help="Second adapter reference."), as_json: bool = JSON_OPT) -> None:
    """What differs between two adapter versions: weights, base, prompt, data, method, settings, metrics."""
    from promptyard.tuning.predict import adapter_diff

    with _open() as reg:
        result = adapter_diff(reg.resolve(a, kind="adapter"), reg.resolve(b, kind="adapter"))
    if as_json:
        print_json(result)
        return
    console.print(f"{result['a']} vs {result['b']}: weights {'identical' if result['same_weights'] else 'differ'}")
    for key, change in result["changes"].items():
        console.print(f"[bold]{key}[/bold]: {json.dumps(change, default=str)}")


@root_app.command("predict")
def predict(adapter: str = typer.Option(..., "--adapter", "-a", help="Adapter reference, e.g. NAME@production."),
            text: list[str] = typer.Option(..., "--text", "-t", help="Input text (repeatable)."),
            max_new_tokens: int = typer.Option(32, help="For generation adapters."),
            prompt: Optional[str] = typer.Option(  # noqa: UP045
                None, "--prompt", help="Render through this prompt (reference or file) instead of the adapter's."),
            strict_template: bool = typer.Option(
                False, "--strict-template", help="Refuse a prompt or chat template other than the adapter's "
                                                 "training one (default: warn and mark each result)."),
            as_json: bool = JSON_OPT) -> None:
    """Run an adapter on text: rendered through its prompt, then labelled or answered."""
    from promptyard.tuning.predict import predict as run_predict

    with _open() as reg:
        folder = reg.adapter_path(adapter)  # a tampered file is refused here
        results = run_predict(folder, list(text), max_new_tokens=max_new_tokens, prompt=prompt, registry=reg,
                              strict_template=strict_template)
    if as_json:
        print_json([{"text": t, **r} for t, r in zip(text, results, strict=True)])
        return
    for t, r in zip(text, results, strict=True):
        probs = r.get("probabilities")
        detail = f"  ({', '.join(f'{k} {v:.2f}' for k, v in probs.items())})" if probs else ""
        console.print(f"{r['prediction']}{detail}\t{t[:60]}")


@root_app.command("doctor")
def doctor(remove_orphans: bool = typer.Option(False, "--remove-orphans", help="Delete orphaned artifacts."),
           as_json: bool = JSON_OPT) -> None:
    """The same checks as `registry check` (database, tables, versions, artifacts, orphans); exit 1 on any."""
    from promptyard.cli.registry_cmd import check  # one implementation: `registry check`

    check(remove_orphans=remove_orphans, as_json=as_json)
