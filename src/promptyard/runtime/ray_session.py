"""Executor choice: run in-process, start a local Ray instance (``--ray``) or join one (``--ray-address``).

Ray is imported only inside :func:`ray_session`. Every file Ray writes (its temp dir, sockets, logs, Tune
results) lives under :func:`promptyard.core.paths.work_dir`, never in /tmp or the home directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from promptyard.core.errors import UsageError
from promptyard.core.paths import work_dir

ADDRESS_ENV = "PROMPTYARD_RAY_ADDRESS"
TEMP_ENV = "PROMPTYARD_RAY_TMPDIR"

# An AF_UNIX path holds at most 107 bytes on Linux (103 on macOS). Ray puts its sockets at
# <temp>/session_YYYY-MM-DD_HH-MM-SS_ffffff_PID/sockets/plasma_store (~64 bytes after <temp>), so the
# temp dir itself must stay short; 40 leaves room for a long PID and Ray's numbered socket names.
MAX_TEMP_DIR_LEN = 40

# Ray settings every promptyard process needs before ``import ray`` (see shared ENVIRONMENT notes).
RAY_ENV_DEFAULTS = {
    "RAY_AUTH_MODE": "disabled",  # 2.60 turns on token auth and warns on every start otherwise
    "RAY_USAGE_STATS_ENABLED": "0",  # offline machines: never try to phone home
    "RAY_DEDUP_LOGS": "0",
    "RAY_AIR_NEW_OUTPUT": "0",  # the new output engine prints tables on stdout even with verbose=0
    # promptyard saves Tune's state every second on purpose (a killed driver loses little); not a problem.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}


@dataclass(frozen=True)
class RayTarget:
    """Where Ray work runs: ``address=None`` starts a local instance; otherwise join that cluster."""

    address: str | None = None

    @property
    def local(self) -> bool:
        return self.address is None

    def describe(self) -> str:
        return "local Ray instance" if self.local else f"Ray cluster at {self.address}"


def choose_executor(use_ray: bool = False, address: str | None = None) -> RayTarget | None:
    """``None`` (in-process) unless ``--ray``, ``--ray-address`` or ``PROMPTYARD_RAY_ADDRESS`` ask for Ray."""
    address = (address or os.environ.get(ADDRESS_ENV) or "").strip() or None
    if address is not None:
        if address.lower() == "local":
            return RayTarget(None)
        return RayTarget(address)
    return RayTarget(None) if use_ray else None


def machine_cpus() -> int:
    """CPUs this process may use (the affinity mask, not the host's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS
        return max(1, os.cpu_count() or 1)


def machine_gpus() -> int:
    """Visible CUDA devices, without importing torch when CUDA_VISIBLE_DEVICES already says."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        return 0


def _short_alias_parent() -> Path:
    """A short, writable folder for the socket alias: ``$XDG_RUNTIME_DIR`` (meant for sockets), else /tmp."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK) and len(runtime) < 24:
        return Path(runtime)
    return Path("/tmp")


def ray_temp_dir(max_len: int = MAX_TEMP_DIR_LEN) -> Path:
    """Ray's temp dir: ``PROMPTYARD_RAY_TMPDIR`` or ``<work_dir>/ray``, through a short alias if too long.

    The files always live under the work dir. When its path is too long for Ray's Unix sockets, the path
    handed to Ray is a symlink ``<XDG_RUNTIME_DIR or /tmp>/pyray-<hash>`` pointing there (one link, no
    data; :func:`ray_session` removes it at shutdown). Ray does not resolve the link, so socket paths stay
    short.
    """
    explicit = os.environ.get(TEMP_ENV)
    real = Path(explicit).expanduser().absolute() if explicit else work_dir() / "ray"
    real.mkdir(parents=True, exist_ok=True)
    if len(str(real)) <= max_len:
        return real
    digest = hashlib.sha256(str(real).encode()).hexdigest()[:10]
    alias = _short_alias_parent() / f"pyray-{digest}"
    if len(str(alias)) > max_len:
        raise UsageError(
            f"Ray's temp dir {real} is too long for Unix sockets and no short alias fits",
            where=TEMP_ENV, hint=f"set {TEMP_ENV} to a path of at most {max_len} characters")
    if alias.is_symlink() and Path(os.readlink(alias)) != real:
        alias.unlink()
    if not alias.is_symlink():
        if alias.exists():
            raise UsageError(f"{alias} exists and is not promptyard's link to {real}", where=TEMP_ENV,
                             hint=f"remove it or set {TEMP_ENV} to a short path")
        alias.symlink_to(real, target_is_directory=True)
    return alias


def tune_storage_dir() -> Path:
    """Where Tune keeps experiment state and trial checkpoints (``<work_dir>/tune``)."""
    path = work_dir() / "tune"
    path.mkdir(parents=True, exist_ok=True)
    return path


def apply_ray_env() -> None:
    """Set the Ray environment defaults (before ``import ray``; inherited by every Ray process)."""
    for key, value in RAY_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def local_init_kwargs(*, num_cpus: int | None = None, num_gpus: int | None = None) -> dict:
    """Arguments for ``ray.init`` that start a private local instance under the work dir."""
    return {
        "address": "local",
        "num_cpus": num_cpus if num_cpus is not None else machine_cpus(),
        "num_gpus": num_gpus if num_gpus is not None else machine_gpus(),
        "include_dashboard": False,
        "_node_ip_address": "127.0.0.1",
        "_temp_dir": str(ray_temp_dir()),
        "log_to_driver": False,
        "configure_logging": True,
        "logging_level": "WARNING",
    }


@contextlib.contextmanager
def ray_session(target: RayTarget, *, num_cpus: int | None = None,
                num_gpus: int | None = None) -> Iterator[None]:
    """Connect to Ray for the block; shut down only what this block started (reuses a live connection)."""
    apply_ray_env()
    import ray

    if ray.is_initialized():
        yield
        return
    alias = None
    try:
        if target.local:
            kwargs = local_init_kwargs(num_cpus=num_cpus, num_gpus=num_gpus)
            alias = Path(kwargs["_temp_dir"])
            ray.init(**kwargs)
        else:
            ray.init(address=target.address, log_to_driver=False, logging_level="WARNING")
    except ConnectionError as exc:
        raise UsageError(f"cannot reach the Ray cluster: {exc}", where=target.describe(),
                         hint="start it with `ray start --head` or check --ray-address") from exc
    try:
        yield
    finally:
        ray.shutdown()
        if alias is not None and alias.is_symlink():
            alias.unlink(missing_ok=True)


@contextlib.contextmanager
def local_cluster(worker_nodes: int = 2, *, cpus_per_node: int = 1, head_cpus: int = 0,
                  node_resources: dict[str, float] | None = None) -> Iterator[object]:
    """Several Ray nodes on this machine (``ray.cluster_utils.Cluster``), connected; for tests and benchmarks.

    The head holds ``head_cpus`` CPUs (0: work lands on the worker nodes only); each worker node gets
    ``cpus_per_node`` CPUs and ``node_resources``. Yields the Cluster (``remove_node`` simulates a lost node).
    """
    apply_ray_env()
    import ray
    from ray.cluster_utils import Cluster

    temp = str(ray_temp_dir())
    # Cluster() records its address in Ray's default temp dir, which RAY_TMPDIR moves off /tmp.
    old_tmpdir = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = temp
    (Path(temp) / "ray").mkdir(exist_ok=True)
    # No node_ip_address here: ray.init() maps 127.0.0.1 to the host's address, so the nodes must use it too.
    common = {"include_dashboard": False, "temp_dir": temp}
    cluster = Cluster(initialize_head=True, head_node_args={**common, "num_cpus": head_cpus})
    try:
        for _ in range(worker_nodes):
            cluster.add_node(num_cpus=cpus_per_node, resources=dict(node_resources or {}), **common)
        cluster.wait_for_nodes()
        ray.init(address=cluster.gcs_address, log_to_driver=False, logging_level="WARNING")
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        if old_tmpdir is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = old_tmpdir
        alias = Path(temp)
        if alias.is_symlink():
            alias.unlink(missing_ok=True)
