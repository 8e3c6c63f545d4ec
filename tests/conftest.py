"""Every test runs against a registry and caches under its own tmp_path; none touches the user's home.

Also the fixtures tests of several folders share: a helper to wait for a condition, the environment of the
processes a test starts, a folder to 'install' plugin distributions into, and Ray's environment.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    from promptyard.testing import isolated_environment

    monkeypatch.chdir(tmp_path)
    with isolated_environment(tmp_path):
        yield tmp_path


@pytest.fixture(scope="session")
def _shared_model_cache(tmp_path_factory):
    """One model cache per test session: converting SmolLM2 from GGUF takes ~30 s, once is enough.

    ``PROMPTYARD_TEST_MODEL_CACHE`` keeps it across sessions (handy while developing).
    """
    from pathlib import Path

    env = os.environ.get("PROMPTYARD_TEST_MODEL_CACHE")
    root = Path(env) if env else tmp_path_factory.mktemp("model-cache")
    for kind in ("models", "hashes"):
        (root / kind).mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(autouse=True)
def _model_cache(_isolated, _shared_model_cache):
    """Point each test's ``models`` and ``hashes`` caches at the session-wide ones."""
    cache = _isolated / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for kind in ("models", "hashes"):
        link = cache / kind
        if not link.exists():
            link.symlink_to(_shared_model_cache / kind, target_is_directory=True)
    yield


def _wait_for(condition: Callable[[], T], timeout: float, what: str, *, interval: float = 0.1) -> T:
    """Call ``condition`` until it returns something true and return that; ``TimeoutError`` after ``timeout`` s.

    ``interval`` is only the polling period. An assertion inside ``condition`` (say, "the child is still
    alive") fails the test at once, with its own message.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def wait_for() -> Callable[..., Any]:
    """``wait_for(condition, timeout, what)``: the one way a test waits (for a file, a process, a state)."""
    return _wait_for


@pytest.fixture(scope="session")
def child_pythonpath() -> str:
    """``PYTHONPATH`` for the processes a test starts (subprocesses, Ray workers): this checkout's ``src`` and
    the repository root, so they import helper modules as the tests do (``tests.tuning.paced_trainer``)."""
    return os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH")) if p)


@pytest.fixture
def child_env(child_pythonpath) -> dict[str, str]:
    """The environment for a subprocess: this test's (isolated) one, with :func:`child_pythonpath`."""
    return {**os.environ, "PYTHONPATH": child_pythonpath}


@pytest.fixture
def site(tmp_path, monkeypatch) -> Iterator[Path]:
    """A folder on sys.path where tests 'install' distributions (real dist-info, real imports).

    ``tests.core.plugin_site.install`` writes one there.
    """
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    before = set(sys.modules)
    yield path
    for name in set(sys.modules) - before:  # the test modules written there must not leak
        if name.startswith("pyplug_"):
            del sys.modules[name]


@pytest.fixture(scope="session")
def ray_test_env(_shared_model_cache, child_pythonpath) -> Callable[[Path], contextlib.AbstractContextManager[None]]:
    """``with ray_test_env(root):`` the environment Ray's processes inherit, for a module-wide Ray instance.

    Ray's processes keep the environment of the moment Ray starts, so it is isolated here (the per-test
    isolation comes later): helper modules importable, caches (sharing the session's model cache) and work
    dir under ``root``. A long temp path on purpose: Ray must still start, via the short alias.
    """

    @contextlib.contextmanager
    def environment(root: Path) -> Iterator[None]:
        cache = root / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        for kind in ("models", "hashes"):
            if not (cache / kind).exists():
                (cache / kind).symlink_to(_shared_model_cache / kind, target_is_directory=True)
        names = {
            "PYTHONPATH": child_pythonpath,
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

    return environment


@pytest.fixture
def registry(tmp_path):
    """An empty registry of this test's own (tests/evals/conftest.py gives evals tests one with prompts)."""
    from promptyard import Registry

    reg = Registry.open(tmp_path / "reg" / "registry.db", create=True)
    yield reg
    reg.close()


class Ran:
    """What one ``promptyard`` subprocess did."""

    def __init__(self, code: int, stdout: str, stderr: str):
        self.code, self.stdout, self.stderr = code, stdout, stderr

    def error_line(self) -> str:
        """The one ``error: …`` line of a refused command (asserts there is exactly one, and no traceback)."""
        assert "Traceback" not in self.stdout + self.stderr, self.stderr[-2000:]
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), self.stderr[-2000:]
        return lines[0]


@pytest.fixture
def cli(tmp_path):
    """Run the real ``promptyard`` entry point in a subprocess, bounded by ``timeout`` (a hang fails the test)."""
    import subprocess
    import sys

    def run(*args: str, env: dict | None = None, timeout: float = 60, stdin: str | None = None) -> Ran:
        proc = subprocess.run([sys.executable, "-m", "promptyard.cli", *args], capture_output=True, text=True,
                              timeout=timeout, cwd=tmp_path, env={**os.environ, **(env or {})},
                              input=stdin or "")
        return Ran(proc.returncode, proc.stdout, proc.stderr)

    return run
