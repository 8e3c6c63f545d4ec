"""Helpers for testing promptyard and promptyard plugins (pytest fixtures live in ``promptyard.testing_fixtures``).

- :func:`invoke` runs the CLI in-process and captures what it printed and its exit code.
- :func:`isolated_environment` points the registry and every cache at a temporary folder.
- :func:`plugin_registered` registers a plugin for the duration of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(args: list[str], *, input: str | None = None) -> CliResult:
    """Run ``promptyard ARGS`` in this process; return exit code, stdout and stderr."""
    import sys

    from promptyard.cli.main import main
    from promptyard.cli.state import state

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(input or "")
    saved = (state.registry, state.debug, state.quiet)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin = old_stdin
        state.registry, state.debug, state.quiet = saved
    return CliResult(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def isolated_environment(root: Path) -> Iterator[Path]:
    """Point ``PROMPTYARD_REGISTRY``, ``PROMPTYARD_HOME``, caches and work dir at ``root``."""
    root = Path(root)
    names = {
        "PROMPTYARD_REGISTRY": str(root / ".promptyard" / "registry.db"),
        "PROMPTYARD_HOME": str(root / "home"),
        "PROMPTYARD_CACHE": str(root / "cache"),
        "PROMPTYARD_WORKDIR": str(root / "work"),
    }
    old = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    try:
        yield root
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def plugin_registered(plugin: Any, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` on the process-wide host for the block, and always unregister it after."""
    from promptyard.core.plugins import get_host

    host = get_host()
    plugin_name = host.register(plugin, name=name)
    try:
        yield plugin_name
    finally:
        host.unregister(name=plugin_name)
