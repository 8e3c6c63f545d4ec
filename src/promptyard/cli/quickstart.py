"""``promptyard quickstart``: a guided walk through the registry (commit, label, render, diff, rollback).

Each step prints the command a user would type and runs exactly that command in-process.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from promptyard.cli.main import app as root_app

PROMPT = "demo/sentiment"
V1 = "Classify the sentiment of this movie review as positive or negative.\nReview: {{ review }}\nSentiment:"
V2 = ("You are a careful film critic. Read the review and answer with one word, positive or negative.\n"
      "Review: {{ review }}\nAnswer:")
REVIEW = "A warm, funny film that never outstays its welcome."


def _run(args: list[str], registry: Path) -> None:
    from promptyard.cli.main import main
    from promptyard.cli.state import state

    typer.secho("$ promptyard " + shlex.join(args), fg=typer.colors.CYAN, bold=True)
    saved = (state.registry, state.quiet)
    try:
        main(["--registry", str(registry), *args])
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        state.registry, state.quiet = saved
    print()


def _step(number: int, text: str) -> None:
    typer.secho(f"\n[{number}] {text}", bold=True)


@root_app.command("quickstart")
def quickstart(directory: Path = typer.Option(Path("promptyard-quickstart"), "--dir",
                                              help="Folder to create the demo registry in.")) -> None:
    """A guided tour: create a registry, commit two versions, label, render, diff and roll back."""
    from promptyard.core.paths import REGISTRY_DIRNAME, REGISTRY_FILENAME

    directory = directory.resolve()
    registry = directory / REGISTRY_DIRNAME / REGISTRY_FILENAME
    if registry.exists():
        # a previous run: keep it (renamed) and start over, so every step shows what it should
        import time

        kept = registry.parent.with_name(f"{REGISTRY_DIRNAME}.previous-{time.strftime('%Y%m%d-%H%M%S')}")
        registry.parent.rename(kept)
        print(f"(kept the previous quickstart registry as {kept})")
    _step(1, f"Create a registry in {directory}")
    _run(["init", str(directory)], registry)
    _step(2, "Commit the first version of a sentiment prompt (versions are numbered and hashed)")
    _run(["prompt", "commit", PROMPT, "--text", V1, "-m", "first wording", "--task-type", "classification",
          "--tag", "sentiment"], registry)
    _step(3, "Commit a second version; committing identical content again creates nothing")
    _run(["prompt", "commit", PROMPT, "--text", V2, "-m", "critic persona, one-word answer"], registry)
    _run(["prompt", "commit", PROMPT, "--text", V2, "-m", "same again"], registry)
    _step(4, "Put version 1 in production (a protected label, so --force)")
    _run(["prompt", "label", f"{PROMPT}@1", "production", "--force", "--reason", "first release"], registry)
    _step(5, f"Render what production serves: a bare name means {PROMPT}@production")
    _run(["prompt", "render", PROMPT, "-v", f"review={REVIEW}"], registry)
    _step(6, "Compare the two versions (template text and variable contract)")
    _run(["prompt", "diff", f"{PROMPT}@1", f"{PROMPT}@2"], registry)
    _step(7, "Promote version 2, then roll production back to where it was")
    _run(["prompt", "label", f"{PROMPT}@2", "production", "--force", "--reason", "better wording"], registry)
    _run(["prompt", "rollback", PROMPT, "--reason", "regression on short reviews"], registry)
    _run(["prompt", "render", PROMPT, "-v", f"review={REVIEW}"], registry)
    _step(8, "The log interleaves versions and label moves")
    _run(["prompt", "log", PROMPT], registry)
    typer.secho("Done. Try next:", bold=True)
    print(f"  export PROMPTYARD_REGISTRY={registry}\n  promptyard prompt list\n"
          f"  promptyard prompt show {PROMPT}@2 --json\n  promptyard prompt export -o bundle.yaml")
