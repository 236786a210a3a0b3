from tests.browser.test_ui import *  # noqa


async def test_dev_shots(service, make_page):
    await service.call(
        "PUT", "/v1/articles/a-1", json={"title": "T", "tags": ["war"], "mode": "auto"}
    )
    for i in range(12):
        await service.post_comment(
            id=f"c-ok{i}", text=f"A calm remark number {i}.", author_id=f"u-{i % 3}"
        )
    await held(service, "c-1", author_id="u-1", article_tags=["war"])
    await held(service, "c-2", text="what the hell is this", author_id="u-2")
    await held(service, "c-3", text="see example.com", author_id="u-2")
    await service.call(
        "POST",
        "/v1/comments/c-1/decision",
        role="moderator",
        json={"action": "reject", "reason": "insult", "note": "third time"},
    )
    await service.call(
        "POST", "/v1/comments/c-2/decision", role="moderator", json={"action": "approve"}
    )
    ui = await make_page()
    await ui.open(undo_ms=5000)
    await ui.sign_in(service.keys["admin"])
    p = ui.page
    await expect(p.locator(".queue-entry")).to_have_count(1)
    await p.keyboard.press("a")
    await p.wait_for_timeout(300)
    await p.screenshot(path="/tmp/shot-undo.png")
    await p.keyboard.press("u")
    await p.click("#decided-tab")
    await p.locator("#decided-rows button", has_text="c-1").first.click()
    await p.wait_for_timeout(300)
    await p.screenshot(path="/tmp/shot-decided.png", full_page=True)
    await p.click("#admin-tab")
    await p.get_by_label("keep-it-civil, linear: hold at").fill("0.995")
    await p.click("#gl-preview")
    await expect(p.locator("#bt-changed")).to_be_visible()
    await p.screenshot(path="/tmp/shot-admin.png", full_page=True)
    await p.get_by_label("keep-it-civil: reject at").fill("0.5")
    await p.click("#gl-preview")
    await p.wait_for_timeout(300)
    await p.screenshot(path="/tmp/shot-admin-422.png")
    await p.keyboard.press("?")
    await p.screenshot(path="/tmp/shot-help.png")
    print(ui.console_errors, ui.page_errors)
