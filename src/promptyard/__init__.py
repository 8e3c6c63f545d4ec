"""promptyard: manage, tune and evaluate prompts.

Plugin authors: ``from promptyard import hookimpl``. Users: ``from promptyard import Registry``.
Everything here loads on first use (``hookimpl`` brings pluggy), so ``import promptyard`` stays fast: every
``promptyard`` command, ``prompt render`` included, imports this package first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptyard._version import __version__

__all__ = ["Registry", "Template", "connect", "hookimpl", "__version__"]

if TYPE_CHECKING:
    from promptyard.core.hookspecs import hookimpl
    from promptyard.core.template import Template
    from promptyard.registry.api import Registry


def connect(url: str, token: str | None = None, **options: Any) -> Any:
    """A client for a registry served by ``promptyard serve`` at ``url`` (see :mod:`promptyard.remote`):
    the read, render and label methods of :class:`Registry`, cached, never stale, surviving an outage."""
    from promptyard.remote import connect as remote_connect

    return remote_connect(url, token, **options)


def __getattr__(name: str) -> Any:
    if name == "hookimpl":
        from promptyard.core.hookspecs import hookimpl

        return hookimpl
    if name == "Registry":
        from promptyard.registry.api import Registry

        return Registry
    if name == "Template":
        from promptyard.core.template import Template

        return Template
    raise AttributeError(name)
