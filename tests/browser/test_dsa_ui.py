"""The moderators' page and the EU Digital Services Act (docs/dsa.md), in a real Chromium
through Playwright: a reader's notice in the queue with what the reader wrote, a rejection
on the ground of illegal content with the law broken, and an author's appeal with the
decision appealed, its statement of reasons and its moderator, reversed by another
moderator. Fixtures and helpers: tests/browser/conftest.py and pages.py."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from moderation.domain.models import Role
from moderation.http.context import DATABASE
from moderation.services.keys import Keys
from tests.browser.pages import Page, comment, eventually
from tests.conftest import Service

pytestmark = pytest.mark.usefixtures("chromium")
with contextlib.suppress(ImportError):  # the `chromium` fixture says so before any test
    from playwright.async_api import expect


# -- signing in and out --------------------------------------------------------------------


NOTICE: dict[str, Any] = {
    "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "explanation": "It insults a named neighbour of mine.",
    "legal_ground": "Criminal Code, section 185",
    "reporter": {"name": "Erika Mustermann", "email": "erika@example.org"},
    "bona_fide": True,
}


async def noticed(service: Service, comment_id: str) -> None:
    status, body = await service.post_comment(id=comment_id, text="A calm remark.")
    assert status == 201 and body["status"] == "approved", body
    status, body = await service.call("POST", f"/v1/comments/{comment_id}/notices", json=NOTICE)
    assert status == 202, body


async def test_a_notice_shows_what_the_reader_wrote(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await noticed(service, "c-1")
    ui = await make_page()
    await ui.open()
    await ui.sign_in(service.keys["moderator"])
    page = ui.page
    entry = page.locator(".queue-entry")
    await expect(entry).to_have_count(1)
    await expect(entry.locator('.prio[data-code="notice"]')).to_have_text("notice")
    panel = page.locator("#queue-detail .notice-panel")
    await expect(panel).to_contain_text("Notice of illegal content from a reader")
    await expect(panel).to_contain_text("Illegal or harmful speech")
    await expect(panel.locator(".reporter-text")).to_have_text(NOTICE["explanation"])
    await expect(panel).to_contain_text("Criminal Code, section 185")
    # Never who the reader is.
    await expect(panel).not_to_contain_text("Erika")
    await expect(panel).not_to_contain_text("erika@example.org")
    ui.assert_clean()


async def test_rejecting_as_illegal_sends_the_law(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await noticed(service, "c-1")
    ui = await make_page()
    await ui.deciding(service.keys["moderator"], "c-1")
    page = ui.page
    await expect(page.locator("#decision-ground")).to_have_value("guidelines")
    await expect(page.locator("#decision-legal-ground")).to_be_hidden()
    await page.select_option("#decision-ground", "illegal")
    law = page.locator("#decision-legal-ground")
    await expect(law).to_be_visible()
    # Illegal content without the law: nothing is sent, the page says why.
    await page.click("#reject-button")
    await expect(page.locator("#alert")).to_contain_text("Law broken")
    await expect(page.locator("#queue-detail article")).to_have_attribute("data-id", "c-1")
    assert (await comment(service, "c-1"))["status"] == "pending"
    await law.fill("Criminal Code, section 185")
    await page.click("#reject-button")

    async def rejected() -> bool:
        return bool((await comment(service, "c-1"))["status"] == "rejected")

    await eventually(rejected)
    decision = (await comment(service, "c-1"))["decision"]
    assert decision["by"] == "moderator" and decision["action"] == "reject"
    assert decision["ground"] == "illegal"
    assert decision["legal_ground"] == "Criminal Code, section 185"
    assert decision["statement"]["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert decision["statement"]["illegal_content_legal_ground"] == "Criminal Code, section 185"
    ui.assert_clean()


async def test_an_appeal_shows_the_decision_and_another_moderator_reverses_it(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await service.post_comment(id="c-1", text="A calm remark.")
    status, body = await service.call(
        "POST",
        "/v1/comments/c-1/decision",
        role="moderator",
        json={"action": "reject", "reason": "Off topic", "rule": "keep-it-civil"},
    )
    assert status == 200, body
    status, opened = await service.call(
        "POST",
        "/v1/comments/c-1/appeals",
        json={"author_id": "u-1", "explanation": "It was satire, not an insult."},
    )
    assert status == 201, opened
    ui = await make_page()
    await ui.open()
    # The moderator who rejected it sees the appeal but may not answer it.
    await ui.sign_in(service.keys["moderator"])
    page = ui.page
    entry = page.locator(".queue-entry")
    await expect(entry).to_have_count(1)
    await expect(entry.locator('.prio[data-code="appeal"]')).to_have_text("appeal")
    panel = page.locator("#queue-detail .appeal-panel")
    await expect(panel.locator(".author-text")).to_have_text("It was satire, not an insult.")
    original = panel.locator(".original-decision")
    await expect(original).to_contain_text("Reject")
    await expect(original).to_contain_text("by test-moderator")
    await expect(original).to_contain_text("Off topic")
    await expect(original).to_contain_text("Breaks our guidelines")
    await expect(original).to_contain_text("Guideline cited")
    await expect(original).to_contain_text("Flagged by automation")
    await page.fill("#appeal-reason", "Read in its thread, it is irony.")
    await page.click("#appeal-reverse")
    await expect(page.locator("#appeal-feedback")).to_contain_text("another moderator")
    assert (await comment(service, "c-1"))["status"] == "rejected"
    await page.click("#sign-out")
    await expect(page.locator("#signin-view")).to_be_visible()
    # Another moderator reverses it: the comment is published.
    other = await Keys(service.client.app[DATABASE]).create(
        f"other-moderator-{uuid.uuid4().hex[:6]}", Role.moderator
    )
    await ui.sign_in(other.secret)
    await expect(panel.locator(".author-text")).to_have_text("It was satire, not an insult.")
    await page.click("#appeal-reverse")
    await expect(page.locator("#appeal-feedback")).to_contain_text("answer to the author")
    await page.fill("#appeal-reason", "Read in its thread, it is irony.")
    await page.click("#appeal-reverse")
    await expect(page.locator("#status")).to_contain_text("the comment is published")

    async def published() -> bool:
        return bool((await comment(service, "c-1"))["status"] == "approved")

    await eventually(published)
    decided = await comment(service, "c-1")
    assert decided["decision"]["by"] == "moderator"
    assert decided["decision"]["moderator"] == other.key.name
    _, shown = await service.call("GET", f"/v1/appeals/{opened['id']}")
    assert shown["status"] == "decided" and shown["outcome"] == "reversed"
    ui.assert_clean(allowed=[(409, "/decision")])
