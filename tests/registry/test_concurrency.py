"""Many processes at once: version numbers without gaps or duplicates, and a cache that is never stale."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3

import pytest

from promptyard.core.template import Template

WRITERS, COMMITS = 8, 50


def _writer(path: str, worker: int, commits: int) -> list[str]:
    from promptyard import Registry

    errors = []
    reg = Registry.open(path)
    for i in range(commits):
        try:
            reg.commit("shared", Template(text=f"worker {worker} commit {i}: {{{{ x }}}}"), f"w{worker}-{i}")
        except Exception as exc:  # collected so the parent can assert there were none
            errors.append(repr(exc))
    reg.close()
    return errors


@pytest.mark.slow
def test_eight_processes_commit_400_versions_numbered_without_gaps(registry):
    ctx = mp.get_context("spawn")
    with ctx.Pool(WRITERS) as pool:
        results = pool.starmap(_writer, [(str(registry.path), w, COMMITS) for w in range(WRITERS)])
    assert [e for errors in results for e in errors] == []
    versions = registry.versions("shared")
    assert [v.number for v in versions] == list(range(1, WRITERS * COMMITS + 1))
    assert len({v.message for v in versions}) == WRITERS * COMMITS
    assert all(v.parent == v.number - 1 for v in versions[1:])


def _move_label(path: str, ref: str) -> None:
    from promptyard import Registry

    with Registry.open(path) as reg:
        reg.label(ref, "production", force=True)


def test_a_label_moved_by_another_process_is_seen_by_the_next_call(registry):
    registry.commit("p", Template(text="one {{ x }}"))
    registry.commit("p", Template(text="two {{ x }}"))
    registry.label("p@1", "production", force=True)
    assert registry.resolve("p").number == 1
    assert registry.resolve("p").number == 1  # served from the cache
    ctx = mp.get_context("spawn")
    for ref, expected in (("p@2", 2), ("p@1", 1)):
        proc = ctx.Process(target=_move_label, args=(str(registry.path), ref))
        proc.start()
        proc.join()
        assert proc.exitcode == 0
        assert registry.resolve("p").number == expected
        assert registry.render("p", {"x": "hi"}).text.startswith("one" if expected == 1 else "two")


def test_a_write_through_plain_sqlite_is_seen_too(registry):
    """Any connection's commit bumps data_version, not only promptyard's own writers."""
    registry.commit("p", Template(text="one {{ x }}"))
    registry.commit("p", Template(text="two {{ x }}"))
    assert registry.resolve("p@latest").number == 2
    conn = sqlite3.connect(registry.path)
    conn.execute("DELETE FROM versions WHERE number = 2")
    conn.commit()
    conn.close()
    assert registry.resolve("p@latest").number == 1


def _render_in_child(reg, queue) -> None:
    queue.put(reg.render("p", {"x": "child"}).text)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_registry_object_can_be_handed_to_a_worker_process(registry, method):
    registry.commit("p", Template(text="hi {{ x }}"))
    registry.resolve("p")  # the parent's connection is open and its cache filled
    ctx = mp.get_context(method)
    queue = ctx.Queue()
    proc = ctx.Process(target=_render_in_child, args=(registry, queue))
    proc.start()
    proc.join()
    assert proc.exitcode == 0 and queue.get(timeout=5) == "hi child"
    assert registry.render("p", {"x": "parent"}).text == "hi parent"
