"""A Ray instance started once per test module (starting Ray costs seconds on 2 cores)."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent


def start_module_ray(tmp_root: Path, *, num_cpus: int = 2):
    """Start a local Ray with the project settings; workers can import this folder's helpers."""
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE), str(HERE.parent.parent / "src"), os.environ.get("PYTHONPATH", "")) if p)
    os.environ.setdefault("PROMPTYARD_CACHE", str(tmp_root / "cache"))
    from promptyard.tuning.ray_exec import RayTarget, ray_session

    # A long temp path on purpose: ray_session must still start (through its short alias).
    os.environ["PROMPTYARD_RAY_TMPDIR"] = str(tmp_root / ("long-" * 12) / "ray")
    session = ray_session(RayTarget(), num_cpus=num_cpus)
    session.__enter__()
    return session
