"""``promptyard data``: look at data sets (embedded, JSONL, CSV) before tuning or evaluating on them."""

from __future__ import annotations

from typing import Optional

import typer

from promptyard.cli.app import app as root_app
from promptyard.cli.output import console, print_json, table
from promptyard.core.host import get_host
from promptyard.core.lookups import load_dataset
from promptyard.core.protocols import member

app = typer.Typer(help="Look at data sets: embedded ones (rotten_tomatoes, bbc_news), JSONL and CSV files.",
                  no_args_is_help=True)
root_app.add_typer(app, name="data")


def data_options(text_column: str | None, label_column: str | None, target_column: str | None,
                 skip_bad_rows: bool) -> dict:
    """The loader options a user gave (unset ones left out, so loaders use their defaults)."""
    options = {"text_column": text_column, "label_column": label_column, "target_column": target_column}
    options = {k: v for k, v in options.items() if v is not None}
    if skip_bad_rows:
        options["skip_bad_rows"] = True
    return options


@app.command("show")
def show(
    name: str = typer.Argument(..., help="rotten_tomatoes, bbc_news, or a .jsonl/.csv file."),
    rows: int = typer.Option(5, "--rows", "-n", min=0, help="How many rows to print (0 or more)."),
    text_column: Optional[str] = typer.Option(None, help="Column holding the input text."),  # noqa: UP045
    label_column: Optional[str] = typer.Option(None, help="Column holding the label."),  # noqa: UP045
    target_column: Optional[str] = typer.Option(None, help="Column holding the target text."),  # noqa: UP045
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Leave bad rows out, count them."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print a data set's size, labels, fingerprint and a few rows."""
    data = load_dataset(name, **data_options(text_column, label_column, target_column, skip_bad_rows))
    info = {"name": data.name, "source": data.source, "size": len(data), "skipped": data.skipped,
            "labels": data.label_counts(), "fingerprint": data.fingerprint, "rows": data.rows[:rows]}
    if as_json:
        print_json(info)
        return
    console.print(f"[bold]{data.name}[/bold]  {len(data)} rows  fingerprint {data.fingerprint[:12]}")
    console.print(f"source: {data.source}")
    if data.skipped:
        console.print(f"[yellow]skipped {data.skipped} malformed row(s)[/yellow]")
    if info["labels"]:
        table("labels", ["label", "rows"], [[k, v] for k, v in info["labels"].items()])
    canonical = ("text", "label", "target")
    columns = sorted({k for r in info["rows"] for k in r}, key=lambda k: (k not in canonical, k))
    table(f"first {len(info['rows'])} rows", columns,
          [[_short(r.get(c)) for c in columns] for r in info["rows"]])


@app.command("list")
def list_data(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the named data sets the loaders provide, then the loaders that take files or references."""
    loaders = get_host().table("dataset_loaders").values()
    items = [{"name": name, "description": about, "loader": loader.name} for loader in loaders
             for name, about in member("dataset_loaders", loader, "catalog").items()]
    items += [{"name": loader.name, "description": member("dataset_loaders", loader, "description"),
               "loader": loader.name} for loader in loaders if not member("dataset_loaders", loader, "catalog")]
    if as_json:
        print_json(items)
    else:
        table("data sets", ["name", "description"], [[i["name"], i["description"]] for i in items])


def _short(value, width: int = 80) -> str:
    text = "" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"
