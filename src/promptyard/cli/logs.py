"""Library messages (``logging`` under ``promptyard``) as ``promptyard: …`` lines on stderr."""

from __future__ import annotations

import logging
import sys
import warnings

_handler: logging.Handler | None = None


class _Stderr(logging.StreamHandler):
    """Looks ``sys.stderr`` up at each message, so a test's or a redirected stderr is honoured."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("promptyard: %(message)s"))

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def install(*, quiet: bool = False) -> None:
    """Show ``promptyard.*`` log records: INFO and up, or WARNING and up with ``--quiet``."""
    global _handler
    logger = logging.getLogger("promptyard")
    if _handler is None:
        _handler = _Stderr()
        logger.addHandler(_handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    install_warnings()


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


def uninstall() -> None:
    """Stop showing library messages (what :func:`install` set up is undone)."""
    global _handler
    logger = logging.getLogger("promptyard")
    if _handler is not None:
        logger.removeHandler(_handler)
        _handler = None
    logger.setLevel(logging.NOTSET)
    if warnings.showwarning is _show_warning:
        warnings.showwarning = _python_showwarning
