"""Server-side time of the web UI's heaviest pages: the list page over 5,000 prompts and the page of a
prompt with 500 versions (goal: <= 100 ms each on the 2-core build machine).

    PYTHONPATH=src .venv/bin/python bench/bench_ui.py [--prompts 5000] [--versions 500] [--repeat 30]

The registry is built through the public API (commits and label moves) in a temporary folder. Requests go
to the real app (``create_app``) in this process through httpx's ASGI transport (no socket, no thread hop)
with a signed-in session cookie, so the time is the server's: routing, the registry reads, Jinja2
rendering, no network. Prints the median and 90th percentile of each page; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def build(root: Path, prompts: int, versions: int) -> tuple[Path, str]:
    from promptyard import Registry
    from promptyard.registry.tokens import create_token

    path = root / "reg" / "registry.db"
    reg = Registry.open(path, create=True)
    t0 = time.perf_counter()
    kinds = ["single", "multi"]
    for i in range(prompts):
        team = f"team-{i % 50}"
        if kinds[i % 2] == "single":
            template = {"kind": "single", "text": f"Prompt {i}: classify {{{{ text }}}}"}
        else:
            template = {"kind": "multi", "parts": [{"role": "system", "text": f"You are helper {i}."},
                                                   {"role": "user", "text": "{{ text }}"}]}
        reg.commit(f"{team}/prompt-{i:05d}", template, "first", task_type="classification" if i % 3 else "generation",
                   tags=[team, f"tag-{i % 7}"])
        if i % 4 == 0:
            reg.label(f"{team}/prompt-{i:05d}@1", "staging")
    built_list = time.perf_counter() - t0
    t0 = time.perf_counter()
    for n in range(1, versions + 1):
        reg.commit("big/prompt", {"kind": "single", "text": f"Version {n}: answer {{{{ text }}}} in {n} words",
                                  "variables": [{"name": "text", "description": "the input"}]}, f"change {n}")
        if n % 25 == 0:
            reg.label(f"big/prompt@{n}", "staging", reason=f"candidate {n}")
        if n % 100 == 0:
            reg.label(f"big/prompt@{n}", "production", force=True, reason=f"release {n}")
    built_big = time.perf_counter() - t0
    secret = create_token(reg, "bench", "admin")[1]
    reg.close()
    print(f"built {prompts} prompts in {built_list:.1f} s and {versions} versions in {built_big:.1f} s")
    return path, secret


async def measure(client, url: str, repeat: int, change: Any = None) -> tuple[float, float, int]:
    response = await client.get(url)  # warm: template compilation, first registry reads
    assert response.status_code == 200, (url, response.status_code, response.text[:500])
    times = []
    for i in range(repeat):
        if change is not None:
            change(i)  # untimed: a commit by another connection, so nothing kept for the old state holds
        t0 = time.perf_counter()
        response = await client.get(url)
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times) * 1000, times[int(0.9 * (len(times) - 1))] * 1000, len(response.content)


async def run_pages(app, secret: str, pages: list[tuple[str, str]], repeat: int, path: Path) -> None:
    import httpx

    from promptyard import Registry

    writer = Registry.open(path)

    def change(i: int) -> None:  # a new label move every time (one already in place would commit nothing)
        writer.label(f"team-{i % 50}/prompt-{i:05d}@1", "canary")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                 cookies={"promptyard_session": secret}) as client:
        print(f"{'page':<48} {'median':>9} {'p90':>9} {'bytes':>9}")
        for title, url in pages:
            median, p90, size = await measure(client, url, repeat)
            print(f"{title:<48} {median:>7.1f}ms {p90:>7.1f}ms {size:>9}")
        for title, url in pages[:1] + pages[4:5]:
            median, p90, size = await measure(client, url, repeat, change)
            print(f"{title + ', after a change':<48} {median:>7.1f}ms {p90:>7.1f}ms {size:>9}")
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=5000)
    parser.add_argument("--versions", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        os.environ["PROMPTYARD_HOME"] = str(Path(tmp) / "home")
        path, secret = build(Path(tmp), args.prompts, args.versions)
        import asyncio

        from promptyard.server.app import create_app

        app = create_app(path)
        pages = [
            (f"list page 1 of {args.prompts + 1} prompts (by name)", "/"),
            ("list sorted by last change", "/?sort=changed"),
            ("list filtered (team-7/*, multi, staging)", "/?q=team-7/*&kind=multi&label=staging"),
            ("list page 50", "/?page=50"),
            (f"prompt with {args.versions} versions (overview)", "/prompts/big/prompt"),
            ("its template (latest)", "/prompts/big/prompt/-/template"),
            (f"its diff v1 -> v{args.versions}", f"/prompts/big/prompt/-/diff?a=1&b={args.versions}"),
            ("its playground", "/prompts/big/prompt/-/play"),
        ]
        asyncio.run(run_pages(app, secret, pages, args.repeat, path))
    print(f"load average now: {os.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()
