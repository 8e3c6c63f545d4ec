"""The built-in sub-apps, one module per noun.

Each module attaches its sub-app (or commands) to the root app when imported, so importing them here is
what makes `promptyard --help` list them. They import nothing heavy at module level.
"""

from __future__ import annotations

from promptyard.cli import (  # noqa: F401
    adapter,
    data,
    eval,
    plugins_cmd,
    prompt,
    quickstart,
    registry_cmd,
    tune,
    tune_search,  # after tune: adds `tune search|resume|searches` to its sub-app
)
