"""Webhooks: signed deliveries, retries with backoff, delivery after a restart, slow receivers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from moderation.workers.webhook_sender import backoff, sign
from tests.conftest import Service, ServiceFactory

FAST = {"webhook_poll_s": 0.05, "webhook_backoff_base_s": 0.05, "webhook_timeout_s": 2.0}


@dataclass
class Receiver:
    """A website's webhook endpoint: answers with the queued statuses, then 200."""

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((body, dict(request.headers)))
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.statuses.pop(0) if self.statuses else 200
        self.answered.append(status)
        return web.Response(status=status, text="ok")

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/hook"))

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.received]


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    receiver.server = await aiohttp_server(app)
    return receiver


async def subscribe(service: Service, url: str, events: list[str] | None = None) -> dict[str, Any]:
    status, body = await service.call(
        "POST",
        "/v1/webhooks",
        role="admin",
        json={
            "url": url,
            "events": events or ["comment.approved", "comment.rejected", "comment.held"],
        },
    )
    assert status == 201, body
    assert body["secret"].startswith("whsec_")
    return dict(body)


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a website does (README: "Verifying webhook signatures")."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


async def test_status_changes_are_delivered_signed(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    service = await make_service(**FAST)
    hook = await subscribe(service, receiver.url)
    await service.post_comment(id="c-1", text="A calm remark.")
    await service.post_comment(id="c-2", text="you are an idiot")
    await wait_for(lambda: len(receiver.received) == 2)
    for body, headers in receiver.received:
        assert verify(hook["secret"], body, headers["X-Moderation-Signature"])
        assert headers["Content-Type"] == "application/json"
    events = {e["comment"]["id"]: e for e in receiver.events()}
    assert events["c-1"]["type"] == "comment.approved"
    assert events["c-2"]["type"] == "comment.held"
    assert events["c-2"]["comment"]["decision"]["action"] == "hold"
    assert events["c-1"]["id"].startswith("evt_")
    # a moderator's decision is a status change too
    await service.call(
        "POST", "/v1/comments/c-2/decision", role="moderator", json={"action": "reject"}
    )
    await wait_for(lambda: len(receiver.received) == 3)
    assert receiver.events()[-1]["type"] == "comment.rejected"
    # an edit that keeps the status is no status change
    await service.call("PUT", "/v1/comments/c-1", json={"text": "A calm, edited remark."})
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 3


async def test_only_subscribed_events(make_service: ServiceFactory, receiver: Receiver) -> None:
    service = await make_service(**FAST)
    await subscribe(service, receiver.url, ["comment.rejected"])
    await service.post_comment(id="c-1", text="A calm remark.")
    await service.call(
        "POST", "/v1/comments/c-1/decision", role="moderator", json={"action": "reject"}
    )
    await wait_for(lambda: len(receiver.received) == 1)
    await asyncio.sleep(0.2)
    assert [e["type"] for e in receiver.events()] == ["comment.rejected"]


async def test_failures_are_retried_until_2xx(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    service = await make_service(**FAST)
    hook = await subscribe(service, receiver.url)
    await service.post_comment(id="c-1", text="A calm remark.")
    await wait_for(lambda: len(receiver.received) == 3)
    bodies = {body for body, _ in receiver.received}
    assert len(bodies) == 1  # the same event, byte for byte, each time
    await asyncio.sleep(0.1)
    status, body = await service.call("GET", f"/v1/webhooks/{hook['id']}/deliveries", role="admin")
    assert status == 200
    (delivery,) = body["items"]
    assert delivery["delivered"] is True
    assert delivery["attempts"] == 3
    assert delivery["last_status"] == 200


async def test_undelivered_events_go_out_after_restart(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    receiver.statuses = [500] * 1000
    first = await make_service(webhook_poll_s=0.05, webhook_backoff_base_s=0.05)
    hook = await subscribe(first, receiver.url)
    await first.post_comment(id="c-1", text="A calm remark.")
    await wait_for(lambda: len(receiver.received) >= 1)
    await first.client.close()  # the process stops with the event undelivered
    assert 200 not in receiver.answered
    receiver.statuses = []
    second = await make_service(**FAST)  # a new process on the same database file
    await wait_for(lambda: 200 in receiver.answered)
    assert json.loads(receiver.received[-1][0])["comment"]["id"] == "c-1"
    await asyncio.sleep(0.1)
    _, body = await second.call("GET", f"/v1/webhooks/{hook['id']}/deliveries", role="admin")
    assert body["items"][0]["delivered"] is True


async def test_slow_receivers_never_slow_requests(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    receiver.delay = 3.0
    service = await make_service(
        webhook_poll_s=0.05, webhook_timeout_s=0.2, webhook_backoff_base_s=10
    )
    hook = await subscribe(service, receiver.url)
    started = time.monotonic()
    for i in range(5):
        status, _ = await service.post_comment(id=f"c-{i}", text="A calm remark.")
        assert status == 201
    assert time.monotonic() - started < 2.0
    await wait_for(lambda: len(receiver.received) >= 5)
    await asyncio.sleep(0.5)
    _, body = await service.call("GET", f"/v1/webhooks/{hook['id']}/deliveries", role="admin")
    assert all(d["last_error"] == "timed out" and not d["delivered"] for d in body["items"])


async def test_webhook_management(service: Service) -> None:
    status, _ = await service.call(
        "POST", "/v1/webhooks", role="admin", json={"url": "ftp://x", "events": ["comment.held"]}
    )
    assert status == 422
    status, _ = await service.call(
        "POST",
        "/v1/webhooks",
        role="admin",
        json={"url": "https://example.org/h", "events": ["nope"]},
    )
    assert status == 422
    status, _ = await service.call(
        "POST",
        "/v1/webhooks",
        role="moderator",
        json={"url": "https://example.org/h", "events": ["comment.held"]},
    )
    assert status == 403
    hook = await subscribe(service, "https://example.org/h")
    _, listing = await service.call("GET", "/v1/webhooks", role="admin")
    assert [w["id"] for w in listing["items"]] == [hook["id"]]
    assert "secret" not in listing["items"][0]
    status, _ = await service.call("DELETE", f"/v1/webhooks/{hook['id']}", role="admin")
    assert status == 200
    status, _ = await service.call("DELETE", f"/v1/webhooks/{hook['id']}", role="admin")
    assert status == 404
    _, listing = await service.call("GET", "/v1/webhooks", role="admin")
    assert listing["items"] == []


def test_signature_and_backoff() -> None:
    assert sign("s", b"{}") == "sha256=" + hmac.new(b"s", b"{}", hashlib.sha256).hexdigest()
    delays = [backoff(n, base=1.0) for n in range(1, 12)]
    assert 0.5 <= delays[0] <= 1.5
    assert 512 <= delays[10] <= 1536
    assert all(d <= 3600 * 1.5 for d in (backoff(50) for _ in range(10)))
