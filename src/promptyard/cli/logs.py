"""Library messages (``logging`` under ``promptyard``) as ``promptyard: …`` lines on stderr."""

from __future__ import annotations

import logging
import sys

from promptyard.cli.warning_lines import install_warnings, uninstall_warnings

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


def uninstall() -> None:
    """Stop showing library messages (what :func:`install` set up is undone)."""
    global _handler
    logger = logging.getLogger("promptyard")
    if _handler is not None:
        logger.removeHandler(_handler)
        _handler = None
    logger.setLevel(logging.NOTSET)
    uninstall_warnings()
