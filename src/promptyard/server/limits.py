"""What one request may ask of the server: body size, rendered output, render time, watch time.

The output bound is the sandbox's own (:data:`promptyard.core.bounds.MAX_TEXT`): the server refuses no
render that the CLI would allow. Body size and render time are the server's, since only a server has a
client it must not let tie up a worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptyard.core import bounds as sandbox_limits


@dataclass(frozen=True)
class ServerLimits:
    """Bounds on each request; a request over them gets 413 (body) or 422 (output, render time)."""

    max_body_bytes: int = 1 << 20
    max_output_chars: int = sandbox_limits.MAX_TEXT
    render_timeout_s: float = 5.0
    max_watch_s: float = 60.0
    max_watch_refs: int = 256

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_output_chars", "render_timeout_s", "max_watch_s",
                     "max_watch_refs"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ServerLimits.{name} must be positive")
