"""Browsing in a real browser: the prompts list and its filters, a prompt, a diff of two versions, the
render playground (rendered messages, and the CLI's own error line for a missing variable); phone width,
dark mode and the keyboard."""

from __future__ import annotations

import subprocess

from tests.server.live import PROMPTYARD, cli_env
from tests.server.ui.conftest import PHONE, open_page, shot, sign_in


def rows(page) -> list[str]:
    return page.locator("#prompt-list tbody tr td:first-child a").all_inner_texts()


def test_list_filter_prompt_diff_and_playground(served, browser, shots):
    w = open_page(browser)
    page = w.page
    sign_in(w, served.url, served.tokens["reader"])
    assert rows(page) == ["kinds/dynamic", "kinds/multi", "kinds/single", "kinds/structured", "other/x"]
    first = page.locator("#prompt-list tbody tr").first
    assert "dynamic" in first.inner_text() and "v2" in first.inner_text()
    assert "production → 1" in first.inner_text() and "staging → 2" in first.inner_text()
    shot(w, shots, "prompts-list")

    # the keyboard: "/" jumps to the name filter, Enter filters
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.name") == "q"
    page.keyboard.type("kinds/*")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=kinds*")
    assert "other/x" not in rows(page) and len(rows(page)) == 4

    # a select filters as soon as it changes (the one script), here the template kind
    page.select_option("select[name=kind]", "multi")
    page.wait_for_url("**kind=multi*")
    assert rows(page) == ["kinds/multi"]

    page.click("text=kinds/multi")
    page.wait_for_url("**/prompts/kinds/multi")
    timeline = page.locator("#versions li").all_inner_texts()
    assert timeline[0].startswith("v2") and "staging" in timeline[0] and "second" in timeline[0]
    assert timeline[1].startswith("v1") and "production" in timeline[1] and "first" in timeline[1]
    assert page.locator("#versions .hash").count() == 2
    assert page.locator("#move-label").count() == 0  # a read token: no buttons
    shot(w, shots, "prompt")

    page.click("nav.tabs >> text=Diff")
    page.wait_for_url("**/-/diff")
    changed = page.locator("#diff-text tr.change")
    assert changed.count() == 1
    assert "You are Classify." in changed.locator("td.l").inner_text()
    assert "You are Label." in changed.locator("td.r").inner_text()
    page.select_option("select[name=a]", "2")
    page.click("text=Compare")
    page.wait_for_url("**a=2*")
    assert "same content" in page.locator(".flash").inner_text()
    page.go_back()
    shot(w, shots, "prompt-diff")

    page.click("nav.tabs >> text=Playground")
    page.wait_for_url("**/-/play")
    page.fill("textarea[name='var.x']", "a film about <b>cats</b>")
    page.click("#play button[type=submit]")
    messages = page.locator("#rendered .part")
    assert messages.count() == 2
    system = messages.nth(0).inner_text()
    assert system.lower().startswith("system") and "You are Label." in system
    assert "a film about <b>cats</b>" in messages.nth(1).inner_text()
    shot(w, shots, "prompt-playground")

    page.fill("textarea[name='var.x']", "")
    page.click("#play button[type=submit]")
    shown = page.locator("#render-error pre.cli").inner_text().strip()
    cli = subprocess.run([*PROMPTYARD, "--registry", str(served.path), "prompt", "render",
                          "kinds/multi@2"], env=cli_env(served.server.home, served.path), stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode != 0 and "x" in cli.stderr
    assert shown == cli.stderr.strip()
    shot(w, shots, "prompt-playground-error")
    w.assert_nothing_ran()


def test_phone_width_dark_mode_and_skip_link(served, browser, shots):
    w = open_page(browser, viewport=PHONE, color_scheme="dark")
    page = w.page
    sign_in(w, served.url, served.tokens["reader"])
    for path in ("/", "/prompts/kinds/structured/-/template", "/prompts/kinds/single/-/diff"):
        page.goto(served.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is wider than a phone screen by {overflow}px"
    shot(w, shots, "phone-dark-template")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    color = page.evaluate("getComputedStyle(document.body).color")
    assert _luminance(background) < 0.1 < 0.6 < _luminance(color), (background, color)
    assert "output_format" in page.goto(served.url + "/prompts/kinds/structured/-/template").text()
    # the first Tab reaches the skip link, which moves focus to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    w.assert_nothing_ran()


def _luminance(css: str) -> float:
    r, g, b = (int(x) / 255 for x in css[css.index("(") + 1:css.index(")")].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
