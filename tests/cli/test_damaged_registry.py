"""Issue 17, defect 9: a registry file that is not a registry is one error line and is never changed.

Seven damaged files × the commands a user runs first; then ``registry check``: SQLite's integrity and
foreign-key checks, the tables, and an exit code that says whether it found anything. On the code before
the fix these ended in tracebacks, a zero-byte file became a new registry, and check said "no problems".
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from promptyard.core.template import Template

COMMANDS = [
    ["prompt", "list"],
    ["prompt", "render", "p", "-v", "x=1"],
    ["prompt", "commit", "q", "--text", "new {{ y }}"],
    ["prompt", "show", "p"],
    ["adapter", "list"],
    ["registry", "check"],
]


def _good(path: Path) -> Path:
    from promptyard import Registry

    with Registry.open(path, create=True) as reg:
        for i in range(30):  # enough rows that the tables span several pages
            reg.commit(f"p{i}" if i else "p", Template(kind="single", text=f"hello {{{{ x }}}} {i} " + "z" * 300))
        reg.label("p@1", "base")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file, none in the WAL
    conn.close()
    return path


def _page_of(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    finally:
        conn.close()


def _overwrite_page(path: Path, page: int) -> None:
    data = bytearray(path.read_bytes())
    data[(page - 1) * 4096: page * 4096] = b"\xde\xad" * 2048
    path.write_bytes(bytes(data))


def make(kind: str, tmp: Path) -> Path:
    """A damaged registry file of one kind (a path that is not a registry, or a registry that is broken)."""
    path = tmp / "registry.db"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(hashlib.sha256(b"seed").digest() * 200)
    elif kind == "directory":
        path.mkdir()
    elif kind == "passwd":
        path = Path("/etc/passwd")
    else:
        _good(path)
        if kind == "truncated":
            path.write_bytes(path.read_bytes()[:8192])
        elif kind == "dropped table":
            conn = sqlite3.connect(path)
            conn.execute("DROP TABLE labels")
            conn.commit()
            conn.close()
        elif kind == "corrupt page":
            _overwrite_page(path, _page_of(path, "versions"))
    return path


def _state(path: Path) -> object:
    """What must not change: the bytes of a file, or the listing of a folder."""
    if path.is_dir():
        return sorted(p.name for p in path.iterdir())
    return hashlib.sha256(path.read_bytes()).hexdigest()


NOT_A_REGISTRY = {"empty": "the file is empty", "random": "not an SQLite database",
                  "directory": "is a directory", "passwd": "not an SQLite database",
                  "truncated": "damaged registry", "dropped table": "table labels is missing"}


@pytest.mark.parametrize("kind", [*NOT_A_REGISTRY, "corrupt page"])
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_damaged_registry_is_one_error_line_and_is_not_touched(tmp_path, cli, kind, args):
    path = make(kind, tmp_path)
    before = _state(path)
    result = cli("--registry", str(path), *args)
    assert result.code == 1, result.stdout + result.stderr
    if args == ["registry", "check"] and kind in ("dropped table", "corrupt page"):
        # check opens a readable but damaged registry and says what is wrong, on stdout
        assert "Traceback" not in result.stdout + result.stderr
        assert ("table is missing" if kind == "dropped table" else "integrity_check") in result.stdout
    else:
        line = result.error_line()
        expected = NOT_A_REGISTRY.get(kind, "database disk image is malformed")
        assert expected in line, line
    assert _state(path) == before
    assert not (tmp_path / "registry.db-wal").exists() or kind not in ("empty", "random", "directory")


@pytest.mark.parametrize("kind", ["empty", "random", "directory"])
def test_init_refuses_a_file_that_is_not_a_registry(tmp_path, cli, kind):
    path = make(kind, tmp_path)
    before = _state(path)
    result = cli("--registry", str(path), "init")
    assert result.code == 1 and "not a registry" in result.error_line()
    assert _state(path) == before


def test_only_init_creates_a_registry(tmp_path, cli):
    path = tmp_path / "new" / "registry.db"
    for args in (["prompt", "list"], ["prompt", "commit", "p", "--text", "hi"], ["tune", "searches"],
                 ["adapter", "list"], ["registry", "check"]):
        result = cli("--registry", str(path), *args)
        assert result.code == 1 and "no registry here" in result.error_line()
        assert not path.exists()
    assert cli("--registry", str(path), "init").code == 0
    assert cli("--registry", str(path), "prompt", "commit", "p", "--text", "hi").code == 0


def test_registry_check_exits_nonzero_when_it_finds_anything(tmp_path, cli):
    path = _good(tmp_path / "registry.db")
    clean = cli("--registry", str(path), "registry", "check")
    assert clean.code == 0 and "no problems found" in clean.stdout
    orphan = tmp_path / "artifacts" / "sha256" / ("0" * 64)
    orphan.mkdir(parents=True)
    (tmp_path / "artifacts" / "tmp" / "leftover").mkdir(parents=True)
    found = cli("--registry", str(path), "registry", "check")
    assert found.code == 1 and "2 problem(s)" in found.stdout, found.stdout
    doctor = cli("--registry", str(path), "doctor", "--json")
    assert doctor.code == 1 and len(json.loads(doctor.stdout)["orphans"]) == 2
    removed = cli("--registry", str(path), "registry", "check", "--remove-orphans")
    assert removed.code == 0 and "(removed)" in removed.stdout, removed.stdout
    assert cli("--registry", str(path), "registry", "check").code == 0


def test_registry_check_runs_sqlites_own_checks(tmp_path, cli):
    path = _good(tmp_path / "registry.db")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("UPDATE labels SET version_id = 9999")  # a label pointing to no version
    conn.commit()
    conn.close()
    result = cli("--registry", str(path), "registry", "check", "--json")
    assert result.code == 1
    database = json.loads(result.stdout)["database"]
    assert [p["check"] for p in database] == ["foreign_key_check"]
    assert "labels row" in database[0]["problem"]


def test_registry_check_finds_a_missing_column(tmp_path, cli):
    path = _good(tmp_path / "registry.db")
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE settings DROP COLUMN value")
    conn.commit()
    conn.close()
    result = cli("--registry", str(path), "registry", "check", "--json")
    assert result.code == 1
    assert json.loads(result.stdout)["schema"] == [{"table": "settings", "problem": "column value is missing"}]
