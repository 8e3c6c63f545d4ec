"""promptyard's own warnings as one ``warning: …`` line on stderr (no ``logging``: the render fast path uses it)."""

from __future__ import annotations

import sys
import warnings


def install_warnings() -> None:
    """Show promptyard's own warnings as one line each (also on the render fast path)."""
    if warnings.showwarning is not _show_warning:
        global _python_showwarning
        _python_showwarning = warnings.showwarning
        warnings.showwarning = _show_warning


_python_showwarning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """promptyard's own warnings (the remote client serving a cached copy) as one ``warning: …`` line."""
    if category.__module__.startswith("promptyard."):
        print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)
        return
    _python_showwarning(message, category, filename, lineno, file, line)


def uninstall_warnings() -> None:
    """Python's own warning display back."""
    if warnings.showwarning is _show_warning:
        warnings.showwarning = _python_showwarning
