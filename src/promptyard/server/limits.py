"""What one request may ask of the server: body size, render time, watch time.

Renders run under the sandbox's own limits object (:class:`promptyard.core.sandbox_limits.SandboxLimits`:
sizes, counts, the rendered text's length and a wall-clock deadline), the same the CLI renders under
(defaults plus ``PROMPTYARD_SANDBOX_LIMITS``), with its deadline set to the server's render timeout: the
server refuses no render the CLI would allow except by time. Body size and watch time are the server's own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from promptyard.core.sandbox_limits import SandboxLimits, current_limits


@dataclass(frozen=True)
class ServerLimits:
    """Bounds on each request; a request over them gets 413 (body) or 422 (a sandbox limit, render time)."""

    max_body_bytes: int = 1 << 20
    render_timeout_s: float = 5.0
    max_watch_s: float = 60.0
    max_watch_refs: int = 256
    sandbox: SandboxLimits | None = None  # None: the process's current sandbox limits

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "render_timeout_s", "max_watch_s", "max_watch_refs"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ServerLimits.{name} must be positive")

    def render_limits(self) -> SandboxLimits:
        """The sandbox limits of one render: the sandbox's, with the server's render timeout as deadline."""
        return replace(self.sandbox or current_limits(), deadline_s=self.render_timeout_s)
