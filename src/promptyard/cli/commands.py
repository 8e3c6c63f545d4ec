"""The built-in sub-apps, one module per noun."""

from __future__ import annotations

# Each noun module defines its sub-app and attaches it to the root `app` on import; imported here so
# that `promptyard --help` lists them. (Modules are added as their issues land.)
from promptyard.cli import plugins_cmd  # noqa: F401
from promptyard.cli.main import app  # noqa: F401
