"""``promptyard serve`` under load, side by side with MLflow's tracking server serving the same prompt alias.

    PYTHONPATH=src .venv/bin/python bench/bench_server.py [--requests 20000] [--mlflow-python PY]

1. promptyard: ``POST /api/v1/prompts/bench@production/-/render`` (resolve + render on the server) over 32
   concurrent keep-alive connections, a fixed number of requests; requests/s, p50/p99 latency. Half-way
   the label moves to version 2 (straight into the file, from this process, as the CLI would); every
   request sent after the move returns that answered version 1 counts as stale (goal: 0).
2. MLflow: ``mlflow server --backend-store-uri sqlite:///…`` and ``mlflow.genai.load_prompt`` of
   ``prompts:/bench@production`` over HTTP by 32 threads, its cache off (``cache_ttl_seconds=0``, never
   stale) and with its default cache (stale until the TTL passes), the alias moved half-way likewise.
3. The Python client with a warm cache: ``render("bench@production")`` calls/s with ETag revalidation
   (one 304 per call) and with ``watch=True`` (no request while the watch is up), against the local
   ``Registry.render`` on the same file.

The load generator is a minimal asyncio HTTP/1.1 client (keep-alive, Content-Length bodies), so that the
figures measure the server rather than a client library. It shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MLFLOW = "/work/bench-venv-mlflow/bin/python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------- the load generator
async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def load(port: int, path: str, body: bytes, token: str, n: int, concurrency: int, on_half) -> dict:
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    counter = {"next": 0, "moved_at": None}
    latencies: list[float] = []
    stale, errors, versions = [0], [0], {}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while counter["next"] < n:
                i = counter["next"]
                counter["next"] += 1
                if i == n // 2:
                    await asyncio.get_running_loop().run_in_executor(None, on_half)
                    counter["moved_at"] = time.perf_counter()
                moved = counter["moved_at"]
                t0 = time.perf_counter()
                status, data = await _one(reader, writer, request)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors[0] += 1
                    continue
                ref = json.loads(data)["ref"]
                versions[ref] = versions.get(ref, 0) + 1
                if moved is not None and t0 > moved and ref.endswith("@1"):
                    stale[0] += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    return {"n": len(latencies), "wall_s": wall, "rps": len(latencies) / wall, "p50_ms": pct(latencies, 0.5) * 1e3,
            "p99_ms": pct(latencies, 0.99) * 1e3, "stale": stale[0], "errors": errors[0], "versions": versions}


# ---------------------------------------------------------------- promptyard side
def promptyard_side(root: Path, requests: int, concurrency: int, workers: int) -> tuple[dict, dict, str, str]:
    from promptyard import Registry
    from promptyard.core.template import Template
    from promptyard.registry.tokens import create_token

    path = root / "py" / "registry.db"
    with Registry.open(path, create=True) as reg:
        reg.commit("bench", Template(kind="single", text="Classify: {{ x }}"))
        reg.commit("bench", Template(kind="single", text="Label: {{ x }}"))
        reg.label("bench@1", "production", force=True)
        token = create_token(reg, "bench", "admin")[1]
    port = free_port()
    env = {**os.environ, "PROMPTYARD_HOME": str(root / "home"), "PROMPTYARD_CACHE": str(root / "cache")}
    log = open(root / "promptyard-server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "promptyard.cli", "serve", "--registry", str(path), "--port",
                             str(port), "--workers", str(workers), "--log-level", "warning"], env=env,
                            stdout=log, stderr=log)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", proc)
        body = json.dumps({"variables": {"x": 1}}).encode()
        writer = Registry.open(path)

        def move(to: int) -> None:
            writer.label(f"bench@{to}", "production", force=True)

        # warm-up (not counted): every worker process compiles the template once
        asyncio.run(load(port, "/api/v1/prompts/bench@production/-/render", body, token, 2000, concurrency,
                         lambda: None))
        result = asyncio.run(load(port, "/api/v1/prompts/bench@production/-/render", body, token, requests,
                                  concurrency, lambda: move(2)))
        move(1)
        client = client_figures(f"http://127.0.0.1:{port}", token, path, root)
        writer.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    return result, client, str(path), token


def _rate(fn, seconds: float) -> float:
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(50):
            fn()
        n += 50
    return n / (time.perf_counter() - t0)


def client_figures(url: str, token: str, path: Path, root: Path) -> dict:
    import promptyard
    from promptyard import Registry

    out = {}
    with Registry.open(path) as local:
        out["local"] = _rate(lambda: local.render("bench@production", {"x": 1}), 3)
    with promptyard.connect(url, token=token, cache_dir=root / "client") as etag_client:
        out["etag"] = _rate(lambda: etag_client.render("bench@production", {"x": 1}), 3)
    with promptyard.connect(url, token=token, cache_dir=root / "client-w", watch=True) as watching:
        watching.render("bench@production", {"x": 1})
        deadline = time.monotonic() + 30
        while not any(e.fresh for e in watching._cache.values()) and time.monotonic() < deadline:
            time.sleep(0.01)  # the first watch poll is out
        out["watch"] = _rate(lambda: watching.render("bench@production", {"x": 1}), 3)
    return out


# ---------------------------------------------------------------- MLflow side
def mlflow_side(python: str, root: Path, requests: int, cached_requests: int, concurrency: int) -> dict:
    port = free_port()
    db = root / "mlflow.db"
    mlflow_bin = str(Path(python).parent / "mlflow")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    log = open(root / "mlflow-server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([mlflow_bin, "server", "--backend-store-uri", f"sqlite:///{db}", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1", "--default-artifact-root", str(root / "mlruns")],
                            env=env, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def side(*args: str) -> dict:
        done = subprocess.run([python, str(HERE / "_mlflow_side.py"), *args], capture_output=True, text=True,
                              env={**env, "MLFLOW_TRACKING_URI": url}, timeout=1800)
        for line in done.stdout.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        raise RuntimeError(f"MLflow side failed ({args}): {done.stderr[-2000:]}")

    try:
        wait_http(url + "/health", proc)
        side("serve_setup", "bench")
        out = {}
        for label, n, cached in (("uncached", requests, False), ("cached", cached_requests, True)):
            r = side("http_load", "bench", str(n), str(concurrency), "cached" if cached else "uncached",
                     str(n // 2))
            lat = r["latencies"]
            out[label] = {"n": len(lat), "rps": len(lat) / r["wall_s"], "p50_ms": pct(lat, 0.5) * 1e3,
                          "p99_ms": pct(lat, 0.99) * 1e3, "stale": r["stale"], "errors": r["n_errors"],
                          "versions": r["versions"]}
            side_reset(python, url, env)
        return out
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)
        log.close()


def side_reset(python: str, url: str, env: dict) -> None:
    """Alias back on version 1 for the next run."""
    code = ("import mlflow; mlflow.MlflowClient().set_prompt_alias('bench', alias='production', version=1)")
    subprocess.run([python, "-c", code], env={**env, "MLFLOW_TRACKING_URI": url}, check=True, capture_output=True,
                   timeout=600)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1, help="promptyard serve --workers")
    ap.add_argument("--mlflow-python", default=DEFAULT_MLFLOW)
    ap.add_argument("--mlflow-requests", type=int, default=1000, help="MLflow calls, cache off (it is slower)")
    ap.add_argument("--mlflow-cached-requests", type=int, default=5000)
    ap.add_argument("--skip-mlflow", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    root = Path(tempfile.mkdtemp(prefix="bench-server-"))
    ours, client, _, _ = promptyard_side(root, args.requests, args.concurrency, args.workers)
    theirs = None
    if not args.skip_mlflow:
        theirs = mlflow_side(args.mlflow_python, root, args.mlflow_requests, args.mlflow_cached_requests,
                             args.concurrency)
    load_avg = os.getloadavg()
    print(f"load average during the run: {load_avg[0]:.1f} / {load_avg[1]:.1f} / {load_avg[2]:.1f} "
          f"({os.cpu_count()} cores)\n")
    print(f"promptyard serve (--workers {args.workers}), resolve + render, {ours['n']} requests, "
          f"{args.concurrency} keep-alive connections:")
    print(f"  {ours['rps']:,.0f} req/s  p50 {ours['p50_ms']:.2f} ms  p99 {ours['p99_ms']:.2f} ms  "
          f"stale after the move: {ours['stale']}  errors: {ours['errors']}  versions served: {ours['versions']}")
    if theirs:
        for label, r in theirs.items():
            print(f"MLflow server, load_prompt ({label}), {r['n']} calls by {args.concurrency} threads:")
            print(f"  {r['rps']:,.1f} req/s  p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms  "
                  f"stale after the move: {r['stale']}  errors: {r['errors']}  versions served: {r['versions']}")
        ratio = ours["rps"] / theirs["uncached"]["rps"]
        print(f"\nrequests/s against MLflow never-stale (cache off): {ratio:.1f}x (goal >= 10x); "
              f"p99 {ours['p99_ms']:.1f} ms (goal <= 20 ms); stale {ours['stale']} (goal 0)")
    print(f"\nclient render('bench@production') calls/s: local Registry {client['local']:,.0f}; remote, ETag "
          f"revalidated {client['etag']:,.0f}; remote with watch {client['watch']:,.0f}")


if __name__ == "__main__":
    main()
