"""The built-in sub-apps, one module per noun."""

from __future__ import annotations

# Each noun module defines `app = typer.Typer(...)`; imported here so that `promptyard --help` lists them.
# (Modules are added as their issues land.)
from promptyard.cli import prompt, quickstart, registry_cmd  # noqa: E402,F401 - registry area
from promptyard.cli import data  # noqa: E402,F401
from promptyard.cli import eval  # noqa: E402,F401
from promptyard.cli import tune_search  # noqa: E402,F401 - `tune search|resume|searches` (joins the tune sub-app)
