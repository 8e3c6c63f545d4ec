"""``promptyard quickstart``: the thin CLI (bad input, reruns); the end-to-end run is tests/quickstart/test_run.py."""

from __future__ import annotations

from promptyard.testing import invoke


def test_a_dir_that_is_a_file_is_one_clean_error(tmp_path):
    target = tmp_path / "not-a-folder"
    target.write_text("x")
    result = invoke(["quickstart", "--fast", "--dir", str(target)])
    assert result.exit_code != 0
    assert "error:" in result.stderr and "--dir" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert target.read_text() == "x"


def test_a_rerun_keeps_the_previous_registry_aside(tmp_path):
    from promptyard.quickstart.run import set_aside_previous

    registry = tmp_path / ".promptyard" / "registry.db"
    assert set_aside_previous(registry) is None
    kept = []
    for run in range(2):  # `make demo` may run again in the same folder, even within one second
        registry.parent.mkdir()
        registry.write_text(f"run {run}")
        kept.append(set_aside_previous(registry))
        assert not registry.parent.exists()
    assert kept[0] != kept[1]
    assert [(k / "registry.db").read_text() for k in kept] == ["run 0", "run 1"]
