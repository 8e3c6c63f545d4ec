"""Executor choice and where Ray's files go (no Ray process is started here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from promptyard.core.errors import UsageError
from promptyard.runtime import ray_session as ray_exec
from promptyard.runtime.ray_session import RayTarget, choose_executor, local_init_kwargs, ray_temp_dir


@pytest.mark.parametrize(("use_ray", "address", "env", "expected"), [
    (False, None, None, None),
    (True, None, None, RayTarget(None)),
    (False, "10.0.0.5:6379", None, RayTarget("10.0.0.5:6379")),
    (False, None, "auto", RayTarget("auto")),
    (True, None, "ray://head:10001", RayTarget("ray://head:10001")),
    (False, "local", None, RayTarget(None)),
    (False, "   ", None, None),
])
def test_choose_executor(monkeypatch, use_ray, address, env, expected):
    if env is None:
        monkeypatch.delenv("PROMPTYARD_RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("PROMPTYARD_RAY_ADDRESS", env)
    assert choose_executor(use_ray, address) == expected


def test_ray_is_not_imported_by_choosing(monkeypatch):
    import subprocess

    code = ("import sys; from promptyard.runtime.ray_session import choose_executor; "
            "import promptyard.tuning.search, promptyard.tuning.search_driver, promptyard.cli.tune_search; "
            "choose_executor(True); print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(ray_exec.__file__).parents[2])})
    assert out.stdout.strip() == "False"


def test_short_work_dir_is_used_directly(monkeypatch, tmp_path):
    monkeypatch.delenv("PROMPTYARD_RAY_TMPDIR", raising=False)
    monkeypatch.setenv("PROMPTYARD_WORKDIR", str(tmp_path))
    path = ray_temp_dir(max_len=len(str(tmp_path / "ray")))
    assert path == tmp_path / "ray" and path.is_dir() and not path.is_symlink()


def test_long_work_dir_gets_a_short_alias_to_files_under_it(monkeypatch, tmp_path):
    work = tmp_path / ("deep-" * 20)
    monkeypatch.delenv("PROMPTYARD_RAY_TMPDIR", raising=False)
    monkeypatch.setenv("PROMPTYARD_WORKDIR", str(work))
    alias = ray_temp_dir()
    try:
        assert alias.is_symlink() and len(str(alias)) <= ray_exec.MAX_TEMP_DIR_LEN
        assert alias.resolve() == (work / "ray").resolve()
        # Ray's longest socket path still fits the AF_UNIX limit through the alias.
        socket = alias / "session_2026-11-25_11-40-33_940146_4194304" / "sockets" / "plasma_store.99"
        assert len(str(socket)) <= 107
        assert ray_temp_dir() == alias  # stable: the same link is reused
        kwargs = local_init_kwargs(num_cpus=1)
        assert kwargs["_temp_dir"] == str(alias) and kwargs["include_dashboard"] is False
        assert kwargs["_node_ip_address"] == "127.0.0.1" and kwargs["num_cpus"] == 1
    finally:
        alias.unlink()


def test_alias_never_clobbers_a_foreign_file(monkeypatch, tmp_path):
    work = tmp_path / ("deep-" * 20)
    monkeypatch.setenv("PROMPTYARD_WORKDIR", str(work))
    monkeypatch.delenv("PROMPTYARD_RAY_TMPDIR", raising=False)
    monkeypatch.setattr(ray_exec, "_short_alias_parent", lambda: tmp_path)
    alias = ray_temp_dir(max_len=len(str(tmp_path)) + 20)
    alias.unlink()
    alias.mkdir()  # someone else's directory at the alias path
    with pytest.raises(UsageError, match="is not promptyard's link"):
        ray_temp_dir(max_len=len(str(tmp_path)) + 20)


def test_machine_cpus_follows_affinity():
    assert ray_exec.machine_cpus() == len(os.sched_getaffinity(0))
