"""Suite files: expansion into cells, and errors that name the file, key path and what was expected."""

from __future__ import annotations

import pickle
import re
import textwrap

import pytest

from promptyard.core.errors import ValidationError
from promptyard.evals.suite import CellSpec, load_suite, parse_suite, single_cell

GOOD = """
name: sentiment
seed: 7
data:
  - {ref: rotten_tomatoes, split: test, sample: 60}
prompts: [sent@1, sent@2, sent@production]
models:
  - smollm2-135m
  - {model: tiny-causal, adapters: [lora@1, lora@2], include_base: true}
metrics: [accuracy, f1]
decoding: {max_new_tokens: 8, batch_size: 4}
choices: [" positive", " negative"]
"""


def write(tmp_path, text, name="suite.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_matrix_expands_to_every_combination(tmp_path):
    suite = load_suite(write(tmp_path, GOOD))
    assert suite.name == "sentiment" and suite.seed == 7
    assert len(suite.cells) == 1 * 3 * 4  # data x prompts x (smollm2, tiny, tiny+lora@1, tiny+lora@2)
    first = suite.cells[0]
    assert (first.prompt, first.model, first.adapter, first.data) == ("sent@1", "smollm2-135m", None,
                                                                       "rotten_tomatoes")
    assert first.sample == 60 and first.seed == 7 and first.metrics == ("accuracy", "f1")
    assert first.choices == (" positive", " negative") and first.decoding["batch_size"] == 4
    assert {(c.model, c.adapter) for c in suite.cells} == {
        ("smollm2-135m", None), ("tiny-causal", None), ("tiny-causal", "lora@1"), ("tiny-causal", "lora@2")}


def test_explicit_cells_override_shared_settings(tmp_path):
    suite = load_suite(write(tmp_path, """
        metrics: [accuracy]
        cells:
          - {prompt: p@1, model: tiny-causal, data: d.jsonl, split: all, metrics: [exact_match], seed: 3}
    """))
    (cell,) = suite.cells
    assert cell.metrics == ("exact_match",) and cell.seed == 3 and cell.split == "all"
    assert suite.name == "suite"


def test_cell_spec_pickles_and_round_trips_through_a_dict():
    cell = single_cell("p@1", "tiny-causal", "rotten_tomatoes", sample=10, metrics=["accuracy"],
                       choices=[" a", " b"]).cells[0]
    assert pickle.loads(pickle.dumps(cell)) == cell
    assert CellSpec.from_dict(cell.to_dict()) == cell


BAD = [
    ("[1, 2]", "suite.yaml", "expected a mapping"),
    ("prompts: [a]\nmodels: [m]", "suite.yaml: data", "missing key 'data'"),
    ("data: [d]\nprompts: [a]\nmodels: [m]\nmodel: x", "suite.yaml: model", "unknown key 'model'"),
    ("data: [{ref: d, sample: 0}]\nprompts: [a]\nmodels: [m]", "suite.yaml: data[0].sample",
     "expected an integer >= 1, got int 0"),
    ("data: [{ref: d, split: dev}]\nprompts: [a]\nmodels: [m]", "suite.yaml: data[0].split",
     "expected one of train, validation, test, all"),
    ("data: [{split: test}]\nprompts: [a]\nmodels: [m]", "suite.yaml: data[0]", "missing key 'ref'"),
    ("data: [d]\nprompts: [a, 3]\nmodels: [m]", "suite.yaml: prompts[1]", "expected a non-empty string, got int 3"),
    ("data: [d]\nprompts: [a]\nmodels: [{adapters: [x]}]", "suite.yaml: models[0]", "missing key 'model'"),
    ("data: [d]\nprompts: [a]\nmodels: [{model: m, adapters: 5}]", "suite.yaml: models[0].adapters",
     "expected a list of adapter references"),
    ("data: [d]\nprompts: [a]\nmodels: [m]\ndecoding: {max_new_tokens: lots}", "suite.yaml: decoding.max_new_tokens",
     "expected int, got str 'lots'"),
    ("data: [d]\nprompts: [a]\nmodels: [m]\ndecoding: {batch_size: 0}", "suite.yaml: decoding.batch_size",
     "expected an integer >= 1, got int 0"),
    ("cells: [{prompt: p, data: d, model: m, decoding: {max_new_tokens: -2}}]",
     "suite.yaml: cells[0].decoding.max_new_tokens", "expected an integer >= 1, got int -2"),
    ("data: [d]\nprompts: [a]\nmodels: [m]\nscoring: vibes", "suite.yaml: scoring",
     "expected one of choices, generate"),
    ("data: [d]\nprompts: [a]\nmodels: [m]\nchoices: [' yes']", "suite.yaml: choices",
     "expected a list of at least two strings"),
    ("data: [d]\nprompts: [a]\nmodels: [m]\nmetrics: {accuracy: 1}", "suite.yaml: metrics",
     "expected a list of metric names"),
    ("cells: [{prompt: p, data: d}]", "suite.yaml: cells[0]", "missing key 'model'"),
    ("cells: [{prompt: p, data: d, model: ''}]", "suite.yaml: cells[0].model", "expected a non-empty string"),
    ("cells: [{prompt: p, data: d, model: m, seed: -1}]", "suite.yaml: cells[0].seed", "expected an integer >= 0"),
    ("cells: [{prompt: p, data: d, model: m, temperature: 0}]", "suite.yaml: cells[0].temperature",
     "unknown key 'temperature'"),
    ("name: empty", "suite.yaml", "the suite has no cells"),
    ("data: [d\nprompts: [a]", "suite.yaml line 2, column 8", "invalid YAML"),
]


@pytest.mark.parametrize(("text", "where", "message"), BAD, ids=[b[1] + ":" + b[2][:20] for b in BAD])
def test_bad_suites_name_file_key_and_expectation(tmp_path, text, where, message):
    with pytest.raises(ValidationError) as info:
        load_suite(write(tmp_path, text))
    # a key's error also names its line in the file: "suite.yaml line 2: data[0].split"
    assert re.sub(r" line \d+:", ":", info.value.where) == where
    assert message in info.value.message


def test_a_bad_key_names_its_line():
    with pytest.raises(ValidationError) as info:
        parse_suite({"data": ["d"], "prompts": ["a"], "models": ["m"], "scoring": "vibes"}, source="s.yaml",
                    lines={"data": 1, "prompts": 2, "models": 3, "scoring": 4})
    assert info.value.where == "s.yaml line 4: scoring"


def test_missing_file_is_a_validation_error(tmp_path):
    with pytest.raises(ValidationError, match="suite file not found"):
        load_suite(tmp_path / "nope.yaml")


def test_single_cell_validates_like_a_file():
    with pytest.raises(ValidationError) as info:
        single_cell("p@1", "m", "d", sample=0)
    assert info.value.where == "command line: data[0].sample"
    assert parse_suite({"cells": [{"prompt": "p", "model": "m", "data": "d"}]}).cells[0].split == "test"
