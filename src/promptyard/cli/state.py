"""Options given to the root command, read by every sub-command."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class State:
    registry: str | None = None
    debug: bool = bool(os.environ.get("PROMPTYARD_DEBUG"))
    quiet: bool = False


state = State()
