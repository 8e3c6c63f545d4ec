"""promptyard: manage, tune and evaluate prompts.

Plugin authors: ``from promptyard import hookimpl``. Users: ``from promptyard import Registry``.
Heavy modules load on first use, so ``import promptyard`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptyard._version import __version__
from promptyard.core.hookspecs import hookimpl

__all__ = ["Registry", "Template", "hookimpl", "__version__"]

if TYPE_CHECKING:
    from promptyard.core.template import Template
    from promptyard.registry.api import Registry


def __getattr__(name: str) -> Any:
    if name == "Registry":
        from promptyard.registry.api import Registry

        return Registry
    if name == "Template":
        from promptyard.core.template import Template

        return Template
    raise AttributeError(name)
