"""Issue 17, defect 1: ``tune resume ID`` never unpickles a file a user can point it at.

The id is checked before any path is built from it (no separator, no ``..``, nothing absolute), looked up
in the registry before any file is read, and the saved spec is JSON read from promptyard's own Tune storage.
Each case plants a pickle that creates a marker file when unpickled: on the code before the fix,
``tune resume ../../evil`` loaded it.
"""

from __future__ import annotations

import builtins
import pickle
from pathlib import Path

import pytest

from promptyard.core.errors import UsageError
from promptyard.core.template import Template


class _Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):  # unpickling calls open(marker, "w"): the marker file is the proof
        return (builtins.open, (self.marker, "w"))


def _plant(folder: Path, marker: Path, name: str = "promptyard_search.pkl") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(pickle.dumps(_Payload(marker)))


@pytest.fixture
def setup(tmp_path):
    from promptyard import Registry

    Registry.open(create=True).close()
    marker = tmp_path / "pwned"
    _plant(tmp_path / "evil", marker)
    storage = tmp_path / "work" / "tune"
    storage.mkdir(parents=True, exist_ok=True)
    return storage, marker


def _record(search_id: str, storage_path: str) -> None:
    from promptyard import Registry
    from promptyard.registry.search_records import start_search

    with Registry.open() as reg:
        start_search(reg, search_id, method="lora", adapter_name="a", scheduler="asha", search_alg="random",
                     metric="val_metric", mode="max", trials=1, spec={}, storage_path=storage_path)


@pytest.mark.parametrize(("make_id", "code", "words"), [
    (lambda tmp: "../../evil", 2, ["invalid search id"]),
    (lambda tmp: str(tmp / "evil"), 2, ["invalid search id"]),
    (lambda tmp: "a/../../../evil", 2, ["invalid search id"]),
    (lambda tmp: "..", 2, ["invalid search id"]),
    (lambda tmp: "s-ok\n", 2, ["invalid search id"]),
    (lambda tmp: "s-20260101-000000-dead", 1, ["no search 's-20260101-000000-dead'"]),  # pickle planted there
], ids=["dotdot", "absolute", "nested dotdot", "bare dotdot", "newline", "not in the registry"])
def test_resume_refuses_ids_before_reading_any_file(setup, cli, tmp_path, make_id, code, words):
    storage, marker = setup
    _plant(storage / "s-20260101-000000-dead", marker)
    result = cli("tune", "resume", make_id(tmp_path))
    line = result.error_line()
    assert result.code == code and all(w in line for w in words), line
    assert not marker.exists(), "a planted pickle was loaded"


def test_a_recorded_search_with_only_an_old_pickle_is_not_loaded(setup, cli):
    storage, marker = setup
    _plant(storage / "s-old-0001", marker)
    _record("s-old-0001", str(storage / "s-old-0001"))
    result = cli("tune", "resume", "s-old-0001")
    assert result.code == 2 and "never loaded" in result.error_line()
    assert not marker.exists()


def test_a_recorded_search_is_resumed_only_from_the_storage_it_recorded(setup, cli, tmp_path):
    storage, marker = setup
    _record("s-elsewhere-0001", str(tmp_path / "evil"))
    result = cli("tune", "resume", "s-elsewhere-0001")
    assert result.code == 2 and "keeps its Tune state in" in result.error_line()
    assert not marker.exists()


def test_a_symlink_out_of_the_tune_storage_is_refused(setup, cli, tmp_path):
    storage, marker = setup
    (storage / "s-link-0001").symlink_to(tmp_path / "evil", target_is_directory=True)
    _record("s-link-0001", str(storage / "s-link-0001"))
    result = cli("tune", "resume", "s-link-0001")
    assert result.code == 2 and "leads outside" in result.error_line()
    assert not marker.exists()


def test_tune_searches_checks_the_id_too(setup, cli):
    assert "invalid search id" in cli("tune", "searches", "../x").error_line()


def test_the_saved_spec_is_json_and_rebuilds_the_same_search(tmp_path):
    from promptyard.tuning.search import SPEC_FILE, SearchSpec, experiment_dir, load_spec, save_spec
    from promptyard.tuning.spec import TrainSpec

    train = TrainSpec(model="tiny-causal", data="d.jsonl", prompt=Template(kind="single", text="R: {{ text }}"),
                      task="sentiment", config={"lr": "0.01"}, seed=3, split_fractions=(0.7, 0.2, 0.1))
    spec = SearchSpec(train_spec=train, space={"lr": {"choice": [0.1, 0.2]}}, trials=2, mode="max",
                      scheduler="fifo", search_id="s-json-0001")
    path = save_spec(spec)
    assert path.name == SPEC_FILE and path.suffix == ".json"
    assert not list(experiment_dir(spec.search_id).glob("*.pkl"))
    again = load_spec(spec.search_id)
    assert again == spec
    assert isinstance(again.train_spec.prompt, Template) and again.train_spec.split_fractions == (0.7, 0.2, 0.1)


@pytest.mark.parametrize("bad", ["../x", "/abs", "a/b", "", "x" * 200, "..hidden", "-dash"])
def test_a_search_spec_refuses_an_id_that_is_not_a_folder_name(bad):
    from promptyard.tuning.search import SearchSpec
    from promptyard.tuning.spec import TrainSpec

    with pytest.raises(UsageError, match="invalid search id"):
        SearchSpec(train_spec=TrainSpec(model="m", data="d"), space={}, mode="max", search_id=bad)
