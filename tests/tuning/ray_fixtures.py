"""Ray for tests: one instance (or one multi-node cluster) per test module; starting Ray costs seconds here."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"


@contextlib.contextmanager
def ray_test_env(root: Path, model_cache: Path | None = None) -> Iterator[None]:
    """Environment Ray's processes inherit: this folder importable, caches and work dir under ``root``.

    Ray's processes keep the environment of the moment Ray starts, so it must be isolated here (the
    per-test isolation comes later). A long temp path on purpose: Ray must still start, via the short alias.
    """
    cache = root / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    if model_cache is not None:
        for kind in ("models", "hashes"):
            if not (cache / kind).exists():
                (cache / kind).symlink_to(model_cache / kind, target_is_directory=True)
    names = {
        "PYTHONPATH": os.pathsep.join(p for p in (str(HERE), str(SRC), os.environ.get("PYTHONPATH", "")) if p),
        "PROMPTYARD_HOME": str(root / "home"),
        "PROMPTYARD_CACHE": str(cache),
        "PROMPTYARD_WORKDIR": str(root / "work"),
        "PROMPTYARD_RAY_TMPDIR": str(root / ("long-" * 12) / "ray"),
    }
    old = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def module_ray(root: Path, *, num_cpus: int = 2, model_cache: Path | None = None) -> Iterator[None]:
    """A local Ray instance with the project settings, for one test module."""
    from promptyard.runtime.ray_session import RayTarget, ray_session

    with ray_test_env(root, model_cache), ray_session(RayTarget(), num_cpus=num_cpus):
        yield


@contextlib.contextmanager
def module_cluster(root: Path, *, worker_nodes: int = 2, model_cache: Path | None = None) -> Iterator[object]:
    """A head without CPUs and ``worker_nodes`` one-CPU nodes on this machine, connected."""
    from promptyard.runtime.ray_session import local_cluster

    with ray_test_env(root, model_cache), local_cluster(worker_nodes, cpus_per_node=1, head_cpus=0) as cluster:
        yield cluster
