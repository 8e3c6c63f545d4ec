"""``promptyard registry backup`` during a burst of concurrent commits: the copy opens, passes ``registry check``,
holds every version committed before it started, and every version it holds is whole."""

from __future__ import annotations

import subprocess
import threading
import time

from promptyard import Registry
from promptyard.core.template import Template
from tests.server.live import PROMPTYARD, cli_env

WRITERS = 4


def test_backup_during_concurrent_commits(tmp_path):
    path = tmp_path / "live" / "registry.db"
    with Registry.open(path, create=True) as reg:
        folder = tmp_path / "adapter"
        folder.mkdir()
        (folder / "adapter_config.json").write_text('{"r": 4}')
        reg.register_adapter("ads/a", folder)
    committed: dict[str, dict[int, tuple[str, float]]] = {f"burst/{i}": {} for i in range(WRITERS)}
    errors: list[BaseException] = []
    stop = threading.Event()

    def write(name: str) -> None:
        try:
            with Registry.open(path) as reg:
                n = 0
                while not stop.is_set():  # commit until the backup is done
                    n += 1
                    info = reg.commit(name, Template(kind="single", text=f"{name} v{n} {{{{ x }}}}"), f"v{n}")
                    committed[name][info.number] = (info.content_hash, time.monotonic())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(name,)) for name in committed]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while min(len(v) for v in committed.values()) < 3 and not errors:  # the burst is under way
        assert time.monotonic() < deadline, "writers made no progress"
        time.sleep(0.01)
    started = time.monotonic()
    target = tmp_path / "backup" / "copy.db"
    env = cli_env(tmp_path, path)
    made = subprocess.run([*PROMPTYARD, "--registry", str(path), "registry", "backup",
                           str(target)], env=env, capture_output=True, text=True, timeout=120)
    finished = time.monotonic()
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert made.returncode == 0, made.stderr
    during = [n for v in committed.values() for n, (_, at) in v.items() if started < at < finished]
    assert during, "no commit landed while the backup ran"
    checked = subprocess.run([*PROMPTYARD, "--registry", str(target), "registry", "check"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no problems found" in checked.stdout
    with Registry.open(target) as copy:
        assert copy.adapter_path("ads/a@1").is_dir()
        for name, versions in committed.items():
            held = {v.number: v.content_hash for v in copy.versions(name)} if any(
                i.name == name for i in copy.list()) else {}
            assert sorted(held) == list(range(1, len(held) + 1)), "a gap in the copy"
            assert all(versions[n][0] == h for n, h in held.items()), "a version differs from what was committed"
            before = [n for n, (_, at) in versions.items() if at < started]
            assert set(before) <= set(held), f"{name}: versions committed before the backup are missing"
