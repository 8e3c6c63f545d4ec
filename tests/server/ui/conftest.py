"""A real server and a real headless Chromium (Debian's package, driven by Playwright) for the web UI's tests.

One server and one browser per module; each test opens fresh contexts (own cookies) through
:func:`open_page`, which records every dialog, console error and page error so a test can assert that
nothing ran. Screenshots go
to ``$PROMPTYARD_UI_SCREENSHOTS`` (else a folder under pytest's temp dir), printed at the end of the run.
Where the browser is missing the tests skip saying why; in CI (``CI=true``) they fail instead, since
``make test`` installs it there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import Served, seed_registry
from tests.server.live import LiveServer


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Each module of the UI's tests gets its own server over the seeded registry (the server tests share one
    per session): these tests commit, move labels, store eval runs and revoke tokens."""
    root = tmp_path_factory.mktemp("ui-served")
    path = root / "reg" / "registry.db"
    tokens = seed_registry(path)
    with LiveServer(path, root) as server:
        yield Served(server, path, tokens)


CHROMIUM = Path(os.environ.get("PROMPTYARD_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
_SHOTS: list[Path] = []


def _missing(why: str) -> None:
    message = (f"the browser tests cannot run: {why}. Install it with `apt-get install -y chromium chromium-driver` "
               "and `pip install playwright` (`make test` does both)")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed")
    if not CHROMIUM.exists():
        _missing(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("PROMPTYARD_UI_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "ui-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    _SHOTS.append(folder)
    return folder


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in _SHOTS:
        terminalreporter.write_line(f"UI screenshots: {folder}")


@dataclass
class Watched:
    """A page and everything it showed that a script would cause."""

    page: Any
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def assert_nothing_ran(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.page_errors == [], f"a script failed: {self.page_errors}"
        assert self.console_errors == [], f"console errors: {self.console_errors}"


def open_page(browser: Any, *, viewport: dict[str, int] = DESKTOP, color_scheme: str = "light") -> Watched:
    context = browser.new_context(viewport=viewport, color_scheme=color_scheme)
    context.set_default_timeout(15_000)
    page = context.new_page()
    watched = Watched(page)

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda msg: msg.type == "error" and watched.console_errors.append(msg.text))
    page.on("pageerror", lambda exc: watched.page_errors.append(str(exc)))
    return watched


def sign_in(watched: Watched, base_url: str, secret: str) -> None:
    page = watched.page
    page.goto(f"{base_url}/signin")
    page.fill("input[name=token]", secret)
    page.click("#signin button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def shot(watched: Watched, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    watched.page.screenshot(path=str(path), full_page=True)
    return path
