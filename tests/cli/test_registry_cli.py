"""``promptyard init`` and ``promptyard registry check|protect`` (``upgrade`` is in tests/registry/test_schema.py)."""

from __future__ import annotations

import json
import os

from promptyard.testing import invoke


def test_init_creates_once_and_is_found_from_subfolders(tmp_path):
    os.environ.pop("PROMPTYARD_REGISTRY", None)  # the conftest fixture restores it
    first = invoke(["init"])
    assert first.exit_code == 0 and "created registry" in first.stdout
    assert "already exists" in invoke(["init"]).stdout
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    os.chdir(sub)
    invoke(["prompt", "commit", "p", "--text", "{{ x }}"])
    assert (tmp_path / ".promptyard" / "registry.db").exists()
    assert not (sub / ".promptyard").exists()


def test_check_reports_tampering_with_a_non_zero_exit(tmp_path):
    invoke(["init"])
    from promptyard import Registry

    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_model.safetensors").write_bytes(b"w")
    with Registry.open() as reg:
        path = reg.adapter_path(reg.register_adapter("a", folder, {}).ref)
    clean = invoke(["registry", "check"])
    assert clean.exit_code == 0 and "no problems found" in clean.stdout
    target = path / "adapter_model.safetensors"
    os.chmod(target, 0o644)
    target.write_bytes(b"changed")
    damaged = invoke(["registry", "check", "--json"])
    assert damaged.exit_code == 1
    assert len(json.loads(damaged.stdout)["mismatched"]) == 1


def test_protect_shows_and_replaces_the_protected_labels(tmp_path):
    invoke(["init"])
    assert json.loads(invoke(["registry", "protect", "--json"]).stdout) == ["production"]
    assert "production, staging" in invoke(["registry", "protect", "production", "staging"]).stdout
    invoke(["prompt", "commit", "p", "--text", "{{ x }}"])
    refused = invoke(["prompt", "label", "p@1", "staging"])
    assert refused.exit_code == 1 and "protected" in refused.stderr
    assert invoke(["registry", "protect", "not valid"]).exit_code != 0
