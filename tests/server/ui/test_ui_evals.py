"""Eval runs in a real browser, on two real runs of the tiny model: the run page, and the compare page,
which shows the same deltas, intervals, tests and flips as ``promptyard eval compare --json``. The data,
templates, messages, descriptions and outputs hold ``<script>``, ``onerror=`` and ``javascript:``: every
page shows them as text and runs nothing (no dialog, no console error, no injected element)."""

from __future__ import annotations

import json
import subprocess

import pytest

from promptyard import Registry
from tests.server.live import PROMPTYARD, cli_env
from tests.server.ui.conftest import open_page, shot, sign_in

pytestmark = pytest.mark.slow

SCRIPT = '<script>alert("script")</script>'
ONERROR = '<img src=x onerror=alert("onerror")>'
JS_URL = 'javascript:alert("js")'
NAME = "xss/sent"
REVIEWS = [("a wonderful, moving film", ONERROR), ("dull, slow and badly written", JS_URL),
           ("I loved every minute of it", ONERROR), ("a boring mess that wastes its cast", JS_URL),
           ("charming and funny from start to finish", ONERROR), ("the worst movie of the year", JS_URL),
           (f"{SCRIPT} a delightful surprise", ONERROR), ("tedious, predictable and far too long", JS_URL)]


def cli(served, *args: str) -> str:
    done = subprocess.run([*PROMPTYARD, "--registry", str(served.path), *args],
                          env=cli_env(served.server.home, served.path), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def runs(served, tmp_path_factory, _shared_model_cache):
    """Two stored runs of the tiny causal model, one per version of a prompt full of payloads."""
    cache = served.server.home / "cache"  # the CLI's cache (cli_env): share the session's built models
    cache.mkdir(parents=True, exist_ok=True)
    for kind in ("models", "hashes"):
        if not (cache / kind).exists():
            (cache / kind).symlink_to(_shared_model_cache / kind, target_is_directory=True)
    data = tmp_path_factory.mktemp("xss-data") / "reviews.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in REVIEWS))
    variables = [{"name": "text", "description": ONERROR}]
    with Registry.open(served.path) as reg:
        reg.commit(NAME, {"kind": "single", "text": f"Review: {{{{ text }}}} {SCRIPT}\nSentiment:",
                          "variables": variables}, f"first {ONERROR}", task_type="classification",
                   description=f"see {JS_URL}", author=f"{SCRIPT}")
        reg.commit(NAME, {"kind": "single", "text": f"{ONERROR} Is this review positive?\n{{{{ text }}}}\nAnswer:",
                          "variables": variables}, f"second {JS_URL}")
        reg.label(f"{NAME}@2", "staging", reason=f"because {SCRIPT}")
    ids = []
    for version in (1, 2):
        out = json.loads(cli(served, "eval", "run", "--prompt", f"{NAME}@{version}", "--model", "tiny-causal",
                             "--data", str(data), "--split", "all", "--metric", "accuracy", "--metric", "f1",
                             "--no-cache", "--json"))
        ids.append(out["run_id"])
    return ids


def test_the_compare_page_shows_what_eval_compare_json_prints(served, runs, browser, shots):
    a, b = runs
    expected = json.loads(cli(served, "eval", "compare", str(a), str(b), "--json"))
    w = open_page(browser)
    page = w.page
    sign_in(w, served.url, served.tokens["reader"])
    page.goto(f"{served.url}/evals/{a}")
    page.select_option("select[name=b]", str(b))
    with page.expect_navigation(url=f"**/evals/compare?a={a}&b={b}", timeout=180_000):  # 1000 paired resamples
        page.click("form[action='/evals/compare'] button", no_wait_after=True)
    shot(w, shots, "eval-compare")
    sections = page.locator("section.comparison")
    assert sections.count() == len(expected) == 1
    cell = expected[0]
    assert f"{cell['n']} common examples" in sections.first.inner_text()
    assert f"{cell['n_flipped']['fixed']} fixed · {cell['n_flipped']['broken']} broken" in sections.first.inner_text()
    for metric in cell["metrics"]:
        row = sections.first.locator(f"tr[data-metric='{metric['name']}'] td").all_inner_texts()
        ci = metric["ci"] if "ci" in metric else {"low": metric["low"], "high": metric["high"]}
        assert row == [metric["name"], f"{metric['a']:.4f}", f"{metric['b']:.4f}", f"{metric['delta']:+.4f}",
                       f"[{ci['low']:+.4f}, {ci['high']:+.4f}]", metric["test"]["test"],
                       f"{metric['test']['p_value']:.4g}"]
    flips = [r.locator("td").all_inner_texts() for r in sections.first.locator("table.flips tbody tr").all()]
    if cell["flipped"]:
        assert [[f[0], f[4]] for f in flips] == [[str(f["index"]), f["direction"]] for f in cell["flipped"]]
    deltas = page.locator("td.delta").all_inner_texts()
    # cell against cell (here the only cell of each run): the same numbers through compare_cells
    page.goto(f"{served.url}/evals/compare?a={a}&b={b}&ca=0&cb=0", timeout=180_000)
    assert page.locator("td.delta").all_inner_texts() == deltas
    w.assert_nothing_ran()


def test_payloads_show_as_text_and_run_nothing(served, runs, browser, shots):
    a, _ = runs
    w = open_page(browser)
    page = w.page
    sign_in(w, served.url, served.tokens["admin"])
    pages = {"/?q=xss": [JS_URL], f"/prompts/{NAME}": [SCRIPT, ONERROR, JS_URL],
             f"/prompts/{NAME}/-/template?v=1": [SCRIPT, ONERROR],
             f"/prompts/{NAME}/-/diff?a=1&b=2": [SCRIPT, ONERROR],
             f"/evals/{a}": [ONERROR, JS_URL], f"/evals/{a}?wrong=1&label={JS_URL}": [JS_URL]}
    for path, payloads in pages.items():
        page.goto(served.url + path)
        text = page.inner_text("main")
        for payload in payloads:
            assert payload in text, f"{payload!r} is not shown as text on {path}"
        assert page.locator("main img, main script, main iframe, main object").count() == 0, path
        assert page.locator("[onerror], [onload], a[href^='javascript'], [src^='javascript']").count() == 0, path
        assert page.locator("script").count() == 1  # ui.js, nothing else
    shot(w, shots, "eval-run")
    # the example filters: one reference label; wrong ones only
    page.goto(served.url + f"/evals/{a}")
    page.select_option("select[name=label]", ONERROR)
    page.wait_for_url("**label=*")
    references = page.locator("#example-rows tbody tr td:nth-child(2)").all_inner_texts()
    assert references == [ONERROR] * sum(y == ONERROR for _, y in REVIEWS)
    page.select_option("select[name=label]", "")
    page.wait_for_url(lambda url: "label=&" in url or url.endswith("label="))
    page.check("input[name=wrong]")
    page.wait_for_url("**wrong=1*")
    marks = page.locator("#example-rows tbody tr .mark").all_inner_texts()
    assert marks and set(marks) == {"✗"} and page.locator("#example-rows tbody tr.right").count() == 0
    page.goto(f"{served.url}/prompts/{NAME}/-/play?v=1")
    page.fill("textarea[name='var.text']", f"{ONERROR} {JS_URL}")
    page.click("#play button[type=submit]")
    assert f"Review: {ONERROR} {JS_URL} {SCRIPT}" in page.inner_text("#rendered-text")
    assert page.locator("main img").count() == 0
    w.assert_nothing_ran()
