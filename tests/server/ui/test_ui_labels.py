"""Promote and roll back in a real browser: a write token moves staging and the move shows in the label
history under its name; production asks an admin for a confirmation and a reason; a read token sees no
buttons and its forged POST is refused (403), as are a POST without the CSRF token and one from another site."""

from __future__ import annotations

import httpx
import pytest

from promptyard import Registry
from tests.registry.helpers import TEMPLATES
from tests.server.ui.conftest import open_page, shot, sign_in

NAME = "ui/labels"


@pytest.fixture(scope="module")
def labelled(served):
    with Registry.open(served.path) as reg:
        for word in ("One", "Two", "Three"):
            reg.commit(NAME, TEMPLATES["single"](word), f"version {word}")
        reg.label(f"{NAME}@1", "production", force=True, reason="first release")
        reg.label(f"{NAME}@1", "staging")
    return served


def labels_now(served) -> dict[str, int]:
    with served.client("reader") as client:
        return client.get(f"/api/v1/prompts/{NAME}/-/labels").json()["labels"]


def history_rows(page) -> list[list[str]]:
    return [row.locator("td").all_inner_texts() for row in page.locator("#label-history tbody tr").all()]


def test_a_write_token_moves_staging_and_rolls_it_back(labelled, browser, shots):
    w = open_page(browser)
    page = w.page
    sign_in(w, labelled.url, labelled.tokens["writer"])
    page.goto(f"{labelled.url}/prompts/{NAME}")
    options = page.locator("#move-label select[name=label] option").all_inner_texts()
    assert "staging" in options and not any("production" in o for o in options)  # protected: admins only
    page.select_option("#move-label select[name=label]", "staging")
    page.select_option("#move-label select[name=version]", "3")
    page.fill("#move-label input[name=reason]", "ready for review")
    page.click("#move-label button[type=submit]")
    page.wait_for_url("**moved=staging**")
    assert "staging moved from 1 to 3" in page.locator(".flash").inner_text()
    when, label, frm, to, action, who, reason = history_rows(page)[0]
    assert (label, frm, to, action, who, reason) == ("staging", "v1", "v3", "move", "writer", "ready for review")
    assert labels_now(labelled)["staging"] == 3
    shot(w, shots, "prompt-after-move")

    page.fill("#labels form:has(input[value=staging]) input[name=reason]", "not yet")
    page.click("#labels button:has-text('Roll back staging')")
    page.wait_for_url("**moved=staging**")
    assert history_rows(page)[0][1:] == ["staging", "v3", "v1", "rollback", "writer", "not yet"]
    assert labels_now(labelled) == {"production": 1, "staging": 1}
    w.assert_nothing_ran()


def test_an_admin_confirms_a_protected_label_with_a_reason(labelled, browser, shots):
    w = open_page(browser)
    page = w.page
    sign_in(w, labelled.url, labelled.tokens["admin"])
    page.goto(f"{labelled.url}/prompts/{NAME}")
    page.select_option("#move-label select[name=label]", "production")
    page.select_option("#move-label select[name=version]", "2")
    page.click("#move-label button[type=submit]")
    confirm = page.locator("#confirm-form")
    assert confirm.is_visible() and "production" in page.locator("h1").inner_text()
    assert labels_now(labelled)["production"] == 1  # nothing moved before the confirmation
    shot(w, shots, "confirm-production")
    assert page.locator("#confirm-form input[name=reason]").get_attribute("required") is not None
    page.fill("#confirm-form input[name=reason]", "release 2")
    page.click("#confirm-form button[type=submit]")
    page.wait_for_url("**moved=production**")
    assert history_rows(page)[0][1:] == ["production", "v1", "v2", "move", "admin", "release 2"]
    assert labels_now(labelled)["production"] == 2
    w.assert_nothing_ran()


def test_a_read_token_sees_no_buttons_and_its_forged_posts_are_refused(labelled, browser):
    before = labels_now(labelled)
    w = open_page(browser)
    page = w.page
    sign_in(w, labelled.url, labelled.tokens["reader"])
    page.goto(f"{labelled.url}/prompts/{NAME}")
    assert page.locator("#move-label").count() == 0
    assert page.locator("form[action$='/-/rollback'], form[action$='/-/label']").count() == 0
    assert "labels can be seen, not moved" in page.inner_text("main")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")  # the sign-out form's: valid for it
    forged = page.request.post(f"{labelled.url}/prompts/{NAME}/-/label",
                               form={"csrf": csrf, "label": "staging", "version": "3", "reason": "forged"})
    assert forged.status == 403 and "this needs" in forged.text()
    rolled = page.request.post(f"{labelled.url}/prompts/{NAME}/-/rollback", form={"csrf": csrf, "label": "staging"})
    assert rolled.status == 403
    # the JSON API refuses the same token the same way
    with labelled.client("reader") as client:
        assert client.put(f"/api/v1/prompts/{NAME}/-/labels/staging", json={"version": 3}).status_code == 403
    assert labels_now(labelled) == before
    w.assert_nothing_ran()


def test_a_write_session_without_the_csrf_token_or_from_another_site_is_refused(labelled, browser):
    before = labels_now(labelled)
    w = open_page(browser)
    page = w.page
    sign_in(w, labelled.url, labelled.tokens["writer"])
    url = f"{labelled.url}/prompts/{NAME}/-/label"
    form = {"label": "staging", "version": "2", "reason": "x"}
    assert page.request.post(url, form=form).status == 403
    assert page.request.post(url, form={**form, "csrf": "0" * 64}).status == 403
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    other_site = page.request.post(url, form={**form, "csrf": csrf}, headers={"Origin": "http://evil.example"})
    assert other_site.status == 403 and "another site" in other_site.text()
    # the cookie never reaches scripts and is never sent cross-site
    cookie = next(c for c in page.context.cookies() if c["name"] == "promptyard_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""
    # a bearer token without the session cookie cannot use the pages' forms either
    bearer = {"Authorization": f"Bearer {labelled.tokens['writer']}"}
    plain = httpx.post(url, data={**form, "csrf": csrf}, headers=bearer)
    assert plain.status_code == 403
    assert labels_now(labelled) == before
    w.assert_nothing_ran()
