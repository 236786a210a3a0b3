"""The moderators' web page (/ui/), driven in a real Chromium through Playwright.

The service runs on a real TCP port (aiohttp's TestServer behind the
``make_service`` fixture); the page talks to it exactly as in production. The
undo delay is shortened with ``?undo=<ms>`` (never anything that puts the key in
a URL). Set ``UI_SCREENSHOT=/path/to/file.png`` to also write a screenshot of
the queue view (``test_queue_screenshot``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from moderation.http.context import SCORER
from tests.browser.pages import Page, comment, eventually, held
from tests.conftest import Service

# Every test here needs Chromium: the fixture skips them without it (fails them under
# MODERATION_TEST_REQUIRE=chromium). What the page is served with, which needs no
# browser, is checked in tests/http/test_ui_route.py.
pytestmark = pytest.mark.usefixtures("chromium")
with contextlib.suppress(ImportError):  # the `chromium` fixture says so before any test
    from playwright.async_api import expect

XSS_TEXT = (
    'you are an idiot <script>window.__xss=1</script> and <img src=x onerror="window.__xss=2">'
)


# -- signing in and out --------------------------------------------------------------------


async def test_unknown_key_is_refused(make_page: Callable[[], Awaitable[Page]]) -> None:
    ui = await make_page()
    await ui.open()
    await ui.page.fill("#api-key", "not-a-real-key")
    await ui.page.click("#signin-button")
    await expect(ui.page.locator("#signin-error")).to_contain_text("not accepted")
    await expect(ui.page.locator("#session")).to_be_hidden()
    assert await ui.page.evaluate("sessionStorage.length") == 0
    ui.assert_clean({(401, "/v1/me")})


async def test_moderator_signs_in_and_out(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await held(service, "c-1")
    ui = await make_page()
    await ui.open()
    key = service.keys["moderator"]
    await ui.sign_in(key)
    page = ui.page
    await expect(page.locator("#whoami")).to_have_text("Moderator")
    await expect(page.locator("#admin-tab")).to_be_hidden()
    await expect(page.locator(".queue-entry")).to_have_count(1)
    assert await page.evaluate("Object.values(sessionStorage)") == [key]
    # The claim is the moderator's.
    _, queue = await service.call("GET", "/v1/queue", role="moderator")
    assert queue["items"][0]["claim"]["by"] == "test-moderator"

    # A reload keeps the session (sessionStorage), without asking again.
    await page.reload()
    await expect(page.locator("#session")).to_be_visible()

    await page.click("#sign-out")
    await expect(page.locator("#signin-view")).to_be_visible()
    await expect(page.locator("#session")).to_be_hidden()
    await expect(page.locator(".queue-entry")).to_have_count(0)
    assert await page.evaluate("sessionStorage.length") == 0
    # Signing out hands the batch back.
    _, queue = await service.call("GET", "/v1/queue", role="moderator")
    assert queue["items"][0]["claim"] is None
    assert all(key not in url for url in ui.request_urls)
    assert key not in page.url
    ui.assert_clean()


# -- the queue -----------------------------------------------------------------------------


async def test_queue_shows_claimed_comments_with_context(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await held(service, "c-insult", author_id="u-7", article_tags=["politics"])
    await held(service, "c-link", text="see example.com", author_id="u-8")
    await service.post_comment(id="c-old", text="A calm remark.", author_id="u-7")
    ui = await make_page()
    await ui.open()
    await ui.sign_in(service.keys["moderator"])
    page = ui.page
    entries = page.locator(".queue-entry")
    await expect(entries).to_have_count(2)
    # Highest priority first: the insult, selected.
    await expect(entries.first).to_have_attribute("aria-current", "true")
    detail = page.locator("#queue-detail")
    await expect(detail.locator(".comment-text")).to_have_text("you are an idiot")
    await expect(detail).to_contain_text("politics")
    await expect(detail.locator(".reason")).to_contain_text("reached the hold line 0.90")
    await expect(detail.locator(".priority-badge")).to_contain_text("Priority")
    await expect(detail.locator(".waiting")).to_contain_text("Waiting")
    # Score bar with the hold line from the reason (a moderator cannot read guidelines).
    bar = detail.locator('.score-row[data-category="toxicity"]')
    await expect(bar).to_contain_text("hold 0.90")
    await expect(bar.locator("line.mark-hold")).to_have_count(1)
    # The author's record.
    author = detail.locator(".author")
    await expect(author).to_contain_text("1 approved")
    await expect(author).to_contain_text("c-old")
    # j moves to the link comment, k back.
    await page.keyboard.press("j")
    await expect(detail.locator(".comment-text")).to_have_text("see example.com")
    await expect(detail.locator(".reason")).to_contain_text("Contains a link")
    await page.keyboard.press("k")
    await expect(detail.locator(".comment-text")).to_have_text("you are an idiot")
    # ? lists the shortcuts.
    await page.keyboard.press("?")
    await expect(page.locator("#help-dialog")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("#help-dialog")).to_be_hidden()
    ui.assert_clean()


async def test_approve_with_the_keyboard(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await held(service, "c-1")
    await held(service, "c-2", text="see example.com")
    ui = await make_page()
    # Long enough that a loaded machine cannot send the decision (and hide the bar)
    # before the bar is seen; the test then waits for the state, not for a time.
    await ui.open(undo_ms=2000)
    await ui.sign_in(service.keys["moderator"])
    page = ui.page
    detail = page.locator("#queue-detail")
    await expect(detail.locator("article")).to_have_attribute("data-id", "c-1")
    await page.keyboard.press("a")
    # The next comment comes up at once, before the decision is even sent.
    await expect(detail.locator("article")).to_have_attribute("data-id", "c-2")
    await expect(page.locator("#undo-bar")).to_be_visible()

    async def approved() -> bool:
        return bool((await comment(service, "c-1"))["status"] == "approved")

    await eventually(approved)
    decided = await comment(service, "c-1")
    assert decided["decision"]["by"] == "moderator"
    assert decided["decision"]["moderator"] == "test-moderator"
    await expect(page.locator("#undo-bar")).to_be_hidden()
    assert (await comment(service, "c-2"))["status"] == "pending"
    ui.assert_clean()


async def test_a_claim_answered_after_a_decision_does_not_bring_it_back(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    """The last comment of a batch is decided and the next claim goes out at once. If the
    server lists the comment before the decision lands and its answer reaches the page
    after the decision's, the page must not show the decided comment again (it once did:
    a full suite on a busy machine met the race)."""
    await held(service, "c-1")
    ui = await make_page()
    await ui.deciding(service.keys["moderator"], "c-1")
    page = ui.page
    claimed, answer = asyncio.Event(), asyncio.Event()

    async def claim_first_answer_late(route: Any) -> None:
        response = await route.fetch()  # the server lists c-1: not decided yet
        claimed.set()
        await answer.wait()
        await route.fulfill(response=response)

    async def decision_after_the_claim(route: Any) -> None:
        await claimed.wait()
        await route.continue_()

    await page.route("**/v1/queue/claim", claim_first_answer_late)
    await page.route("**/decision", decision_after_the_claim)
    await page.locator("#queue-detail").focus()
    await page.keyboard.press("a")

    async def approved() -> bool:
        return bool((await comment(service, "c-1"))["status"] == "approved")

    await eventually(approved)
    await asyncio.sleep(0.3)  # the page has the decision's answer
    answer.set()  # the claim's answer, listing c-1, arrives after it
    await expect(page.locator("#queue-detail")).to_contain_text("All caught up")
    await asyncio.sleep(0.3)  # nothing comes back later either
    await expect(page.locator("#queue-detail article")).to_have_count(0)
    await expect(page.locator("#queue-detail")).to_contain_text("All caught up")
    ui.assert_clean()


async def test_reject_with_a_reason_and_note(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await held(service, "c-1")
    ui = await make_page()
    await ui.deciding(service.keys["moderator"], "c-1")
    page = ui.page
    await page.fill("#decision-note", "second insult this week")
    await expect(page.locator("#decision-rule")).to_have_value("keep-it-civil")
    await expect(page.locator("#decision-rule option")).to_have_count(8)  # none + 7 rules
    await page.locator("#queue-detail").focus()
    await page.keyboard.press("r")
    reason = page.locator("#decision-reason")
    await expect(reason).to_be_focused()
    await expect(page.locator("#armed-hint")).to_contain_text("Enter to confirm")
    await page.keyboard.type("Personal attack on another reader")
    await page.keyboard.press("Enter")

    async def rejected() -> bool:
        return bool((await comment(service, "c-1"))["status"] == "rejected")

    await eventually(rejected)
    decision = (await comment(service, "c-1"))["decision"]
    assert decision["by"] == "moderator" and decision["action"] == "reject"
    assert decision["reasons"][0]["message"] == "Personal attack on another reader"
    assert decision["note"] == "second insult this week"
    # The rule that held it was preset: the decision cites it and teaches the guidelines.
    assert decision["reasons"][0]["rule"] == "keep-it-civil"
    # The batch is done and the queue is empty.
    await expect(page.locator("#queue-detail")).to_contain_text("All caught up")
    ui.assert_clean()


async def test_a_comment_edited_while_read_is_shown_again_not_decided(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    """The page sends the revision it showed; the author's edit meanwhile makes that a
    409 ``comment_changed``, and the page shows the new text instead of deciding.

    The live stream is held silent here: it would show the edit before the key press
    (test_live_ui.py covers that), and this is the guard for when it has not yet."""
    await held(service, "c-1")
    ui = await make_page()
    stalled: list[object] = []

    def stall(route: object) -> None:
        stalled.append(route)  # never answered

    await ui.page.route("**/v1/queue/events?**", stall)
    await ui.open(undo_ms=0)
    await ui.sign_in(service.keys["moderator"])
    page = ui.page
    detail = page.locator("#queue-detail")
    await expect(detail.locator("article")).to_have_attribute("data-id", "c-1")
    await expect(detail).to_contain_text("you are an idiot")
    status, body = await service.call(
        "PUT", "/v1/comments/c-1", json={"text": "you are an idiot and a total moron"}
    )
    assert status == 200 and body["status"] == "pending", body
    await page.locator("#queue-detail").focus()
    await page.keyboard.press("a")
    await expect(page.locator("#alert")).to_contain_text("changed it since you read it")
    await expect(detail.locator("article")).to_have_attribute("data-id", "c-1")
    await expect(detail).to_contain_text("a total moron")
    assert (await comment(service, "c-1"))["status"] == "pending"  # nothing was decided
    ui.assert_clean(allowed=[(409, "/v1/comments/c-1/decision")])
    assert stalled  # the page did open its live stream, and heard nothing on it


async def test_undo_cancels_the_decision(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await held(service, "c-1")
    await held(service, "c-2", text="see example.com")
    ui = await make_page()
    await ui.open(undo_ms=2500)
    await ui.sign_in(service.keys["moderator"])
    page = ui.page
    detail = page.locator("#queue-detail article")
    await expect(detail).to_have_attribute("data-id", "c-1")
    await page.keyboard.press("a")
    await expect(detail).to_have_attribute("data-id", "c-2")
    await page.click("#undo-button")
    await expect(detail).to_have_attribute("data-id", "c-1")
    await expect(page.locator(".queue-entry")).to_have_count(2)
    await expect(page.locator("#undo-bar")).to_be_hidden()
    await asyncio.sleep(3.0)  # past the delay: nothing may have been sent
    body = await comment(service, "c-1")
    assert body["status"] == "pending"
    assert [d["by"] for d in body["history"]] == ["auto"]
    ui.assert_clean()


async def test_comment_markup_is_shown_as_text_and_never_runs(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    # A premoderated article holds every comment, whatever its scores.
    status, _ = await service.call("PUT", "/v1/articles/a-xss", json={"mode": "premoderate"})
    assert status == 201
    await held(
        service,
        "c-xss",
        text=XSS_TEXT,
        article_id="a-xss",
        author_name='<img src=x onerror="window.__xss=3">',
        article_tags=["<b onmouseover=window.__xss=4>war</b>"],
    )
    ui = await make_page()
    await ui.open()
    await ui.sign_in(service.keys["moderator"])
    page = ui.page
    text = page.locator("#queue-detail .comment-text")
    await expect(text).to_have_text(XSS_TEXT)
    await expect(page.locator("#queue-list")).to_contain_text("<script>window.__xss=1</script>")
    await expect(page.locator("#queue-detail .reason")).to_contain_text("pre-moderated")
    await expect(page.locator("#queue-detail")).to_contain_text(
        '<img src=x onerror="window.__xss=3">'
    )
    await expect(page.locator("#queue-detail .tag")).to_have_text(
        "<b onmouseover=window.__xss=4>war</b>"
    )
    # Also in the decided view, with its history.
    await page.click("#decided-tab")
    await page.locator("#decided-rows button", has_text="c-xss").click()
    await expect(page.locator("#decided-detail .comment-text")).to_have_text(XSS_TEXT)
    await page.locator("#decided-detail .tag").hover()
    assert await page.evaluate("typeof window.__xss") == "undefined"
    assert await page.locator("main img, main script, main b").count() == 0
    ui.assert_clean()


# -- decided view --------------------------------------------------------------------------


async def test_decided_view_filters_history_and_overturn(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await service.post_comment(id="c-ok", text="A calm remark.", author_id="u-1")
    await held(service, "c-held", author_id="u-2")
    status, _ = await service.call(
        "POST", "/v1/comments/c-held/decision", role="moderator", json={"action": "approve"}
    )
    assert status == 200
    ui = await make_page()
    await ui.open()
    await ui.sign_in(service.keys["moderator"])
    page = ui.page
    await page.click("#decided-tab")
    rows = page.locator("#decided-rows tr")
    await expect(rows).to_have_count(2)
    await page.fill("#f-author", "u-2")
    await page.click("#f-apply")
    await expect(rows).to_have_count(1)
    await rows.first.click()
    detail = page.locator("#decided-detail")
    history = detail.locator(".history-entry")
    await expect(history).to_have_count(2)
    await expect(history.nth(0)).to_contain_text("automatic")
    await expect(history.nth(1)).to_contain_text("by test-moderator")
    await page.fill("#overturn-reason", "Insults another reader")
    await detail.get_by_role("button", name="Overturn: reject").click()
    await expect(history).to_have_count(3)
    body = await comment(service, "c-held")
    assert body["status"] == "rejected"
    assert body["decision"]["reasons"][0]["message"] == "Insults another reader"
    await expect(rows.first).to_contain_text("Rejected")
    ui.assert_clean()


# -- admin ---------------------------------------------------------------------------------


async def test_admin_edits_a_threshold_previews_and_saves(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await held(service, "c-1")  # toxicity ~1.0 on linear: held at 0.9
    await held(service, "c-2", text="what the hell")
    await service.post_comment(id="c-3", text="A calm remark.")
    ui = await make_page()
    await ui.open()
    await ui.sign_in(service.keys["admin"])
    page = ui.page
    await expect(page.locator("#whoami")).to_have_text("Admin")
    await page.click("#admin-tab")
    await expect(page.locator("#gl-version")).to_have_text("version 1")
    await expect(page.locator("#keys-rows tr")).to_have_count(3)
    await expect(page.locator("#webhooks-rows")).to_contain_text("No webhooks")
    await expect(page.locator("#hist-summary")).to_contain_text("3 recent comments")
    await expect(page.get_by_role("button", name="Save as new version")).to_be_disabled()

    # A 422 is shown field by field: hold above reject.
    await page.get_by_label("keep-it-civil: reject at").fill("0.5")
    await page.click("#gl-preview")
    await expect(page.locator("#gl-errors")).to_contain_text("keep-it-civil")
    await expect(page.locator("#gl-errors")).to_contain_text("hold_at must not be above reject_at")
    await page.get_by_label("keep-it-civil: reject at").fill("0.97")

    # Raise the linear hold line above every stored score: both held comments
    # would be approved now.
    await page.get_by_label("keep-it-civil, linear: hold at").fill("0.99999999")
    await expect(page.locator("#hist-summary")).to_contain_text("Proposed: hold 0.99999999")
    await expect(page.locator("#gl-json")).to_have_value(re.compile(r'"hold_at": 0\.99999999'))
    await page.click("#gl-preview")
    await expect(page.locator("#gl-errors")).to_be_hidden()
    await expect(page.locator("#bt-changed")).to_have_text("2")
    await expect(page.locator("#bt-changed-current")).to_have_text("2")
    matrix = page.locator(".matrix").first
    await expect(matrix.locator('td[data-from="hold"][data-to="approve"]')).to_have_text("2")
    await expect(matrix.locator('td[data-from="approve"][data-to="approve"]')).to_have_text("1")
    await expect(page.get_by_role("button", name="Save as new version")).to_be_enabled()
    await page.fill("#gl-note", "linear: hold only near-certain toxicity")
    await page.click("#gl-save")
    await expect(page.locator("#gl-version")).to_have_text("version 2")
    await expect(page.locator("#versions-rows tr")).to_have_count(2)
    await expect(page.locator("#versions-rows")).to_contain_text("0.9 → 0.99999999")

    status, guidelines = await service.call("GET", "/v1/guidelines", role="admin")
    assert status == 200 and guidelines["version"] == 2
    assert guidelines["note"] == "linear: hold only near-certain toxicity"
    civil = next(r for r in guidelines["rules"] if r["id"] == "keep-it-civil")
    assert civil["classifiers"]["linear"]["hold_at"] == 0.99999999
    assert civil["reject_at"] == 0.97

    # Restore version 1 (through the confirmation dialog).
    await page.get_by_role("button", name="Restore v1").click()
    await page.click("#confirm-yes")
    await expect(page.locator("#gl-version")).to_have_text("version 3")
    _, guidelines = await service.call("GET", "/v1/guidelines", role="admin")
    civil = next(r for r in guidelines["rules"] if r["id"] == "keep-it-civil")
    assert civil["classifiers"]["linear"]["hold_at"] == 0.9
    ui.assert_clean({(422, "/v1/guidelines/backtest")})  # the invalid edit above


async def test_admin_queue_marks_lines_from_the_guidelines(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await held(service, "c-link", text="see example.com")
    ui = await make_page()
    await ui.open()
    await ui.sign_in(service.keys["admin"])
    await ui.page.click("#queue-tab")  # admins start on the Admin view
    bar = ui.page.locator('#queue-detail .score-row[data-category="toxicity"]')
    # No threshold reason on this comment, yet the admin sees the linear lines.
    await expect(bar).to_contain_text("hold 0.90")
    await expect(bar.locator("line.mark-hold")).to_have_count(1)
    await expect(bar.locator("line.mark-reject")).to_have_count(0)  # linear never rejects
    ui.assert_clean()


async def test_admin_runs_the_identity_audit_on_the_guidelines_and_a_draft(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    from moderation.domain.identity_audit import TERMS

    ui = await make_page()
    await ui.open()
    await ui.sign_in(service.keys["admin"])
    page = ui.page
    await page.click("#admin-tab")
    await expect(page.locator("#gl-version")).to_have_text("version 1")
    section = page.locator("#identity-audit-section")

    # The guidelines in force hold none of the neutral sentences on `linear`.
    await page.click("#ia-run")
    await expect(page.locator("#ia-flagged")).to_have_text("0")
    await expect(section.locator("tr[data-term]")).to_have_count(len(TERMS))
    await expect(section.locator("tr.flagged")).to_have_count(0)
    await expect(section.locator("tr[data-baseline]")).to_contain_text("No group")
    await expect(section).to_contain_text("guidelines version 1")

    # A draft that holds from 0.5 on `linear` holds sentences naming gay people (linear
    # scores them up to ~0.77): flagged terms come first, with their worst sentence.
    await page.get_by_label("keep-it-civil, linear: hold at").fill("0.5")
    await expect(page.locator("#ia-stale")).to_be_hidden()  # the audit was not of a draft
    await page.click("#ia-draft")
    await expect(page.locator("#ia-flagged")).not_to_have_text("0")
    await expect(section).to_contain_text("by the draft")
    first = section.locator("tr[data-term]").first
    await expect(first).to_have_attribute("data-term", "gay")
    await expect(first).to_have_class(re.compile(r"\bflagged\b"))
    await expect(first.locator('td[data-share="hold"]')).to_have_class(re.compile("share-hold"))
    worst = section.locator('tr[data-worst="gay"]')
    await expect(worst).to_contain_text("gay")
    await expect(worst).to_contain_text("Hold")
    await expect(section.locator('tr[data-term="Ukrainians"]')).not_to_have_class(
        re.compile(r"\bflagged\b")
    )

    # Editing the draft again marks the audit as out of date.
    await page.get_by_label("keep-it-civil, linear: hold at").fill("0.6")
    await expect(page.locator("#ia-stale")).to_be_visible()
    ui.assert_clean()


async def test_admin_learns_from_moderators_and_loads_the_proposal(
    service: Service, make_page: Callable[[], Awaitable[Page]], encoder: Any
) -> None:
    # The page's service runs without an encoder (fast start); learning needs one.
    service.client.app[SCORER].embedder = encoder
    accusations = [
        "You're obviously a paid troll, nobody writes this drivel for free.",
        "Another bot account spreading the ministry's talking points.",
        "How much do they pay you per comment, comrade?",
    ]
    for n, text in enumerate(accusations):
        status, _ = await service.post_comment(id=f"troll-{n}", text=text)
        assert status == 201
        status, _ = await service.call(
            "POST",
            f"/v1/comments/troll-{n}/decision",
            role="moderator",
            json={"action": "reject", "rule": "no-personal-insults"},
        )
        assert status == 200

    ui = await make_page()
    await ui.open()
    await ui.sign_in(service.keys["admin"])
    page = ui.page
    await page.click("#admin-tab")
    await expect(page.locator("#gl-version")).to_have_text("version 1")
    section = page.locator("#learn-section")
    await expect(page.locator("#learn-load")).to_be_disabled()
    await page.click("#learn-run")
    await expect(section.locator("tbody tr")).to_have_count(3)
    await expect(section).to_contain_text("no-personal-insults")
    await expect(section).to_contain_text("paid troll")
    await page.click("#learn-load")
    await expect(page.locator("#gl-json")).to_have_value(re.compile("paid troll"))
    ui.assert_clean()


# -- screenshot ----------------------------------------------------------------------------


@pytest.mark.skipif(not os.environ.get("UI_SCREENSHOT"), reason="set UI_SCREENSHOT=path.png")
async def test_queue_screenshot(service: Service, make_page: Callable[[], Awaitable[Page]]) -> None:
    """Writes a screenshot of the queue view to $UI_SCREENSHOT (for the docs)."""
    await service.call(
        "PUT",
        "/v1/articles/a-1",
        json={"title": "Ceasefire talks resume", "tags": ["war", "politics"], "mode": "auto"},
    )
    await service.post_comment(id="c-1041", text="Thanks for the reporting.", author_id="u-77")
    await service.post_comment(id="c-1042", text="Good piece.", author_id="u-77")
    await held(
        service,
        "c-1043",
        text="You are an idiot if you believe a word of this. Read a book for once.",
        author_id="u-77",
        article_tags=["war", "politics"],
    )
    await held(
        service,
        "c-1044",
        text="The full transcript is at example.com/transcript, worth reading before commenting.",
        author_id="u-12",
    )
    await held(service, "c-1045", text="What the hell is wrong with these people?", author_id="u-3")
    for reporter in ("r-1", "r-2", "r-3"):
        await service.call(
            "POST", "/v1/comments/c-1042/reports", json={"reporter_id": reporter, "reason": "spam"}
        )
    ui = await make_page()
    await ui.open()
    await ui.sign_in(service.keys["moderator"])
    await expect(ui.page.locator(".queue-entry")).to_have_count(4)
    await expect(ui.page.locator("#queue-detail .author")).to_contain_text("approved")
    target = Path(os.environ["UI_SCREENSHOT"])
    target.parent.mkdir(parents=True, exist_ok=True)
    await ui.page.screenshot(path=str(target))
    assert target.stat().st_size > 10_000
    ui.assert_clean()
