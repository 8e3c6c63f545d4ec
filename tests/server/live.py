"""A real ``promptyard serve`` in a subprocess on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

STARTUP_TIMEOUT_S = 90.0
#: the promptyard command in a subprocess (the installed script's entry point, with this interpreter)
PROMPTYARD = [sys.executable, "-m", "promptyard.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_env(home: Path, registry: Path) -> dict[str, str]:
    """The environment a promptyard subprocess gets: this test's registry and caches, offline."""
    env = dict(os.environ)
    env.update(PROMPTYARD_REGISTRY=str(registry), PROMPTYARD_HOME=str(home / "home"),
               PROMPTYARD_CACHE=str(home / "cache"), PROMPTYARD_WORKDIR=str(home / "work"),
               PROMPTYARD_PLUGINS=env.get("PROMPTYARD_PLUGINS", ""), PYTHONUNBUFFERED="1")
    env.pop("PROMPTYARD_TOKEN", None)
    return env


class LiveServer:
    """``start()`` runs ``python -m promptyard serve`` and returns once ``/readyz`` answers 200."""

    def __init__(self, registry: Path, home: Path, *, auth: bool = True, port: int | None = None,
                 args: tuple[str, ...] = ()):
        self.registry, self.home, self.auth = Path(registry), Path(home), auth
        self.port = port or free_port()
        self.args = args
        self.proc: subprocess.Popen | None = None
        self.log = self.home / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        cmd = [*PROMPTYARD, "serve", "--registry", str(self.registry),
               "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning", *self.args]
        if not self.auth:
            cmd.append("--no-auth")
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(cmd, env=cli_env(self.home, self.registry), stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server not ready after {STARTUP_TIMEOUT_S} s:\n{self.log.read_text()}")
            time.sleep(0.05)  # polling for a condition, not waiting a fixed time

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
