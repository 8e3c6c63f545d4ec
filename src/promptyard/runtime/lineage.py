"""Package versions recorded with every trained adapter and every eval cell (one set for both)."""

from __future__ import annotations

import functools
import platform
from importlib import metadata

#: what decides a trained adapter's weights or an eval's numbers
PACKAGES = ("promptyard", "torch", "transformers", "peft", "accelerate", "evaluate", "numpy", "scikit-learn",
            "sacrebleu", "rouge_score")


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    out = [("python", platform.python_version())]
    for name in PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return tuple(out)


def package_versions() -> dict[str, str]:
    """``{"python": "3.11.9", "torch": "2.13.0", ...}``; a package that is absent is ``"not installed"``."""
    return dict(_versions())
