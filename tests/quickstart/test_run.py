"""``promptyard quickstart --fast`` end to end: what it wrote to the registry, the adapter's lineage, the report."""

from __future__ import annotations

import base64
import json
import re
import shlex
from pathlib import Path

import httpx
import pytest

from promptyard.testing import invoke
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow

KINDS = ["single", "multi", "structured", "dynamic"]


def _run(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "qs"
    result = invoke(["quickstart", "--fast", "--dir", str(out), "--json", *extra])
    assert result.exit_code == 0, result.stderr + result.stdout
    summary = json.loads(result.stdout)
    assert Path(summary["directory"]) == out.resolve()
    return summary


def _check_registry(summary: dict) -> None:
    from promptyard import Registry
    from promptyard.registry.evals_store import load_run
    from promptyard.registry.search_records import get_search

    reg = Registry.open(summary["registry"])
    assert Path(summary["registry"]).is_relative_to(summary["directory"])
    versions = reg.versions("sentiment")
    assert [(v.number, v.content["kind"]) for v in versions] == list(enumerate(KINDS, start=1))
    assert versions[2].content["output_schema"]["required"] == ["sentiment"]
    assert versions[3].content["selector"] == "similar"

    # the label history ends with a rollback back to where the gate (or the release) had put production
    rb = summary["gate"]["rollback"]
    kind = rb["kind"]
    history = reg.label_history(rb["name"], "production", kind=kind)
    assert [m.action for m in history][-1] == "rollback"
    assert history[-1].to_number == history[-3 if len(history) >= 3 else 0].to_number
    assert reg.labels(rb["name"], kind=kind)["production"] == history[-1].to_number
    if summary["gate"]["passed"]:
        assert kind == "adapter"
        assert f"sentiment-adapter@{reg.labels('sentiment-adapter', kind='adapter')['production']}" == \
            summary["gate"]["candidate"]
        assert reg.labels("sentiment")["production"] == 1
    else:
        assert kind == "prompt" and reg.labels("sentiment")["production"] == 1
        assert "production" not in reg.labels("sentiment-adapter", kind="adapter")

    # the registered adapter carries its full lineage, and its bytes verify
    adapter = reg.resolve_adapter(summary["gate"]["candidate"])
    lin = adapter.lineage
    best_prompt = reg.resolve(summary["best_prompt"])
    assert lin["prompt"]["hash"] == best_prompt.content_hash
    eval_run = load_run(reg, summary["eval_run"], with_examples=False)
    assert lin["base_model"]["hash"] == eval_run["cells"][0]["lineage"]["model"]["hash"]
    assert lin["base_model"]["ref"] == "tiny-causal"
    assert re.fullmatch(r"[0-9a-f]{64}", lin["data"]["fingerprint"])
    assert lin["seed"] == 0
    assert {"torch", "transformers", "peft", "promptyard"} <= set(lin["packages"])
    search = get_search(reg, lin["search"]["id"])
    assert search["status"] == "finished"
    assert lin["search"]["id"] in {s["id"] for s in summary["searches"]}
    assert (reg.adapter_path(adapter.ref) / "adapter_config.json").exists()
    assert len(reg.versions("sentiment-adapter", kind="adapter")) == len(summary["searches"]) == 2


def _check_report(summary: dict) -> None:
    report = Path(summary["report"])
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and text.rstrip().endswith("</html>")
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    # eval charts (prompts run, gate run), a search plot and training curves per search
    assert len(images) >= 6
    assert all(base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n" for img in images)
    # self-contained: nothing is fetched from anywhere
    assert not re.search(r"""(src|href)=['"](?!data:)""", text)
    for needle in ("sentiment@1", "sentiment@4", "sentiment-adapter@", "Gate and rollback", "rollback"):
        assert needle in text


def test_quickstart_fast_in_process(tmp_path):
    summary = _run(tmp_path, "--no-ray")
    assert summary["ray"] is False
    _check_registry(summary)
    _check_report(summary)
    assert [p["kind"] for p in summary["prompts"]] == KINDS
    assert summary["next_commands"]
    _check_ui_command(summary, tmp_path)


def _check_ui_command(summary: dict, tmp_path: Path) -> None:
    """The last command printed serves the quickstart's registry; its web UI lists the quickstart's prompt."""
    words = shlex.split(summary["next_commands"][-1], comments=True)
    assert words[:2] == ["promptyard", "serve"] and words[words.index("--registry") + 1] == summary["registry"]
    with LiveServer(Path(summary["registry"]), tmp_path / "ui", auth="--no-auth" not in words) as server:
        page = httpx.get(server.url + "/", timeout=30)
        assert page.status_code == 200 and "sentiment" in page.text


@pytest.mark.ray
def test_quickstart_fast_on_ray_through_the_python_api(tmp_path):
    pytest.importorskip("ray")
    import io

    from rich.console import Console

    from promptyard.cli.quickstart import RichReporter
    from promptyard.quickstart.run import QuickstartSettings, run_quickstart

    shown = io.StringIO()
    settings = QuickstartSettings.for_run(tmp_path / "qs", fast=True, use_ray=True)
    reporter = RichReporter(Console(file=shown, width=120))
    summary = json.loads(json.dumps(run_quickstart(settings, reporter=reporter), default=str))
    assert summary["ray"] is True
    _check_registry(summary)
    _check_report(summary)
    text = shown.getvalue()  # every step narrated, each search's trials table included
    for needle in ("Step 1/5", "Step 5/5", "local Ray instance", "search ", "PASS" if summary["gate"]["passed"]
                   else "FAIL", "rollback:", "next, try:"):
        assert needle in text
