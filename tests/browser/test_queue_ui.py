"""The queue view as moderators work it (issue 14), in a real Chromium: the context to judge
by, preset reasons, bulk work (selection, groups of copies, the author sweep), priority
words and order, admins who do not claim, toasts clear of the undo bar."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.browser.pages import Page, comment, eventually, held
from tests.conftest import Service

pytestmark = pytest.mark.usefixtures("chromium")
with contextlib.suppress(ImportError):  # the `chromium` fixture says so before any test
    from playwright.async_api import expect

MakePage = Callable[[], Awaitable[Page]]
CAMPAIGN = "Vote NO on measure 12, the corrupt council wants your homes! See example.com"


async def signed_in(
    make_page: MakePage, service: Service, role: str = "moderator", **kw: Any
) -> Page:
    ui = await make_page()
    await ui.open(**kw)
    await ui.sign_in(service.keys[role])
    return ui


async def actions(service: Service, comment_id: str) -> list[str]:
    return [d["action"] for d in (await comment(service, comment_id))["history"]]


async def test_context_shows_the_headline_the_parent_and_the_thread(
    service: Service, make_page: MakePage
) -> None:
    status, _ = await service.call(
        "PUT",
        "/v1/articles/a-1",
        json={
            "title": "Council votes on the bridge",
            "url": "https://news.example/bridge",
            "mode": "auto",
        },
    )
    assert status == 201
    await service.post_comment(id="p", text="The bridge is long overdue.")
    await service.post_comment(id="sib", text="Agreed, finally.", parent_id="p")
    await held(service, "reply", parent_id="p")
    ui = await signed_in(make_page, service)
    detail = ui.page.locator("#queue-detail")
    link = detail.locator(".headline a")
    await expect(link).to_have_text("Council votes on the bridge")
    await expect(link).to_have_attribute("href", "https://news.example/bridge")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await expect(detail.locator(".parent-entry")).to_contain_text("The bridge is long overdue.")
    sibling = detail.locator('.siblings .thread-entry[data-id="sib"]')
    await expect(sibling).to_contain_text("Agreed, finally.")
    await expect(sibling).to_contain_text("Approved")
    ui.assert_clean()


async def test_a_rejection_needs_a_rule_or_words_and_sends_the_rule(
    service: Service, make_page: MakePage
) -> None:
    await held(service, "c-link", text="see example.com")  # held by no rule
    ui = await signed_in(make_page, service)
    page = ui.page
    await expect(page.locator("#queue-detail article")).to_have_attribute("data-id", "c-link")
    await page.locator("#queue-detail").focus()
    await page.keyboard.press("r")
    # Nothing is preset (no rule held it): the rule list takes the focus; Enter sends nothing.
    await expect(page.locator("#decision-rule")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#armed-hint")).to_contain_text("choose the rule")
    assert await actions(service, "c-link") == ["hold"]
    await page.select_option("#decision-rule", "no-personal-insults")
    await page.locator("#decision-rule").press("Enter")
    await eventually(lambda: _decided(service, "c-link"))
    last = (await comment(service, "c-link"))["history"][-1]
    assert last["action"] == "reject" and last["reasons"][0]["rule"] == "no-personal-insults"
    assert "No personal insults" in last["message"]
    ui.assert_clean()


async def _decided(service: Service, comment_id: str) -> bool:
    return len(await actions(service, comment_id)) > 1


async def test_bulk_reject_of_selected_comments(service: Service, make_page: MakePage) -> None:
    for i in range(4):
        await held(service, f"c-{i}", text=f"you are an idiot number {i}")
    ui = await signed_in(make_page, service)
    page = ui.page
    entries = page.locator(".queue-entry")
    await expect(entries).to_have_count(4)
    first = await entries.nth(0).get_attribute("data-id")
    second = await entries.nth(1).get_attribute("data-id")
    fourth = await entries.nth(3).get_attribute("data-id")
    # x marks the current one, shift+j extends to the next; ctrl+click adds another.
    await page.locator("#queue-detail").focus()
    await page.keyboard.press("x")
    await page.keyboard.press("Shift+J")
    await entries.nth(3).click(modifiers=["Control"])
    await expect(page.locator("#bulk-count")).to_have_text("3 comments selected")
    await expect(page.locator(".queue-entry.marked")).to_have_count(3)
    # The rule that held them all is the preset reason.
    await expect(page.locator("#bulk-rule")).to_have_value("keep-it-civil")
    await page.click("#bulk-reject")
    await page.click("#confirm-yes")
    await expect(entries).to_have_count(1)
    for chosen in (first, second, fourth):
        assert chosen is not None
        history = (await comment(service, chosen))["history"]
        assert [d["action"] for d in history] == ["hold", "reject"]
        assert history[-1]["reasons"][0]["rule"] == "keep-it-civil"
    remaining = await entries.first.get_attribute("data-id")
    assert remaining is not None and await actions(service, remaining) == ["hold"]
    await expect(page.locator("#bulk-bar")).to_be_hidden()
    ui.assert_clean()


async def test_shift_click_selects_a_range_and_approves_it(
    service: Service, make_page: MakePage
) -> None:
    for i in range(3):
        await held(service, f"c-{i}", text=f"you are an idiot number {i}")
    ui = await signed_in(make_page, service)
    page = ui.page
    entries = page.locator(".queue-entry")
    await expect(entries).to_have_count(3)
    await entries.nth(2).click(modifiers=["Shift"])
    await expect(page.locator(".queue-entry.marked")).to_have_count(3)
    await page.keyboard.press("Escape")
    await expect(page.locator(".queue-entry.marked")).to_have_count(0)
    await entries.nth(0).click()
    await entries.nth(1).click(modifiers=["Shift"])
    await page.click("#bulk-approve")
    await page.click("#confirm-yes")
    await expect(entries).to_have_count(1)
    statuses = sorted([(await comment(service, f"c-{i}"))["status"] for i in range(3)])
    assert statuses == ["approved", "approved", "pending"]
    ui.assert_clean()


async def test_reject_everything_pending_by_an_author(
    service: Service, make_page: MakePage
) -> None:
    await held(service, "u9-a", author_id="u-9")
    await held(service, "u9-b", text="you are a moron", author_id="u-9")
    await held(service, "other", text="you are a total idiot", author_id="u-3")
    ui = await signed_in(make_page, service)
    page = ui.page
    await page.locator('.queue-entry[data-id="u9-a"]').click()
    sweep = page.locator("#author-sweep")
    await expect(sweep).to_have_text("Reject all 2 pending by this author")
    await sweep.click()
    await page.click("#confirm-yes")
    await expect(page.locator(".queue-entry")).to_have_count(1)
    await expect(page.locator(".queue-entry").first).to_have_attribute("data-id", "other")
    for comment_id in ("u9-a", "u9-b"):
        history = (await comment(service, comment_id))["history"]
        assert [d["action"] for d in history] == ["hold", "reject"]
        assert history[-1]["reasons"][0]["rule"] == "keep-it-civil"  # the preset rule
    assert await actions(service, "other") == ["hold"]
    ui.assert_clean()


async def test_a_group_of_copies_is_decided_together_each_as_if_alone(
    service: Service, make_page: MakePage
) -> None:
    await held(service, "copy-1", text=CAMPAIGN)
    await held(service, "copy-2", text=CAMPAIGN.upper())
    await held(service, "copy-3", text=CAMPAIGN.replace("homes", "houses"))
    await held(service, "lone", text="you are an idiot")
    ui = await signed_in(make_page, service)
    page = ui.page
    await page.locator('.queue-entry[data-id="copy-2"]').click()
    await expect(page.locator("#queue-detail .alike")).to_contain_text("3 near-identical")
    await expect(page.locator('.queue-entry[data-id="copy-1"] .entry-alike')).to_be_visible()
    await page.locator("#queue-detail").focus()
    await page.keyboard.press("g")
    await expect(page.locator(".queue-entry.marked")).to_have_count(3)
    await page.keyboard.press("Shift+A")
    await page.click("#confirm-yes")
    await expect(page.locator(".queue-entry")).to_have_count(1)
    for copy in ("copy-1", "copy-2", "copy-3"):
        history = (await comment(service, copy))["history"]
        assert [d["action"] for d in history] == ["hold", "approve"]
        assert history[-1]["moderator"] == "test-moderator"
    assert await actions(service, "lone") == ["hold"]
    ui.assert_clean()


async def test_a_group_reaches_copies_beyond_the_batch(
    service: Service, make_page: MakePage
) -> None:
    """A campaign of 13 copies outgrows a batch of 10: the group takes the rest along."""
    for i in range(13):
        await held(service, f"copy-{i:02}", text=CAMPAIGN, author_id=f"u-{i}")
    ui = await signed_in(make_page, service)
    page = ui.page
    await expect(page.locator(".queue-entry")).to_have_count(10)
    alike = page.locator("#queue-detail .alike")
    await expect(alike).to_contain_text("13 near-identical")
    await expect(alike).to_contain_text("3 more waiting in the queue")
    await page.locator("#queue-detail").focus()
    await page.keyboard.press("g")
    await expect(page.locator("#bulk-count")).to_have_text("13 comments selected")
    # Held for their link, by no rule: a rejection needs one chosen (or words).
    await page.click("#bulk-reject")
    await expect(page.locator("#alert")).to_contain_text("Choose the rule")
    await page.select_option("#bulk-rule", "keep-it-civil")
    await page.click("#bulk-reject")
    await page.click("#confirm-yes")
    await expect(page.locator("#status")).to_contain_text("Rejected 13 comments")
    for i in range(13):
        assert await actions(service, f"copy-{i:02}") == ["hold", "reject"]
    ui.assert_clean()


async def test_priority_in_words_and_the_order_control(
    service: Service, make_page: MakePage
) -> None:
    await held(service, "linked", text="see example.com")
    await held(service, "toxic", text="you are an idiot")
    ui = await signed_in(make_page, service)
    page = ui.page
    entries = page.locator(".queue-entry")
    await expect(entries).to_have_count(2)
    await expect(entries.nth(0)).to_have_attribute("data-id", "toxic")
    await expect(entries.nth(0).locator(".prio-warn")).to_have_text("toxic")
    await expect(entries.nth(1).locator(".prio-info")).to_have_text("link")
    await expect(entries.nth(1).locator(".entry-wait")).to_contain_text("waiting")
    # A moderator sees the lines in force on the score bars, also where no reason names
    # one (this comment was held for its link).
    await entries.nth(1).click()
    bar = page.locator('#queue-detail .score-row[data-category="toxicity"]')
    await expect(bar).to_contain_text("hold 0.90")
    await expect(bar.locator("line.mark-hold")).to_have_count(1)
    await page.select_option("#queue-sort", "age")
    await expect(entries.nth(0)).to_have_attribute("data-id", "linked")
    await page.select_option("#queue-sort", "priority")
    await expect(entries.nth(0)).to_have_attribute("data-id", "toxic")
    ui.assert_clean()


async def test_an_admin_claims_only_in_the_queue_view(
    service: Service, make_page: MakePage
) -> None:
    await held(service, "c-1")
    ui = await signed_in(make_page, service, role="admin")
    page = ui.page
    await expect(page.locator("#admin-view")).to_be_visible()
    await expect(page.locator("#gl-version")).to_have_text("version 1")
    _, queue = await service.call("GET", "/v1/queue", role="moderator")
    assert queue["items"][0]["claim"] is None
    assert not any(url.endswith("/v1/queue/claim") for url in ui.request_urls)
    await page.click("#queue-tab")
    await expect(page.locator(".queue-entry")).to_have_count(1)
    _, queue = await service.call("GET", "/v1/queue", role="moderator")
    assert queue["items"][0]["claim"]["by"] == "test-admin"
    ui.assert_clean()


async def test_toasts_stay_clear_of_the_undo_bar(service: Service, make_page: MakePage) -> None:
    # A long text makes the undo bar wide enough to reach the toasts' corner.
    await held(service, "c-1", text="see example.com, " + "and you never read the article " * 4)
    ui = await signed_in(make_page, service, undo_ms=8000)
    page = ui.page
    await page.set_viewport_size({"width": 820, "height": 700})  # half a laptop screen
    # "a" acts on the comment shown: before it shows, there is none to approve.
    await expect(page.locator("#queue-detail article")).to_have_attribute("data-id", "c-1")
    await page.locator("#queue-detail").focus()
    await page.keyboard.press("a")
    toast = page.locator("#status")
    bar = page.locator("#undo-bar")
    await expect(toast).to_be_visible()
    await expect(bar).to_be_visible()
    a = await toast.bounding_box()
    b = await bar.bounding_box()
    assert a is not None and b is not None
    apart = (
        a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
        or a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
    )
    assert apart, (a, b)
    await page.click("#undo-button")
    await expect(bar).to_be_hidden()
    ui.assert_clean()
