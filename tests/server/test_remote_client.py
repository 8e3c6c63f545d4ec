"""The remote client against a real server gives what the local Registry gives on the same file."""

from __future__ import annotations

import json

import pytest

import promptyard
from promptyard import Registry
from promptyard.core.errors import ForbiddenError, IntegrityError, RegistryError, RenderError, UnknownRefError
from promptyard.registry.search_records import finish_search, start_search
from promptyard.remote import RemoteRegistry
from tests.registry.helpers import KINDS, TEMPLATES


@pytest.fixture
def local(served):
    reg = Registry.open(served.path)
    yield reg
    reg.close()


@pytest.fixture
def remote(served, tmp_path):
    client = promptyard.connect(served.url, token=served.tokens["admin"], cache_dir=tmp_path / "client")
    yield client
    client.close()


def test_registry_open_with_a_url_returns_the_client(served, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTYARD_TOKEN", served.tokens["reader"])
    with Registry.open(served.url) as client:
        assert isinstance(client, RemoteRegistry)
        assert client.resolve("kinds/single@1").ref == "kinds/single@1"


@pytest.mark.parametrize("kind", KINDS)
def test_reads_match_the_local_api(remote, local, kind):
    name = f"kinds/{kind}"
    for ref in (name, f"{name}@1", f"{name}@latest", f"{name}@staging",
                f"{name}@sha:{local.resolve(f'{name}@2').content_hash[:6]}"):
        assert remote.resolve(ref).to_dict() == local.resolve(ref).to_dict()
        assert remote.get_template(ref) == local.get_template(ref)
    assert [v.to_dict() for v in remote.versions(name)] == [v.to_dict() for v in local.versions(name)]
    assert remote.labels(name) == local.labels(name)
    assert [m.to_dict() for m in remote.label_history(name)] == [m.to_dict() for m in local.label_history(name)]
    assert remote.log(name) == local.log(name)
    assert remote.item(name).to_dict() == local.item(name).to_dict()
    assert remote.diff(f"{name}@1", f"{name}@2") == local.diff(f"{name}@1", f"{name}@2")
    got = remote.render(f"{name}@production", {"x": "some text"}, seed=1)
    assert got == local.render(f"{name}@production", {"x": "some text"}, seed=1)


def test_list_and_filters_match(remote, local):
    for filters in ({}, {"tag": "seed"}, {"template_kind": "multi"}, {"task_type": "classification"},
                    {"label": "staging"}, {"archived": True}):
        assert [i.to_dict() for i in remote.list(**filters)] == [i.to_dict() for i in local.list(**filters)]
    assert [i.name for i in remote.list("kinds/*")] == [i.name for i in local.list("kinds/*")]
    assert remote.protected_labels == local.protected_labels


@pytest.mark.parametrize("kind", KINDS)
def test_errors_are_the_local_errors(remote, local, kind):
    name = f"kinds/{kind}"
    for call in (lambda r: r.resolve(f"{name}@9"), lambda r: r.resolve(f"{name}@nolabel"),
                 lambda r: r.resolve("missing/prompt")):
        with pytest.raises(UnknownRefError) as want:
            call(local)
        with pytest.raises(UnknownRefError) as got:
            call(remote)
        assert str(got.value) == str(want.value)
    with pytest.raises(RenderError) as want:
        local.render(f"{name}@1", {})
    with pytest.raises(RenderError) as got:
        remote.render(f"{name}@1", {})
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("kind", KINDS)
def test_writes_land_in_the_file_with_the_token_as_actor(remote, local, kind):
    name = f"written/{kind}"
    first = remote.commit(name, TEMPLATES[kind]("One"), "first", tags=["w"], task_type="classification")
    assert first.to_dict() == local.resolve(f"{name}@1").to_dict()
    assert first.author == "admin"
    assert remote.commit(name, TEMPLATES[kind]("One"), "same again") is None
    second = remote.commit(name, TEMPLATES[kind]("Two"), "second")
    assert local.resolve(f"{name}@latest").to_dict() == second.to_dict()
    move = remote.label(f"{name}@1", "production", force=True, reason="ship")
    assert move.to_dict() == local.label_history(name, "production")[-1].to_dict()
    assert move.actor == "admin"
    assert remote.label(f"{name}@1", "production", force=True) is None
    remote.label(f"{name}@2", "production", force=True)
    back = remote.rollback(name, reason="bad")
    assert (back.from_number, back.to_number, back.action, back.actor) == (2, 1, "rollback", "admin")
    assert local.resolve(f"{name}@production").number == 1
    assert remote.archive(name) is True
    assert name not in [i.name for i in local.list()]
    with pytest.raises(RegistryError, match="archived"):
        remote.commit(name, TEMPLATES[kind]("Three"))
    assert remote.archive(name, undo=True) is True


def test_adapters_list_show_labels_rollback_and_verified_download(remote, local, tmp_path):
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    (folder / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 64)
    v1 = local.register_adapter("ads/sent", folder, {"method": {"name": "lora"}, "base_model": {"ref": "tiny"}}, "one")
    (folder / "adapter_model.safetensors").write_bytes(bytes(range(255, -1, -1)) * 64)
    local.register_adapter("ads/sent", folder, {"method": {"name": "lora"}}, "two")
    assert [i.to_dict() for i in remote.list(kind="adapter")] == [i.to_dict() for i in local.list(kind="adapter")]
    assert remote.resolve_adapter("ads/sent@1").to_dict() == v1.to_dict()
    assert remote.resolve_adapter("ads/sent@1").lineage["base_model"] == {"ref": "tiny"}
    assert remote.log("ads/sent", kind="adapter") == local.log("ads/sent", kind="adapter")
    remote.label_adapter("ads/sent@1", "production", force=True)
    remote.label_adapter("ads/sent@2", "production", force=True)
    assert remote.rollback_adapter("ads/sent").to_number == 1
    assert local.labels("ads/sent", kind="adapter") == {"production": 1}
    out = remote.download_adapter("ads/sent@production", tmp_path / "download")
    stored = local.adapter_path("ads/sent@1")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in stored.iterdir())
    for path in stored.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes()


def test_a_tampered_adapter_is_refused_with_409(remote, local, tmp_path):
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    info = local.register_adapter("ads/tampered", folder)
    stored = local.adapter_path(info.ref) / "adapter_config.json"
    stored.chmod(0o644)
    stored.write_text('{"changed": true}')
    with pytest.raises(IntegrityError, match="does not match"):
        remote.download_adapter(info.ref, tmp_path / "out")


def test_searches_list_and_show(remote, local):
    start_search(local, "s-1", method="lora", adapter_name="ads/sent", scheduler="asha", search_alg="random",
                 metric="val_metric", mode="max", trials=2, spec={"space": {"lr": [1e-4, 1e-3]}}, storage_path="x")
    finish_search(local, "s-1", [{"trial_id": "t0", "status": "completed", "params": {"lr": 1e-4}, "iterations": 2,
                                  "best_metric": 0.5, "last_metric": 0.5, "history": [0.4, 0.5]}],
                  status="finished", best_trial_id="t0", best_metric=0.5, adapter_version_id=None)
    listed = remote.searches()
    assert [s["id"] for s in listed] == ["s-1"]
    shown = remote.search("s-1")
    assert shown["trials"][0]["params"] == {"lr": 1e-4} and shown["best_metric"] == 0.5
    with pytest.raises(UnknownRefError):
        remote.search("nope")


def test_a_team_token_sees_only_its_names(served, tmp_path):
    with promptyard.connect(served.url, token=served.tokens["team"], cache_dir=tmp_path / "c") as team:
        assert team.list() and all(i.name.startswith("kinds/") for i in team.list())
        with pytest.raises(UnknownRefError) as hidden:
            team.resolve("other/x")
        with pytest.raises(UnknownRefError) as missing:
            team.resolve("other/does-not-exist")
        assert str(hidden.value) == str(missing.value).replace("other/does-not-exist", "other/x")
        with pytest.raises(UnknownRefError):
            team.label("other/x@1", "staging")
        with pytest.raises(ForbiddenError):
            team.token_functions().list_tokens(team)


def json_roundtrip(value):
    """``value`` as a JSON client sees it (tuples become lists, NaN none, times strings)."""
    return json.loads(json.dumps(value, default=str).replace("NaN", "null"))
