"""``promptyard data show`` / ``data list``."""

from __future__ import annotations

import json

from promptyard.testing import invoke


def test_data_show_json_for_a_file(tmp_path):
    (tmp_path / "d.csv").write_text("review,y\ngood,pos\nbad,neg\nfine,pos\n")
    result = invoke(["data", "show", str(tmp_path / "d.csv"), "--text-column", "review",
                     "--label-column", "y", "--json", "--rows", "2"])
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["size"] == 3 and info["labels"] == {"neg": 1, "pos": 2} and len(info["rows"]) == 2


def test_data_show_embedded_prints_labels():
    result = invoke(["data", "show", "rotten_tomatoes", "--rows", "2"])
    assert result.exit_code == 0, result.stderr
    assert "12808 rows" in result.stdout
    assert "positive" in result.stdout and "negative" in result.stdout


def test_data_show_malformed_file_is_one_clear_line(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "a"}\n{oops}\n')
    result = invoke(["data", "show", str(tmp_path / "d.jsonl")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "line 2, column 2" in result.stderr
    assert "Traceback" not in result.stderr
    ok = invoke(["data", "show", str(tmp_path / "d.jsonl"), "--skip-bad-rows", "--json"])
    assert json.loads(ok.stdout)["skipped"] == 1


def test_data_list_names_the_embedded_sets():
    result = invoke(["data", "list", "--json"])
    assert {"rotten_tomatoes", "bbc_news"} <= {i["name"] for i in json.loads(result.stdout)}
