"""Adapters: content-addressed artifacts, the same labels/rollback as prompts, integrity checks."""

from __future__ import annotations

import os

import pytest

from promptyard.core.errors import IntegrityError, RegistryError, UnknownRefError
from tests.registry.helpers import dump


def make_adapter(root, name: str, weights: bytes):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 4}')
    (folder / "adapter_model.safetensors").write_bytes(weights)
    return folder


def test_register_resolve_label_rollback_adapter(registry, tmp_path):
    seen = []
    from promptyard import hookimpl
    from promptyard.testing import plugin_registered

    class Observer:
        @hookimpl
        def on_adapter_registered(self, registry, version):
            seen.append(version.ref)

    lineage = {"prompt": "sent@2", "model": "smollm2-135m", "data": "rotten_tomatoes"}
    with plugin_registered(Observer(), name="adapter-observer"):
        v1 = registry.register_adapter("sent-lora", make_adapter(tmp_path, "a1", b"one"), lineage, "first")
        v2 = registry.register_adapter("sent-lora", make_adapter(tmp_path, "a2", b"two"), lineage, "second")
        again = registry.register_adapter("sent-lora", make_adapter(tmp_path, "a3", b"two"), lineage, "same bytes")
    assert seen == ["sent-lora@1", "sent-lora@2"]
    assert again.id == v2.id
    assert (v1.kind, v1.number, v2.number, v2.parent) == ("adapter", 1, 2, 1)
    assert v1.lineage == lineage and v1.artifact_hash != v2.artifact_hash
    path = registry.adapter_path("sent-lora@1")
    assert path.parent == registry.artifacts_dir / "sha256"
    assert (path / "adapter_model.safetensors").read_bytes() == b"one"
    registry.label_adapter("sent-lora@1", "production", force=True)
    registry.label_adapter("sent-lora@2", "production", force=True)
    assert registry.resolve_adapter("sent-lora").number == 2
    assert registry.rollback_adapter("sent-lora").to_number == 1
    assert registry.resolve_adapter("sent-lora@production").number == 1
    with pytest.raises(UnknownRefError, match="unknown prompt 'sent-lora'"):
        registry.resolve("sent-lora")  # kinds have separate names


def test_tampered_artifact_is_detected(registry, tmp_path):
    v = registry.register_adapter("a", make_adapter(tmp_path, "a1", b"weights"), {})
    target = registry.adapter_path("a@1") / "adapter_model.safetensors"
    os.chmod(target, 0o644)
    target.write_bytes(b"evil")
    with pytest.raises(IntegrityError, match="adapter_model.safetensors"):
        registry.adapter_path("a@1")
    report = registry.check_integrity()
    assert [m["hash"] for m in report["mismatched"]] == [v.artifact_hash]


def test_integrity_scan_finds_orphans_and_edited_content(registry, tmp_path):
    from promptyard.core.template import Template

    registry.commit("p", Template(text="{{ x }}"))
    registry.register_adapter("a", make_adapter(tmp_path, "a1", b"w"), {})
    assert registry.check_integrity() == {"database": [], "schema": [], "versions": [], "mismatched": [], "missing": [],
                                         "orphans": []}
    orphan = registry.artifacts_dir / "sha256" / ("0" * 64)
    orphan.mkdir()
    (registry.artifacts_dir / "tmp" / "leftover").mkdir(parents=True)
    import sqlite3

    conn = sqlite3.connect(registry.path)
    conn.execute("""UPDATE versions SET content = '{"kind":"single","text":"evil","variables":[],"raw":false}'
                    WHERE number = 1 AND item_id = (SELECT id FROM items WHERE name = 'p')""")
    conn.commit()
    conn.close()
    report = registry.check_integrity(remove_orphans=True)
    assert [v["ref"] for v in report["versions"]] == ["p@1"]
    assert len(report["orphans"]) == 2
    assert not orphan.exists()


def test_register_adapter_refuses_bad_input_and_changes_nothing(registry, tmp_path):
    registry.register_adapter("a", make_adapter(tmp_path, "a1", b"w"), {})
    before = dump(registry.path)
    with pytest.raises(Exception, match="not a directory"):
        registry.register_adapter("a", tmp_path / "missing", {})
    with pytest.raises(Exception, match="invalid name"):
        registry.register_adapter("bad name", make_adapter(tmp_path, "a2", b"w"), {})
    with pytest.raises(RegistryError, match="protected"):
        registry.label_adapter("a@1", "production")
    with pytest.raises(Exception, match="lineage must be a mapping"):
        registry.register_adapter("a", make_adapter(tmp_path, "a3", b"other"), ["not a mapping"])
    assert dump(registry.path) == before
    assert registry.check_integrity()["orphans"] == []  # nothing was copied into the store either
