"""``promptyard quickstart`` walks through the registry and leaves what it says it did."""

from __future__ import annotations

from promptyard.testing import invoke


def test_quickstart_runs_twice_and_leaves_the_walkthrough_in_the_registry(tmp_path):
    from promptyard import Registry

    target = tmp_path / "demo"
    for _ in range(2):  # `make demo` may run again in the same folder
        result = invoke(["quickstart", "--dir", str(target)])
        assert result.exit_code == 0, result.output
        assert "rolled back demo/sentiment@production: 2 -> 1" in result.stdout
        assert "--- demo/sentiment@1" in result.stdout
    assert len(list(target.glob(".promptyard.previous-*"))) == 1
    with Registry.open(target / ".promptyard" / "registry.db") as reg:
        assert [v.number for v in reg.versions("demo/sentiment")] == [1, 2]
        assert reg.resolve("demo/sentiment").number == 1
        moves = [(m.from_number, m.to_number, m.action) for m in reg.label_history("demo/sentiment", "production")]
        assert moves == [(None, 1, "move"), (1, 2, "move"), (2, 1, "rollback")]
