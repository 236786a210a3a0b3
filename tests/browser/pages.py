"""What every browser test drives: Debian's Chromium through Playwright, a page on the
service that records what it logged, and the few API helpers the tests share. The
fixtures are in ``tests/browser/conftest.py``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import Service

with contextlib.suppress(ImportError):  # the `chromium` fixture says so before any test
    from playwright.async_api import expect

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000


@dataclass
class Page:
    """A browser page on the service, with everything it logged."""

    page: Any
    base: str
    console_errors: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    request_urls: list[str] = field(default_factory=list)

    async def open(self, undo_ms: int | None = 0) -> None:
        url = self.base if undo_ms is None else f"{self.base}?undo={undo_ms}"
        await self.page.goto(url)
        await expect(self.page.locator("#signin-view")).to_be_visible()

    async def sign_in(self, key: str) -> None:
        await self.page.fill("#api-key", key)
        await self.page.press("#api-key", "Enter")
        await expect(self.page.locator("#session")).to_be_visible()

    async def deciding(self, key: str, comment_id: str) -> None:
        """Open the page without an undo delay, sign in with ``key`` and wait until the
        queue shows ``comment_id``."""
        await self.open(undo_ms=0)
        await self.sign_in(key)
        detail = self.page.locator("#queue-detail article")
        await expect(detail).to_have_attribute("data-id", comment_id)

    def assert_clean(self, allowed: Collection[tuple[int, str]] = ()) -> None:
        """No script error, no CSP report, no failed request beyond the ``allowed`` ones.

        Chromium logs every 4xx answer to fetch() as a console error; ``allowed``
        names the expected ones as (status, path) pairs, e.g. the 403 that tells a
        moderator key from an admin key.
        """
        assert self.page_errors == []
        unexpected = []
        for text, url in self.console_errors:
            expected = any(
                f"status of {status}" in text and url.split("?")[0].endswith(path)
                for status, path in allowed
            )
            if not expected:
                unexpected.append((text, url))
        assert unexpected == []


async def held(
    service: Service, comment_id: str, text: str = "you are an idiot", **kw: Any
) -> None:
    status, body = await service.post_comment(id=comment_id, text=text, **kw)
    assert status == 201 and body["status"] == "pending", body


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def comment(service: Service, comment_id: str) -> dict[str, Any]:
    status, body = await service.call("GET", f"/v1/comments/{comment_id}", role="moderator")
    assert status == 200, body
    return body  # type: ignore[no-any-return]
