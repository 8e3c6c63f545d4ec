"""Never stale and surviving an outage: another process's label move is seen by the next read, a watching
client hears of a rollback within a second, and a stopped server is stood in for by the last good copy."""

from __future__ import annotations

import subprocess
import threading
import warnings

import pytest

import promptyard
from promptyard import Registry
from promptyard.core.errors import ServerUnreachable
from promptyard.core.template import Template
from promptyard.remote import StaleWarning
from tests.server.live import PROMPTYARD, LiveServer, cli_env


def cli(served, *args: str, registry: str | None = None, token: str | None = None) -> subprocess.CompletedProcess:
    """``promptyard ARGS`` in its own process: against the file unless ``registry`` says otherwise."""
    env = cli_env(served.server.home, served.path)
    if token:
        env["PROMPTYARD_TOKEN"] = token
    return subprocess.run([*PROMPTYARD, "--registry", registry or str(served.path), *args],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def two_versions(served):
    def make(name: str) -> str:
        with Registry.open(served.path) as reg:
            reg.commit(name, Template(kind="single", text="one {{ x }}"))
            reg.commit(name, Template(kind="single", text="two {{ x }}"))
            reg.label(f"{name}@1", "production", force=True)
        return name

    return make


def test_a_label_moved_by_the_cli_is_seen_by_the_next_remote_read(served, two_versions, tmp_path):
    name = two_versions("stale/cli")
    with promptyard.connect(served.url, token=served.tokens["reader"], cache_dir=tmp_path / "c") as client:
        assert client.resolve(f"{name}@production").number == 1
        assert client.render(f"{name}@production", {"x": "a"}).text == "one a"
        moved = cli(served, "prompt", "label", f"{name}@2", "production", "--force")
        assert moved.returncode == 0, moved.stderr
        assert client.resolve(f"{name}@production").number == 2
        assert client.render(f"{name}@production", {"x": "a"}).text == "two a"


def test_the_cli_reads_and_writes_through_the_server(served, two_versions):
    name = two_versions("stale/through")
    url, admin = served.url, served.tokens["admin"]
    shown = cli(served, "prompt", "show", f"{name}@production", "--json", registry=url, token=admin)
    assert shown.returncode == 0, shown.stderr
    local = cli(served, "prompt", "show", f"{name}@production", "--json")
    assert shown.stdout == local.stdout
    for args in (["prompt", "render", f"{name}@production", "-v", "x=hi"], ["prompt", "log", name, "--json"],
                 ["prompt", "list", "--json"], ["prompt", "diff", f"{name}@1", f"{name}@2"]):
        assert cli(served, *args, registry=url, token=admin).stdout == cli(served, *args).stdout, args
    assert cli(served, "prompt", "label", f"{name}@2", "production", "--force", registry=url,
               token=admin).returncode == 0
    assert cli(served, "prompt", "rollback", name, "--reason", "bad", registry=url, token=admin).returncode == 0
    committed = cli(served, "prompt", "commit", name, "--text", "three {{ x }}", registry=url, token=admin)
    assert committed.stdout.startswith(f"committed {name}@3"), committed.stderr
    with Registry.open(served.path) as reg:
        assert reg.resolve(f"{name}@production").number == 1
        moves = reg.label_history(name, "production")
        assert [(m.action, m.actor, m.reason) for m in moves[-2:]] == [("move", "admin", ""),
                                                                       ("rollback", "admin", "bad")]
        assert reg.resolve(f"{name}@3").author == "admin"
    for args in (["eval", "list"], ["adapter", "show", "ads/x"], ["registry", "backup", "copy.db"]):
        refused = cli(served, *args, registry=url, token=admin)  # these need the file: one clear line
        assert refused.returncode != 0 and refused.stderr.startswith("error: "), refused.stderr
        assert "Traceback" not in refused.stderr
    denied = cli(served, "prompt", "label", f"{name}@2", "production", "--force", registry=url,
                 token=served.tokens["reader"])
    assert denied.returncode == 1
    assert denied.stderr.startswith("error: ") and "needs 'write'" in denied.stderr
    assert "Traceback" not in denied.stderr


def test_a_watching_client_sees_a_rollback_within_a_second(served, two_versions, tmp_path):
    name = two_versions("stale/watched")
    changed = threading.Event()
    seen = []

    def on_change(ref, version):
        seen.append((ref, version.number if version else None))
        changed.set()

    with Registry.open(served.path) as reg:
        reg.label(f"{name}@2", "production", force=True)
    with promptyard.connect(served.url, token=served.tokens["reader"], watch=True, on_change=on_change,
                            cache_dir=tmp_path / "c") as client:
        assert client.resolve(f"{name}@production").number == 2
        rolled = cli(served, "prompt", "rollback", name)
        assert rolled.returncode == 0, rolled.stderr
        assert changed.wait(timeout=1.0), "the watcher did not report the rollback within 1 s"
        assert seen == [(f"{name}@production", 1)]
        assert client.resolve(f"{name}@production").number == 1


def test_a_stopped_server_is_stood_in_for_by_the_last_good_copy(tmp_path, two_versions_file=None):
    root = tmp_path / "outage"
    path = root / "reg" / "registry.db"
    with Registry.open(path, create=True) as reg:
        reg.commit("down/p", Template(kind="single", text="one {{ x }}"))
        reg.commit("down/p", Template(kind="single", text="two {{ x }}"))
        reg.label("down/p@1", "production", force=True)
    server = LiveServer(path, root, auth=False).start()
    cache = tmp_path / "client-cache"
    try:
        client = promptyard.connect(server.url, cache_dir=cache)
        assert client.render("down/p@production", {"x": "a"}).text == "one a"
        server.stop()
        with pytest.warns(StaleWarning, match="copy in memory"):
            assert client.render("down/p@production", {"x": "a"}).text == "one a"
        with warnings.catch_warnings():  # said once per outage, not on every call
            warnings.simplefilter("error", StaleWarning)
            assert client.render("down/p@production", {"x": "a"}).text == "one a"
        # a fresh process (a new client, the same cache folder) has the copy on disk
        with promptyard.connect(server.url, cache_dir=cache) as restarted:
            with pytest.warns(StaleWarning, match="copy on disk"):
                assert restarted.resolve("down/p@production").number == 1
            with pytest.warns(StaleWarning, match="fallback"):
                got = restarted.render("down/never-seen", {"x": "b"}, fallback="fallback {{ x }}")
            assert got.text == "fallback b"
            with pytest.raises(ServerUnreachable, match="cannot reach"):
                restarted.resolve("down/never-seen")
        env = cli_env(root, path)
        env["PROMPTYARD_HOME"] = str(tmp_path / "cli-home")
        first = subprocess.run([*PROMPTYARD, "--registry", server.url, "prompt", "render", "down/p@production",
                                "-v", "x=c"], env=env, capture_output=True, text=True, timeout=120)
        assert first.returncode != 0 and first.stderr.startswith("error: "), first.stderr  # never seen: fails
        with Registry.open(path) as reg:  # the label moves while the server is down
            reg.label("down/p@2", "production", force=True)
        server = LiveServer(path, root, auth=False, port=server.port).start()
        with warnings.catch_warnings():
            warnings.simplefilter("error", StaleWarning)
            assert client.render("down/p@production", {"x": "a"}).text == "two a"
        cli_args = [*PROMPTYARD, "--registry", server.url, "prompt", "render", "down/p@production", "-v", "x=c"]
        assert subprocess.run(cli_args, env=env, capture_output=True, text=True, timeout=120).stdout == "two c\n"
        server.stop()  # the CLI, too, serves its last good copy with a one-line warning
        offline = subprocess.run(cli_args, env=env, capture_output=True, text=True, timeout=120)
        assert offline.returncode == 0 and offline.stdout == "two c\n", offline.stderr
        assert offline.stderr.startswith("warning: ") and offline.stderr.count("\n") == 1, offline.stderr
        assert client.offline is False
        client.close()
    finally:
        server.stop()
