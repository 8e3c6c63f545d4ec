"""Issue 17, defect 10: adapters are safetensors only, wherever they enter (register, load, export, import).

A folder holding a pickled ``adapter_model.bin`` is refused with one clear error before anything is copied
or loaded; on the code before the fix ``register_adapter`` stored it and only torch's ``weights_only``
default stood between the payload and ``torch.load``.
"""

from __future__ import annotations

import json

import pytest

from promptyard.core.adapter_files import check_safetensors_only
from promptyard.core.errors import BundleError, ValidationError
from tests.registry.helpers import dump


def _folder(root, name: str, files: dict[str, bytes]):
    folder = root / name
    folder.mkdir(parents=True)
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


PICKLED = [
    {"adapter_config.json": b"{}", "adapter_model.bin": b"\x80\x04payload"},
    {"adapter_config.json": b"{}", "adapter_model.safetensors": b"w", "extra/optimizer.pt": b"\x80\x04"},
    {"full_state.pkl": b"\x80\x04"},
    {"adapter_config.json": b"{}", "weights.CKPT": b"\x80\x04"},
]


@pytest.mark.parametrize("files", PICKLED, ids=["bin", "nested pt", "pkl", "upper-case ckpt"])
def test_register_refuses_pickled_weights_and_stores_nothing(registry, tmp_path, files):
    before = dump(registry.path)
    with pytest.raises(ValidationError, match="pickled weights"):
        registry.register_adapter("a", _folder(tmp_path, "a", files), {})
    assert dump(registry.path) == before
    assert not (registry.artifacts_dir / "sha256").exists() or not list((registry.artifacts_dir / "sha256").iterdir())


def test_loading_a_peft_folder_needs_its_safetensors_file(tmp_path):
    folder = _folder(tmp_path, "a", {"adapter_config.json": b"{}"})
    check_safetensors_only(folder)  # registering such a folder is fine (nothing to load)
    with pytest.raises(ValidationError, match="without adapter_model.safetensors"):
        check_safetensors_only(folder, loading=True)
    with pytest.raises(ValidationError, match="not an adapter folder"):
        check_safetensors_only(tmp_path / "missing", loading=True)


def test_load_adapter_refuses_a_bin_before_peft_sees_it(tmp_path):
    from promptyard.core.lookups import load_adapter

    folder = _folder(tmp_path, "a", {"adapter_config.json": b'{"peft_type": "LORA"}', "adapter_model.bin": b"x"})
    with pytest.raises(ValidationError, match="pickled weights"):
        load_adapter(object(), folder)  # never reaches PeftModel.from_pretrained (it would torch.load)


def _stored_with_a_pickle(registry, tmp_path):
    """An adapter an older promptyard stored with a .bin inside (written the way it used to be)."""
    from promptyard.core.records import content_hash_of
    from promptyard.registry.store import ArtifactStore
    from promptyard.registry.versioning import commit_version

    artifact = ArtifactStore(registry.artifacts_dir).ingest(
        _folder(tmp_path, "old", {"adapter_config.json": b"{}", "adapter_model.bin": b"\x80\x04"}))
    content = {"kind": "adapter", "artifact_hash": artifact["hash"], "files": artifact["file_count"]}
    with registry.write() as s:
        commit_version(s, "adapter", "old", content, content_hash_of(content), author="t", artifact=artifact)
    return artifact


def test_a_stored_pickled_adapter_is_never_handed_out(registry, tmp_path, cli):
    _stored_with_a_pickle(registry, tmp_path)
    with pytest.raises(ValidationError, match="pickled weights"):
        registry.adapter_path("old@1")
    for args in (["adapter", "export", "old@1", str(tmp_path / "out")],
                 ["predict", "--adapter", "old@1", "--text", "hi"]):
        result = cli("--registry", str(registry.path), *args)
        assert result.code == 1 and "pickled weights" in result.error_line()
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_importing_a_bundle_that_names_a_stored_pickled_adapter_is_refused(registry, tmp_path):
    _stored_with_a_pickle(registry, tmp_path)
    bundle = registry.export(["old"], kind="adapter")
    bundle["items"][0]["name"] = "again"
    before = dump(registry.path)
    with pytest.raises(BundleError, match="pickled weights"):
        registry.import_bundle(json.loads(json.dumps(bundle)))
    assert dump(registry.path) == before
