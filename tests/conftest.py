"""Every test runs against a registry and caches under its own tmp_path; none touches the user's home."""

from __future__ import annotations

import os

import pytest

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
