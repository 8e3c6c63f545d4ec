"""Who made a change: the author of a version, the actor of a label move, when the caller names none."""

from __future__ import annotations

import getpass
import os


def default_author() -> str:
    """``PROMPTYARD_AUTHOR``, else the login name."""
    try:
        return os.environ.get("PROMPTYARD_AUTHOR") or getpass.getuser()
    except Exception:  # getuser raises when no login name is known (containers)
        return "unknown"
