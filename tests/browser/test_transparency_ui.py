"""The admin's Transparency panel (EU DSA) on the moderators' page, in a real Chromium:
the last 12 months' report figures, charted, and the statements of reasons as NDJSON.

Fixtures and helpers: ``tests/browser/conftest.py`` and ``pages.py``. Set
``UI_SCREENSHOT_TRANSPARENCY=/path/to/file.png``
to also write a screenshot of the panel."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.browser.pages import Page
from tests.conftest import Service

pytestmark = pytest.mark.usefixtures("chromium")
with contextlib.suppress(ImportError):  # the `chromium` fixture says so before any test
    from playwright.async_api import expect

NOTICE = {
    "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "explanation": "It insults a named person.",
    "bona_fide": True,
}


async def decide(service: Service, comment_id: str, action: str) -> None:
    status, body = await service.call(
        "POST", f"/v1/comments/{comment_id}/decision", role="moderator", json={"action": action}
    )
    assert status == 200, body


def this_month() -> tuple[str, str, str]:
    """This UTC month: its key (``YYYY-MM``), first day and the first day of the next."""
    now = datetime.now(UTC)
    first = now.date().replace(day=1)
    following = (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else (first.replace(month=first.month + 1))
    )
    return first.isoformat()[:7], first.isoformat(), following.isoformat()


async def test_admin_sees_this_months_transparency_figures_and_downloads_statements(
    service: Service, make_page: Callable[[], Awaitable[Page]]
) -> None:
    # Held by the classifier, rejected by a moderator: agrees with the automatic hold.
    status, body = await service.post_comment(id="c-1", text="you are an idiot")
    assert status == 201 and body["status"] == "pending", body
    await decide(service, "c-1", "reject")
    # Published, held by a notice, approved by a moderator: disagrees.
    await service.post_comment(id="c-2", text="A calm remark.")
    status, body = await service.call("POST", "/v1/comments/c-2/notices", json=NOTICE)
    assert status == 202, body
    await decide(service, "c-2", "approve")
    month, first, following = this_month()
    status, report = await service.call(
        "GET", f"/v1/transparency/report?from={first}&to={following}", role="admin"
    )
    assert status == 200, report
    assert report["notices"]["total"] == 1
    assert report["decisions"]["total"] >= 2
    assert report["automated_accuracy"] == {"decided_by_moderators_after_auto": 2, "agreed": 1}

    ui = await make_page()
    await ui.open()
    await ui.sign_in(service.keys["admin"])
    page = ui.page
    await page.click("#admin-tab")
    panel = page.locator("#transparency-section")
    await panel.scroll_into_view_if_needed()
    # One row per month, newest first; this month's figures are the report's.
    await expect(page.locator("#tr-rows tr")).to_have_count(12)
    row = page.locator("#tr-rows tr").first
    await expect(row).to_have_attribute("data-month", month)
    await expect(row.locator('[data-figure="notices"]')).to_have_text("1")
    decisions = str(report["decisions"]["total"])
    await expect(row.locator('[data-figure="decisions"]')).to_have_text(decisions)
    automated = str(report["decisions"]["automated"]["fully"])
    await expect(row.locator('[data-figure="automated"]')).to_have_text(automated)
    await expect(row.locator('[data-figure="appeals"]')).to_have_text("0")
    await expect(row.locator('[data-figure="agreement"]')).to_have_text("50% of 2")
    await expect(page.locator("#tr-summary")).to_contain_text(
        f"1 notice, {decisions} restricting decisions, 0 appeals"
    )
    # Four charts, drawn as inline SVG: this month's notice bar is there, earlier months
    # (nothing happened then) have none.
    await expect(page.locator("#tr-charts figure")).to_have_count(4)
    notices_chart = page.locator('#tr-charts [data-chart="notices"]')
    await expect(notices_chart.locator("rect.tr-bar")).to_have_count(1)
    await expect(notices_chart.locator("svg")).to_have_attribute(
        "aria-label", "Notices received, last 12 months. This month: 1 notices."
    )
    await expect(page.locator('#tr-charts [data-chart="decisions"] rect.tr-bar')).not_to_have_count(
        0
    )

    # The statements of this month, downloaded as NDJSON: those the API exports.
    await expect(page.locator("#tr-from")).to_have_value(first)
    await expect(page.locator("#tr-to")).to_have_value(following)
    async with page.expect_download() as waiting:
        await page.click("#tr-download")
    download = await waiting.value
    assert download.suggested_filename == f"statements-{first}-{following}.ndjson"
    lines = Path(await download.path()).read_text(encoding="utf-8").splitlines()
    status, exported = await service.call(
        "GET", f"/v1/transparency/statements?from={first}&to={following}", role="admin"
    )
    assert status == 200
    assert lines == exported.splitlines()
    assert len(lines) == report["decisions"]["total"]
    assert {json.loads(line)["puid"] for line in lines} >= {"c-1", "c-2"}
    if screenshot := os.environ.get("UI_SCREENSHOT_TRANSPARENCY"):
        await panel.screenshot(path=screenshot)
    ui.assert_clean()
