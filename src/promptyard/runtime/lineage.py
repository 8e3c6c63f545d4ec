"""Package versions and device facts recorded with every trained adapter."""

from __future__ import annotations

import platform
from importlib import metadata


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("promptyard", "torch", "transformers", "peft", "accelerate"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
