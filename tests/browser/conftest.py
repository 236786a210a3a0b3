"""Fixtures of the browser tests: one Chromium per test, pages on the service."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pages import CHROMIUM_ARGS, TIMEOUT_MS, Page
from tests.conftest import Service

with contextlib.suppress(ImportError):  # the `chromium` fixture says so before any test
    from playwright.async_api import async_playwright


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Any]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def make_page(browser: Any, service: Service) -> Callable[[], Awaitable[Page]]:
    async def make() -> Page:
        context = await browser.new_context(viewport={"width": 1366, "height": 860})
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        wrapped = Page(page=page, base=str(service.client.make_url("/ui/")))
        page.on(
            "console",
            lambda msg: (
                wrapped.console_errors.append((msg.text, msg.location.get("url", "")))
                if msg.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda error: wrapped.page_errors.append(str(error)))
        page.on("request", lambda request: wrapped.request_urls.append(request.url))
        return wrapped

    return make
