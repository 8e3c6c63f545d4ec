"""Model loaders: embedded models, tiny models, local folders, hub ids offline, content hashes."""

from __future__ import annotations

import pytest

from promptyard.core.errors import OfflineError, UnknownNameError, UsageError
from promptyard.core.hashing import file_sha256, model_content_hash
from promptyard.core.host import registered
from promptyard.core.lookups import load_model
from promptyard.plugins import model_loaders as models


def test_loaders_are_registered_through_the_hook():
    assert {"smollm2-135m", "minilm-l6", "tiny", "local", "hub"} <= set(registered("model_loaders"))


@pytest.mark.parametrize("ref, kind, head", [
    ("tiny-causal", "causal", "lm_head"),
    ("tiny-encoder", "encoder", "classifier"),
])
def test_tiny_models_load_with_a_real_tokenizer(ref, kind, head):
    loaded = load_model(ref, num_labels=3)
    assert loaded.kind == kind
    assert hasattr(loaded.model, head)
    ids = loaded.tokenizer("a fine film")["input_ids"]
    assert len(ids) >= 3 and loaded.tokenizer.pad_token_id is not None
    assert loaded.content_hash == model_content_hash(loaded.path)
    if kind == "encoder":
        assert loaded.model.config.num_labels == 3


def test_tiny_model_is_the_same_in_every_load():
    import torch

    a, b = load_model("tiny-encoder", num_labels=3), load_model("tiny-encoder", num_labels=3)
    for (name, pa), (_, pb) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name


def test_local_folder_loads_with_its_natural_kind(tmp_path):
    folder = models.tiny_folder("causal")
    loaded = load_model(str(folder))
    assert loaded.kind == "causal" and loaded.path == str(folder.resolve())
    assert loaded.content_hash == load_model("tiny-causal").content_hash


def test_folder_without_config_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no config.json"):
        load_model(str(tmp_path / "empty"))


def test_hub_id_offline_fails_at_once(monkeypatch):
    """At once: without trying the network (a connection attempt would wait for a timeout)."""
    import socket

    attempts = []

    def no_network(self, address, *args):
        attempts.append(address)
        raise OSError("network used")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    with pytest.raises(OfflineError, match="HF_HUB_OFFLINE"):
        load_model("someone/some-model")
    assert attempts == []


@pytest.mark.parametrize("ref, kind, error", [
    ("no-such-model", None, UnknownNameError),
    ("tiny-causal", "decoder", UsageError),
    ("tiny-encoder", "causal", UsageError),
    ("minilm-l6", "causal", UsageError),
])
def test_bad_model_requests(ref, kind, error):
    with pytest.raises(error):
        load_model(ref, kind=kind)


def test_file_hash_is_remembered_until_the_file_changes(tmp_path):
    import hashlib

    path = tmp_path / "w.bin"
    path.write_bytes(b"one")
    assert file_sha256(path) == hashlib.sha256(b"one").hexdigest()
    path.write_bytes(b"two!")  # different size: the sidecar no longer matches
    assert file_sha256(path) == hashlib.sha256(b"two!").hexdigest()


@pytest.mark.real_model
@pytest.mark.slow
def test_smollm2_converts_once_then_loads_from_its_cache():
    gguf_hash = file_sha256(models.smollm2_gguf())
    first = load_model("smollm2-135m")
    assert first.kind == "causal" and first.path.endswith(gguf_hash)
    weights = models.smollm2_folder() / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    second = load_model("smollm2-135m")
    assert weights.stat().st_mtime_ns == stamp  # not rewritten: loaded from the cache
    assert second.content_hash == first.content_hash
    assert second.tokenizer.chat_template  # the chat template came over from the GGUF
    assert "<|im_start|>" in second.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False)
