"""The admin side of the moderators' page and its Decided tab, in a real Chromium: backtest
examples with their text, the Decided tab's placeholder and statement of reasons, an invalid
threshold explained where it was typed, keys and webhooks created (their secret shown once),
revoked and deleted, and a webhook's backlog and last errors."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.browser.pages import Page, eventually, held
from tests.conftest import Service, ServiceFactory

pytestmark = pytest.mark.usefixtures("chromium")
with contextlib.suppress(ImportError):  # the `chromium` fixture says so before any test
    from playwright.async_api import expect

MARKUP = "<b>you</b> are an idiot"


@pytest.fixture
async def service(make_service: ServiceFactory) -> Service:
    # Webhooks: polled often, retried only after a minute, so failures stay in view.
    return await make_service(webhook_poll_s=0.05, webhook_backoff_base_s=60)


async def admin_page(service: Service, make_page: Callable[[], Awaitable[Page]]) -> Page:
    ui = await make_page()
    await ui.open()
    await ui.sign_in(service.keys["admin"])
    await ui.page.click("#admin-tab")
    await expect(ui.page.locator("#gl-version")).to_have_text("version 1")
    return ui


async def api(service: Service, method: str, path: str, **kw: Any) -> Any:
    status, body = await service.call(method, path, role="admin", **kw)
    assert 200 <= status < 300, (status, body)
    return body


# -- backtest examples ---------------------------------------------------------------------


async def test_backtest_examples_show_the_text_the_change_and_the_rule(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await held(service, "c-markup", text=MARKUP)
    await held(service, "c-gone", text="you are an idiot, deleted")
    status, _ = await service.call("DELETE", "/v1/comments/c-gone")
    assert status in (200, 204)
    ui = await admin_page(service, make_page)
    page = ui.page
    await page.get_by_label("keep-it-civil, linear: hold at").fill("0.99999999")
    await page.click("#gl-preview")
    samples = page.locator("#backtest-result .sample")
    await expect(samples).to_have_count(2)
    shown = page.locator('#backtest-result .sample[data-id="c-markup"]')
    # The text, as text: the markup is shown, never made into elements.
    await expect(shown.locator(".sample-text")).to_have_text(MARKUP)
    assert await page.locator("#backtest-result .sample b").count() == 0
    await expect(shown.locator(".badge").first).to_have_text("Hold")
    await expect(shown.locator(".badge").nth(1)).to_have_text("Approve")
    await expect(shown.locator(".sample-rule")).to_have_text(
        "Rule: Keep the debate respectful (keep-it-civil)"
    )
    await expect(shown).to_contain_text("Toxicity score")
    # A deleted comment's text is gone for good.
    gone = page.locator('#backtest-result .sample[data-id="c-gone"]')
    await expect(gone.locator(".sample-text")).to_contain_text("no text")
    await expect(gone).not_to_contain_text("idiot")
    ui.assert_clean()


async def test_toasts_leave_the_overrides_table_and_the_save_hint_uncovered(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await held(service, "c-1")
    ui = await admin_page(service, make_page)
    page = ui.page
    await page.get_by_label("keep-it-civil, linear: hold at").fill("0.99999999")
    await page.click("#gl-preview")
    toast = page.locator("#status")
    await expect(toast).to_contain_text("would be decided differently")
    for target in ("#overrides-rows", "#gl-save-hint"):
        # Scrolled to the bottom of the window, where the toasts are.
        await page.locator(target).evaluate("e => e.scrollIntoView({block: 'end'})")
        await expect(toast).to_be_visible()
        box = await page.locator(target).bounding_box()
        over = await toast.bounding_box()
        assert box and over
        apart = (
            over["x"] >= box["x"] + box["width"]
            or box["x"] >= over["x"] + over["width"]
            or over["y"] >= box["y"] + box["height"]
            or box["y"] >= over["y"] + over["height"]
        )
        assert apart, (target, box, over)
    ui.assert_clean()


# -- the Decided tab -------------------------------------------------------------------------


async def test_decided_tab_says_what_to_do_and_shows_the_statement_of_reasons(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await service.post_comment(id="c-ok", text="A calm remark.")
    await held(service, "c-bad")
    await service.call(
        "POST",
        "/v1/comments/c-bad/decision",
        role="moderator",
        json={"action": "reject", "rule": "keep-it-civil"},
    )
    ui = await make_page()
    await ui.open()
    await ui.sign_in(service.keys["moderator"])
    page = ui.page
    await page.click("#decided-tab")
    await expect(page.locator("#decided-rows tr")).to_have_count(2)
    detail = page.locator("#decided-detail")
    # Before a row is chosen: what to do, not an empty box.
    await expect(detail).to_be_visible()
    await expect(detail.locator("h2")).to_have_text("No comment chosen")
    await expect(detail).to_contain_text("Choose a comment in the table")

    await page.locator('#decided-rows tr[data-id="c-bad"]').click()
    statement = detail.locator(".statement-panel")
    await expect(statement).to_contain_text("Statement of reasons")
    await expect(statement).to_contain_text("Breaks our guidelines")
    await expect(statement).to_contain_text("partly automated")
    await expect(statement).to_contain_text("removed")
    await expect(statement.locator("dd").last).to_contain_text("appeal")
    # An approval restricts nothing: no statement.
    await page.locator('#decided-rows tr[data-id="c-ok"]').click()
    await expect(detail.locator(".comment-text")).to_have_text("A calm remark.")
    await expect(detail.locator(".statement-panel")).to_have_count(0)

    # Filters that match nothing say so in the panel too.
    await page.fill("#f-author", "nobody")
    await page.click("#f-apply")
    await expect(detail.locator("h2")).to_have_text("Nothing to show")
    ui.assert_clean()


# -- an invalid threshold ----------------------------------------------------------------------


async def test_an_invalid_threshold_is_explained_and_save_returns_once_fixed(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    await held(service, "c-1")
    ui = await admin_page(service, make_page)
    page = ui.page
    save = page.locator("#gl-save")
    await page.get_by_label("keep-it-civil, linear: hold at").fill("0.99999999")
    await page.click("#gl-preview")
    await expect(page.locator("#bt-changed")).to_have_text("1")
    await expect(save).to_be_enabled()

    hold = page.get_by_label("keep-it-civil: hold at", exact=True)
    before = await hold.input_value()
    await hold.fill("1.7")
    await expect(hold).to_have_attribute("aria-invalid", "true")
    message = page.locator(f"#{await hold.get_attribute('aria-describedby')}")
    expected = "keep-it-civil: hold at must be from 0 to 1 (not 1.7), or blank for no line."
    await expect(message).to_be_visible()
    await expect(message).to_have_text(expected)
    await expect(save).to_be_disabled()
    await expect(page.locator("#gl-save-hint")).to_contain_text(expected)
    reject = page.get_by_label("keep-it-civil, linear: reject at")
    reject_before = await reject.input_value()
    await reject.fill("x")
    await expect(page.locator("#gl-save-hint")).to_contain_text("2 values are fixed")
    await expect(page.locator(f"#{await reject.get_attribute('aria-describedby')}")).to_have_text(
        "keep-it-civil, linear: reject at must be a number from 0 to 1, blank to inherit,"
        " or off for no line."
    )

    await reject.fill(reject_before)
    await hold.fill(before)
    await expect(message).to_be_hidden()
    await expect(hold).not_to_have_attribute("aria-invalid", "true")
    # The draft is the one previewed again: Save is back.
    await expect(save).to_be_enabled()
    await save.click()
    await expect(page.locator("#gl-version")).to_have_text("version 2")
    ui.assert_clean()


# -- webhooks ------------------------------------------------------------------------------


async def test_admin_creates_and_deletes_a_webhook_and_sees_its_secret_once(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    ui = await admin_page(service, make_page)
    page = ui.page
    await page.context.grant_permissions(["clipboard-write"])
    await expect(page.locator("#webhooks-rows")).to_contain_text("No webhooks")

    # Refused destinations are explained at the form, by field.
    await page.fill("#webhook-url", "http://10.1.2.3/hook")
    await page.click("#webhook-create")
    await expect(page.locator("#webhook-error")).to_contain_text("url: ")
    await expect(page.locator("#webhook-url")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#webhook-created")).to_be_hidden()

    await page.fill("#webhook-url", "http://127.0.0.1:9/hook")
    await page.get_by_label("comment.held").uncheck()
    await page.click("#webhook-create")
    box = page.locator("#webhook-created")
    await expect(box).to_be_visible()
    await expect(box).to_contain_text("shown only this once and cannot be shown again")
    secret = await box.get_by_label("The webhook's signing secret").input_value()
    assert secret.startswith("whsec_")
    # The page may write the clipboard but never read it (Permissions-Policy): watch the
    # write instead.
    await page.evaluate(
        """() => {
          const write = navigator.clipboard.writeText.bind(navigator.clipboard);
          navigator.clipboard.writeText = (text) => { window.copied = text; return write(text); };
        }"""
    )
    await box.get_by_role("button", name="Copy", exact=True).click()
    await expect(box.get_by_role("button", name="Copied", exact=True)).to_be_visible()
    assert await page.evaluate("window.copied") == secret

    (hook,) = (await api(service, "GET", "/v1/webhooks"))["items"]
    assert hook["events"] == ["comment.approved", "comment.rejected"]
    assert "secret" not in hook
    row = page.locator(f'#webhooks-rows tr[data-webhook="{hook["id"]}"]')
    await expect(row).to_contain_text("none pending")

    # Dismissed, the secret leaves the page; a reload never brings it back.
    await box.get_by_role("button", name="I have copied it").click()
    await expect(box).to_be_hidden()
    await page.click("#admin-reload")
    await expect(row).to_be_visible()
    assert secret not in await page.content()

    # Deleting asks first; cancelling keeps it.
    await row.get_by_role("button", name="Delete").click()
    await expect(page.locator("#confirm-dialog")).to_contain_text("Delete the webhook to")
    await page.click("#confirm-no")
    await expect(row).to_be_visible()
    await row.get_by_role("button", name="Delete").click()
    await page.click("#confirm-yes")
    await expect(page.locator("#webhooks-rows")).to_contain_text("No webhooks")
    assert (await api(service, "GET", "/v1/webhooks"))["items"] == []
    ui.assert_clean({(422, "/v1/webhooks")})


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_failing_webhook_shows_its_backlog_and_last_errors(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    hook = await api(
        service,
        "POST",
        "/v1/webhooks",
        json={"url": f"http://127.0.0.1:{closed_port()}/hook", "events": ["comment.approved"]},
    )
    for i in range(2):
        await service.post_comment(id=f"c-{i}", text="A calm remark.")

    async def both_failed() -> bool:
        items = (await api(service, "GET", "/v1/webhooks"))["items"]
        return bool(items[0]["backlog"]["failing"] == 2)

    await eventually(both_failed)
    ui = await admin_page(service, make_page)
    row = ui.page.locator(f'#webhooks-rows tr[data-webhook="{hook["id"]}"]')
    await expect(row.locator(".backlog")).to_contain_text("2 pending")
    await expect(row.locator(".backlog")).to_contain_text("oldest")
    await expect(row.locator(".backlog")).to_contain_text("2 failing")
    errors = row.locator(".delivery-errors li")
    await expect(errors).to_have_count(2)
    await expect(errors.first).to_contain_text("connection failed")
    await expect(errors.first).to_contain_text("comment.approved of c-1")
    await expect(errors.first).to_contain_text("1 attempt, next")
    ui.assert_clean()


# -- keys ----------------------------------------------------------------------------------


async def test_admin_creates_and_revokes_a_key(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    ui = await admin_page(service, make_page)
    page = ui.page
    rows = page.locator("#keys-rows tr")
    await expect(rows).to_have_count(3)
    # The admin's own key is marked, so it is not revoked by mistake.
    await expect(page.locator("#keys-rows tr", has_text="test-admin")).to_contain_text("you")

    await page.click("#key-create")  # no name
    await expect(page.locator("#key-error")).to_contain_text("Give the key a name")
    await expect(page.locator("#key-name")).to_have_attribute("aria-invalid", "true")

    await page.fill("#key-name", "www2")
    await page.select_option("#key-role", "site")
    await page.fill("#key-scope", "shop")
    await page.click("#key-create")
    box = page.locator("#key-created")
    await expect(box).to_contain_text("www2")
    await expect(box).to_contain_text("shown only this once")
    secret = await box.get_by_label("The new API key").input_value()
    await expect(rows).to_have_count(4)
    async with service.client.get(
        "/v1/me", headers={"Authorization": f"Bearer {secret}"}
    ) as answer:
        me = await answer.json()
        assert answer.status == 200
    assert (me["name"], me["role"], me["scope"]) == ("www2", "site", "shop")

    # The same name for the same role again: said at the form.
    await page.fill("#key-name", "www2")
    await page.select_option("#key-role", "site")
    await page.fill("#key-scope", "shop")
    await page.click("#key-create")
    await expect(page.locator("#key-error")).to_contain_text("already has that name")

    row = page.locator(f'#keys-rows tr[data-key="{me["key_id"]}"]')
    await row.get_by_role("button", name="Revoke").click()
    await expect(page.locator("#confirm-text")).to_contain_text("Revoke the site key “www2”")
    await page.click("#confirm-no")
    await expect(row).to_contain_text("active")
    await row.get_by_role("button", name="Revoke").click()
    await page.click("#confirm-yes")
    await expect(row).to_contain_text("revoked")
    await expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    async with service.client.get(
        "/v1/me", headers={"Authorization": f"Bearer {secret}"}
    ) as answer:
        assert answer.status == 401
    ui.assert_clean({(409, "/v1/keys")})
