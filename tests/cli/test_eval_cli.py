"""``promptyard eval ...``, ``reproduce`` and ``cache clear`` end to end on a tiny random model."""

from __future__ import annotations

import base64
import json
import re
import textwrap

import pytest

from promptyard.testing import invoke

pytestmark = pytest.mark.slow

REVIEWS = [("a wonderful, moving film", "positive"), ("dull, slow and badly written", "negative"),
           ("I loved every minute of it", "positive"), ("a boring mess that wastes its cast", "negative"),
           ("charming and funny", "positive"), ("the worst movie of the year", "negative"),
           ("a delightful surprise", "positive"), ("tedious and predictable", "negative"),
           ("smart, warm and beautifully shot", "positive"), ("an ugly, pointless sequel", "negative"),
           ("great fun for the whole family", "positive"), ("lifeless and forgettable", "negative")]


@pytest.fixture
def reviews(tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in REVIEWS))
    return str(path)


@pytest.fixture
def registry(tmp_path):
    """Prompt ``sent`` at versions 1 and 2, ``production`` on 1."""
    from promptyard.registry.api import Registry

    reg = Registry.open(create=True)
    reg.commit("sent", {"kind": "single", "text": "Review: {{ text }}\nSentiment:"}, task_type="classification")
    reg.commit("sent", {"kind": "single", "text": "Positive or negative?\n{{ text }}\nAnswer:"},
               task_type="classification")
    reg.label("sent@1", "production", force=True)
    # a third wording, so that the gate test finds two prompts the tiny model scores differently
    reg.commit("movie", {"kind": "single", "text": "Movie: {{ text }}. Verdict:"}, task_type="classification")
    yield reg
    reg.close()


def run_json(args):
    result = invoke(args + ["--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def cell_args(reviews, prompt="sent@1"):
    return ["--prompt", prompt, "--model", "tiny-causal", "--data", reviews, "--split", "all",
            "--metric", "accuracy", "--metric", "f1", "--batch-size", "4"]


def test_run_list_show_report_reproduce(registry, reviews, tmp_path):
    out = run_json(["eval", "run", *cell_args(reviews)])
    run_id = out["run_id"]
    assert out["cells"][0]["n_examples"] == 12 and out["cells"][0]["cache_misses"] == 12
    accuracy = out["cells"][0]["metrics"][0]
    assert accuracy["name"] == "accuracy" and accuracy["low"] <= accuracy["value"] <= accuracy["high"]

    again = run_json(["eval", "run", *cell_args(reviews)])
    assert again["cells"][0]["cache_hits"] == 12
    assert again["cells"][0]["metrics"][0]["value"] == accuracy["value"]

    runs = run_json(["eval", "list"])
    assert [r["id"] for r in runs][:2] == [again["run_id"], run_id]

    shown = run_json(["eval", "show", str(run_id)])
    cell = shown["cells"][0]
    assert cell["lineage"]["prompt"]["resolved"] == "sent@1"
    assert len(cell["examples"]) == 12 and cell["examples"][0]["index"] == 0
    assert cell["metrics"][0]["value"] == accuracy["value"]
    text = invoke(["eval", "show", str(run_id)]).stdout
    assert "sent@1" in text and "accuracy=" in text

    report = tmp_path / "out" / "report.html"
    assert invoke(["eval", "report", str(run_id), "--html", str(report)]).exit_code == 0
    page = report.read_text()
    assert "<table>" in page and "sent@1" in page
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == 2 and all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert "http://" not in page and "https://" not in page  # self-contained

    repro = run_json(["reproduce", str(run_id)])
    assert repro["matches"] is True and repro["new_run_id"] > again["run_id"]
    assert {r["metric"] for r in repro["rows"]} == {"accuracy", "f1"}


def test_reproduce_pins_the_version_a_label_pointed_to(registry, reviews):
    run_id = run_json(["eval", "run", *cell_args(reviews, "sent@production")])["run_id"]
    registry.label("sent@2", "production", force=True)
    repro = run_json(["reproduce", str(run_id)])
    assert repro["matches"] is True
    new = run_json(["eval", "show", str(repro["new_run_id"])])
    assert new["cells"][0]["lineage"]["prompt"]["resolved"] == "sent@1"


def test_compare_two_refs_and_two_runs(registry, reviews):
    out = run_json(["eval", "compare", "sent@1", "sent@2", "--model", "tiny-causal", "--data", reviews,
                    "--split", "all", "--metric", "accuracy"])
    (comparison,) = out
    acc = comparison["metrics"][0]
    assert comparison["n"] == 12 and acc["name"] == "accuracy"
    assert acc["delta"] == pytest.approx(acc["b"] - acc["a"])
    assert acc["test"]["test"] == "mcnemar_exact" and 0 <= acc["test"]["p_value"] <= 1
    flips = comparison["n_flipped"]["fixed"] + comparison["n_flipped"]["broken"]
    assert flips == acc["test"]["detail"]["only_a_correct"] + acc["test"]["detail"]["only_b_correct"]
    a = run_json(["eval", "run", *cell_args(reviews, "sent@1")])["run_id"]
    b = run_json(["eval", "run", *cell_args(reviews, "sent@2")])["run_id"]
    by_runs = run_json(["eval", "compare", str(a), str(b)])
    assert by_runs[0]["metrics"][0]["delta"] == pytest.approx(acc["delta"])
    table = invoke(["eval", "compare", str(a), str(b)])
    assert table.exit_code == 0 and "95% CI of delta" in table.stdout and "flipped" in table.stdout


def test_gate_exit_codes_follow_the_measured_drop(registry, reviews):
    common = ["--model", "tiny-causal", "--data", reviews, "--split", "all", "--metric", "accuracy"]
    same = invoke(["eval", "gate", "--candidate", "sent@1", "--baseline", "sent@production", *common,
                   "--max-drop", "0"])
    assert same.exit_code == 0, same.output
    assert "PASS" in same.stdout
    accs = {}
    for ref in ("sent@1", "sent@2", "movie@1"):
        accs[ref] = run_json(["eval", "run", *cell_args(reviews, ref)])["cells"][0]["metrics"][0]["value"]
    # the gate needs two prompts the tiny seeded model scores differently: the lowest and the highest
    worse, better = min(accs, key=accs.get), max(accs, key=accs.get)
    if accs[worse] == accs[better]:
        pytest.fail(f"every prompt scores the same on the tiny model ({accs}); add another wording to the fixture")
    drop = accs[better] - accs[worse]
    failing = invoke(["eval", "gate", "--candidate", worse, "--baseline", better, *common,
                      "--max-drop", str(drop / 2)])
    assert failing.exit_code == 3, failing.output
    assert "FAIL" in failing.stdout and "error:" in failing.stderr and "Traceback" not in failing.output
    passing = run_json(["eval", "gate", "--candidate", worse, "--baseline", better, *common,
                        "--max-drop", str(drop + 0.01)])
    assert passing["passed"] is True


def test_suite_file_runs_and_bad_suite_is_one_line(registry, reviews, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent(f"""
        name: smoke
        data: [{{ref: {reviews}, split: all, sample: 6}}]
        prompts: [sent@1, sent@2]
        models: [tiny-causal]
        metrics: [accuracy]
    """))
    out = run_json(["eval", "run", str(suite)])
    assert len(out["cells"]) == 2 and out["name"] == "smoke"
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [x]\nprompts: [a]\nmodels: [{adapters: [z]}]\n")
    result = invoke(["eval", "run", str(bad)])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: bad.yaml line 3: models[0]: missing key 'model' (a model reference, e.g. " \
                                    "smollm2-135m)"


def test_missing_options_and_unknown_run_are_errors(registry):
    result = invoke(["eval", "run", "--prompt", "sent@1"])
    assert result.exit_code == 2 and "missing --model, --data" in result.stderr
    result = invoke(["eval", "run", "--prompt", "sent@1", "--model", "tiny-causal", "--data", "x.jsonl",
                     "--metric", "acuracy"])
    assert result.exit_code == 1 and "unknown metric 'acuracy'" in result.stderr and "accuracy" in result.stderr
    result = invoke(["eval", "show", "999"])
    assert result.exit_code == 1 and "no eval run 999" in result.stderr


def test_cache_clear(registry, reviews):
    run_json(["eval", "run", *cell_args(reviews)])
    assert run_json(["cache", "info"])["entries"] == 12
    assert run_json(["cache", "clear"])["removed"] == 12
    out = run_json(["eval", "run", *cell_args(reviews)])
    assert out["cells"][0]["cache_misses"] == 12
    no_cache = run_json(["eval", "run", *cell_args(reviews), "--no-cache"])
    assert no_cache["cells"][0]["cache_hits"] == 0


def test_precision_option_is_recorded_and_a_bad_one_is_a_one_line_error(registry, reviews):
    from promptyard.runtime.precision import cpu_bf16_native

    result = invoke(["eval", "run", *cell_args(reviews), "--precision", "half"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[0].startswith("error: --precision: unknown precision 'half'")
    if not cpu_bf16_native():
        pytest.skip("this CPU has no native bf16: the mode is refused here (the refusal is tested in evals)")
    out = run_json(["eval", "run", *cell_args(reviews), "--precision", "bf16"])
    lineage = out["cells"][0]["lineage"]
    assert lineage["decoding"]["precision"] == "bf16" and lineage["precision"]["mode"] == "bf16"
