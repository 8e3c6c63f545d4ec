"""Search-space files: valid kinds become Tune domains; every bad entry names file, line and key."""

from __future__ import annotations

import pytest

from promptyard.core.errors import ValidationError
from promptyard.tuning.space import load_space_file, searched_keys, to_tune, validate_space

GOOD = """\
lr: {loguniform: [1.0e-5, 1.0e-2]}
dropout: {uniform: [0.0, 0.3]}
r: {choice: [4, 8, 16]}
epochs: {int: [1, 3]}
warmup: {randint: [0, 100]}
alpha: 16
"""


def test_good_file_becomes_tune_domains(tmp_path):
    from ray.tune.search.sample import Categorical, Float, Integer

    path = tmp_path / "space.yaml"
    path.write_text(GOOD)
    space = load_space_file(path)
    assert searched_keys(space) == ["lr", "dropout", "r", "epochs", "warmup"]
    domains = to_tune(space)
    assert isinstance(domains["lr"], Float) and domains["lr"].lower == 1e-5
    assert isinstance(domains["r"], Categorical) and domains["r"].categories == [4, 8, 16]
    assert isinstance(domains["epochs"], Integer)
    assert (domains["epochs"].lower, domains["epochs"].upper) == (1, 4)
    assert (domains["warmup"].lower, domains["warmup"].upper) == (0, 100)
    assert domains["alpha"] == 16
    samples = {domains["epochs"].sample() for _ in range(200)}
    assert samples == {1, 2, 3}  # int ranges include both ends


@pytest.mark.parametrize(("text", "line", "needle"), [
    ("lr: {loguniform: [0, 1]}\n", 1, "loguniform needs low > 0"),
    ("r: {choice: [4]}\nlr: {uniform: [1, 0.5]}\n", 2, "low must be below high"),
    ("a: 1\nb: 2\nwarmup: {randint: [0.5, 10]}\n", 3, "bounds must be integers"),
    ("lr: {normal: [0, 1]}\n", 1, "unknown kind 'normal'"),
    ("lr: {uniform: [1]}\n", 1, "takes two numbers"),
    ("lr: {uniform: 3}\n", 1, "takes a non-empty list"),
    ("r: {choice: [[1, 2]]}\n", 1, "choice values must be"),
    ("lr: {uniform: [0, 1], choice: [1]}\n", 1, "one-key mapping"),
])
def test_bad_entries_name_file_line_and_key(tmp_path, text, line, needle):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(ValidationError) as info:
        load_space_file(path)
    message = str(info.value)
    assert needle in message
    assert f"{path} line {line}" in message


@pytest.mark.parametrize(("text", "needle"), [
    ("lr: [unclosed\n", "invalid YAML"),
    ("- just\n- a list\n", "must hold a mapping"),
])
def test_malformed_files(tmp_path, text, needle):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(ValidationError, match=needle):
        load_space_file(path)


def test_missing_file_and_empty_space(tmp_path):
    with pytest.raises(ValidationError, match="cannot read"):
        load_space_file(tmp_path / "nope.yaml")
    with pytest.raises(ValidationError, match="non-empty mapping"):
        validate_space({})
