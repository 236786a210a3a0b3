"""The live queue in Chromium, with two moderators on two pages (live.js).

Moderator A decides, and B's page drops the comment and updates the pending count
without a reload; a comment held while B is all caught up appears in B's batch, and
one held while B is busy shows in a "N new" bar.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import pytest

from moderation.domain.models import Role
from moderation.http.context import DATABASE, LIVE_FEED
from moderation.services.keys import Keys, digest
from tests.browser.pages import Page, held
from tests.conftest import Service

pytestmark = pytest.mark.usefixtures("chromium")
with contextlib.suppress(ImportError):  # the `chromium` fixture says so before any test
    from playwright.async_api import expect


async def signed_in(make_page: Callable[[], Awaitable[Page]], key: str) -> Page:
    ui = await make_page()
    await ui.open()
    await ui.sign_in(key)
    await expect(ui.page.locator("#live-status")).to_have_attribute("data-state", "live")
    return ui


async def claims_run_out(service: Service, key: str) -> None:
    """``key``'s claims end as when their time is up: silently, with no release."""
    database = service.client.app[DATABASE]
    holder = await database.key_by_hash(digest(key))
    assert holder is not None
    async with database.transaction() as store:
        assert await store.release(holder.id, None) > 0


async def test_what_another_moderator_claims_or_decides_leaves_the_page_without_reload(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    for name in ("c-1", "c-2", "c-3"):
        await held(service, name)
    other = await Keys(service.client.app[DATABASE]).create("moderator-a", Role.moderator)
    b = await signed_in(make_page, service.keys["moderator"])
    entries, summary = b.page.locator(".queue-entry"), b.page.locator("#queue-summary")
    await expect(entries).to_have_count(3)
    await expect(summary).to_contain_text("3 pending in the queue")
    b_urls = len(b.request_urls)

    # B's claims run out, and moderator A approves c-2: it leaves B's page, the count follows.
    await claims_run_out(service, service.keys["moderator"])
    async with service.client.post(
        "/v1/comments/c-2/decision",
        headers={"Authorization": f"Bearer {other.secret}"},
        json={"action": "approve"},
    ) as response:
        assert response.status == 200
    await expect(b.page.locator('.queue-entry[data-id="c-2"]')).to_have_count(0)
    await expect(entries).to_have_count(2)
    await expect(summary).to_contain_text("2 pending in the queue")
    await expect(b.page.locator("#status")).to_contain_text(
        "c-2 left your batch: moderator-a approved it."
    )

    # A opens the page and claims the rest: they leave B's page too.
    a = await signed_in(make_page, other.secret)
    await expect(a.page.locator(".queue-entry")).to_have_count(2)
    await expect(entries).to_have_count(0)
    # A decides one on the page: B's count follows, still without a reload.
    await a.page.keyboard.press("a")
    await expect(summary).to_contain_text("1 pending in the queue")
    await expect(a.page.locator("#queue-summary")).to_contain_text("1 pending in the queue")
    assert not any(url.endswith("/ui/") for url in b.request_urls[b_urls:])
    # The pages never put a key in a URL: each stream opened with a one-time token.
    for ui, key in ((a, other.secret), (b, service.keys["moderator"])):
        streams = [url for url in ui.request_urls if "/v1/queue/events?" in url]
        assert streams and all("token=sst_" in url for url in streams)
        assert all(key not in url for url in ui.request_urls)
    a.assert_clean()
    b.assert_clean()


async def test_a_newly_held_comment_appears_and_the_count_follows(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    b = await signed_in(make_page, service.keys["moderator"])
    await expect(b.page.locator("#queue-detail")).to_contain_text("All caught up")
    entries = b.page.locator(".queue-entry")
    await expect(entries).to_have_count(0)

    # All caught up: a comment held now is claimed and shown at once (no 30 s poll).
    await held(service, "c-new")
    await expect(entries).to_have_count(1)
    await expect(b.page.locator("#queue-detail article")).to_have_attribute("data-id", "c-new")
    await expect(b.page.locator("#queue-summary")).to_contain_text("1 pending in the queue")

    # Busy with a batch: the next one is announced in the "N new" bar, and the count moves.
    await held(service, "c-later")
    await held(service, "c-latest")
    await expect(b.page.locator("#live-new")).to_be_visible()
    await expect(b.page.locator("#live-new")).to_contain_text("2 new comments")
    await expect(b.page.locator("#queue-summary")).to_contain_text("3 pending in the queue")
    await expect(entries).to_have_count(1)
    await b.page.click("#live-new-claim")
    await expect(entries).to_have_count(3)
    await expect(b.page.locator("#live-new")).to_be_hidden()

    # The author deletes one: it leaves the batch, and the queue.
    status, _ = await service.call("DELETE", "/v1/comments/c-later")
    assert status == 200
    await expect(entries).to_have_count(2)
    await expect(b.page.locator("#queue-summary")).to_contain_text("2 pending in the queue")
    b.assert_clean()


async def test_a_dropped_stream_is_reopened_and_resumes_where_it_was(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    b = await signed_in(make_page, service.keys["moderator"])
    entries, status = b.page.locator(".queue-entry"), b.page.locator("#live-status")
    await held(service, "c-1")
    await expect(entries).to_have_count(1)
    # The service ends the stream (as a process that stops does); a comment is held while
    # the page is away.
    service.client.app[LIVE_FEED].close_subscribers("shutdown")
    await held(service, "c-2")
    await expect(status).to_have_attribute("data-state", "live")
    await expect(b.page.locator("#live-new")).to_contain_text("1 new comment")
    await expect(b.page.locator("#queue-summary")).to_contain_text("2 pending in the queue")
    streams = [url for url in b.request_urls if "/v1/queue/events?" in url]
    assert len(streams) == 2 and "last_event_id=" in streams[1]
    b.assert_clean()
