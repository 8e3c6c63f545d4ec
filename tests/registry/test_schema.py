"""Migrations: a registry made by the first schema upgrades in place, by command and on open, with a backup."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from promptyard.core.errors import RegistryError
from promptyard.core.template import Template
from promptyard.registry import schema
from promptyard.testing import invoke

EXTRA = '''"""A test-only revision on top of whatever heads the code has."""
import sqlalchemy as sa
from alembic import op

revision = "9999_test"
down_revision = {downs!r}


def upgrade():
    op.create_table("test_extra", sa.Column("id", sa.Integer(), primary_key=True))
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("test_note", sa.String(), nullable=True))


def downgrade():
    op.drop_table("test_extra")
'''


@pytest.fixture
def newer_code(tmp_path, monkeypatch):
    """The real migrations plus one newer revision, as if promptyard had been upgraded."""
    folder = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS_DIR, folder)
    downs = tuple(sorted(schema.head_revisions()))
    (folder / "versions" / "9999_test.py").write_text(EXTRA.format(downs=downs[0] if len(downs) == 1 else downs))
    monkeypatch.setattr(schema, "MIGRATIONS_DIR", folder)
    monkeypatch.setattr(schema, "VERSIONS_DIR", folder / "versions")
    schema.revision_graph.cache_clear()
    yield
    schema.revision_graph.cache_clear()


def _first_schema_registry(path):
    """A registry built from 0001_initial only, with a prompt, a version and a label in it."""
    path.parent.mkdir(parents=True)
    schema.run_alembic(path, "0001_initial")
    t = Template(text="hello {{ x }}")
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO items (id, kind, name, description, tags, archived, created_at) "
                 "VALUES (1, 'prompt', 'p', '', '[]', 0, '2026-01-01 00:00:00')")
    conn.execute("INSERT INTO versions (id, item_id, number, content_hash, content, contract, message, author, "
                 "created_at, lineage) VALUES (1, 1, 1, ?, ?, '[]', 'old', 'ana', '2026-01-01 00:00:00', '{}')",
                 (t.content_hash(), t.canonical_json()))
    conn.execute("INSERT INTO labels (item_id, name, version_id, updated_at) "
                 "VALUES (1, 'production', 1, '2026-01-01 00:00:00')")
    conn.commit()
    conn.close()


def _revisions(path):
    conn = sqlite3.connect(path)
    try:
        return schema.current_revisions(conn)
    finally:
        conn.close()


def test_upgrade_command_upgrades_in_place_with_backup(tmp_path, newer_code):
    from promptyard import Registry

    path = tmp_path / "reg" / "registry.db"
    _first_schema_registry(path)
    with pytest.raises(RegistryError, match="older than this promptyard"):
        Registry.open(path, upgrade=False)
    result = invoke(["--registry", str(path), "registry", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "9999_test" in result.stdout
    assert _revisions(path) == {"9999_test"}
    backups = list(path.parent.glob("registry.db.bak-0001_initial-*"))
    assert len(backups) == 1 and _revisions(backups[0]) == {"0001_initial"}
    with Registry.open(path) as reg:  # the data came through
        assert reg.resolve("p").message == "old"
        assert reg.render("p", {"x": "you"}).text == "hello you"
    result = invoke(["--registry", str(path), "registry", "upgrade"])
    assert result.exit_code == 0 and "up to date" in result.stdout


def test_open_upgrades_automatically_with_backup(tmp_path, newer_code):
    from promptyard import Registry

    path = tmp_path / "reg" / "registry.db"
    _first_schema_registry(path)
    reg = Registry.open(path)
    assert _revisions(path) == {"9999_test"}
    assert len(list(path.parent.glob("registry.db.bak-0001_initial-*"))) == 1
    assert reg.commit("p", Template(text="after upgrade {{ x }}")).number == 2
    reg.close()
    Registry.open(path).close()
    assert len(list(path.parent.glob("registry.db.bak-*"))) == 1  # no second backup when already current


def test_registry_newer_than_the_code_is_refused(tmp_path):
    from promptyard import Registry

    path = tmp_path / "registry.db"
    Registry.open(path, create=True).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = 'from_the_future'")
    conn.commit()
    conn.close()
    with pytest.raises(RegistryError, match="newer than this promptyard"):
        Registry.open(path)


def test_head_revisions_follow_the_chain_in_the_versions_folder(tmp_path, monkeypatch):
    folder = tmp_path / "versions"
    folder.mkdir()
    files = {"a.py": ("r1", None), "b.py": ("r2", "r1"), "c.py": ("r3", "r1"), "d.py": ("r4", ("r2", "r3"))}
    for name, (rev, down) in files.items():
        (folder / name).write_text(f"revision = {rev!r}\ndown_revision = {down!r}\n")
    monkeypatch.setattr(schema, "VERSIONS_DIR", folder)
    schema.revision_graph.cache_clear()
    assert schema.head_revisions() == {"r4"}
    (folder / "d.py").unlink()
    schema.revision_graph.cache_clear()
    assert schema.head_revisions() == {"r2", "r3"}
    schema.revision_graph.cache_clear()


def test_revisions_recorded_as_branches_and_later_chained_are_tidied(tmp_path, monkeypatch):
    """A registry made while r2 and r3 both built on r1 records {r2, r3}; after r3 is re-chained onto r2,
    the r2 row is redundant and Alembic would refuse it, so opening removes it."""
    from promptyard import Registry

    path = tmp_path / "registry.db"
    Registry.open(path, create=True).close()
    heads = sorted(schema.head_revisions())
    conn = sqlite3.connect(path)
    below = next(iter(schema.revision_graph()[heads[0]]), None)
    if below is None:
        pytest.fail("the code's head has no parent revision to record twice")
    conn.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (below,))
    conn.commit()
    conn.close()
    assert _revisions(path) == {heads[0], below}
    with Registry.open(path) as reg:
        reg.commit("p", Template(text="{{ x }}"))
    assert _revisions(path) == {heads[0]}
