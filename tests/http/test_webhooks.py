"""Webhooks: signed deliveries, retries with backoff, delivery after a restart, slow receivers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
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


# -- destinations: only public addresses, unless the operator allows more -------------------

#: URLs whose host is a non-public address in some spelling, or a local name.
NON_PUBLIC = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://127.0.0.1:8080/hook",
    "http://0.0.0.0/hook",
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://0177.0.0.1/hook",
    "http://127.1/hook",
    "http://0x7f.1/hook",
    "http://127.0.0.1./hook",
    "http://224.0.0.1/hook",
    "http://255.255.255.255/hook",
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::]/hook",  # 6to4 of 169.254.169.254
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",  # Teredo, client 127.0.0.1
    "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://[fec0::1]/hook",
    "https://user:password@127.0.0.1/hook",
    "http://localhost/hook",
    "http://localhost:8080/hook",
    "http://LocalHost./hook",
    "http://admin.localhost/hook",
    "http://printer.local/hook",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://999.0.0.1/hook",
]


@pytest.mark.parametrize("url", NON_PUBLIC)
async def test_non_public_destinations_are_refused_at_registration(
    make_service: ServiceFactory, url: str
) -> None:
    service = await make_service(webhook_allow_hosts="")
    status, body = await service.call(
        "POST", "/v1/webhooks", role="admin", json={"url": url, "events": ["comment.held"]}
    )
    assert status == 422, body
    error = body["error"]
    assert error["code"] == "webhook_destination_refused"
    assert [d["field"] for d in error["details"]] == ["url"]
    # The hostile URL is never echoed back.
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    assert host.lower() not in json.dumps(body).lower()
    _, listing = await service.call("GET", "/v1/webhooks", role="admin")
    assert listing["items"] == []


async def test_the_allow_list_admits_an_internal_receiver(
    make_service: ServiceFactory, receiver: Receiver, tmp_path: Path
) -> None:
    closed = await make_service(webhook_allow_hosts="")
    status, body = await closed.call(
        "POST",
        "/v1/webhooks",
        role="admin",
        json={"url": receiver.url, "events": ["comment.approved"]},
    )
    assert status == 422 and body["error"]["code"] == "webhook_destination_refused"
    service = await make_service(
        webhook_allow_hosts="127.0.0.0/8", data_dir=tmp_path / "allowed", **FAST
    )
    await subscribe(service, receiver.url, ["comment.approved"])
    # Only the networks on the list: other non-public addresses stay refused.
    status, _ = await service.call(
        "POST",
        "/v1/webhooks",
        role="admin",
        json={"url": "http://10.0.0.5/hook", "events": ["comment.approved"]},
    )
    assert status == 422
    await service.post_comment(id="c-1", text="A calm remark.")
    await wait_for(lambda: len(receiver.received) == 1)


async def test_a_name_resolving_to_loopback_is_refused_at_delivery(
    make_service: ServiceFactory,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The name passes registration; what it resolves to is checked at each delivery."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "receiver.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert receiver.server is not None
    url = f"http://receiver.test:{receiver.server.port}/hook"
    service = await make_service(webhook_allow_hosts="", **FAST)
    hook = await subscribe(service, url, ["comment.approved"])
    await service.post_comment(id="c-1", text="A calm remark.")
    delivery = await wait_for_attempts(service, hook["id"], 2)
    assert receiver.received == []
    assert delivery["delivered"] is False
    assert delivery["last_error"] == "refused: non-public address"
    assert delivery["last_status"] is None
    # Named on the allow-list, the same receiver gets it.
    allowed = await make_service(
        webhook_allow_hosts="receiver.test", data_dir=tmp_path / "allowed", **FAST
    )
    await subscribe(allowed, url, ["comment.approved"])
    await allowed.post_comment(id="c-2", text="A calm remark.")
    await wait_for(lambda: len(receiver.received) >= 1)
    assert {e["comment"]["id"] for e in receiver.events()} == {"c-2"}


async def wait_for_attempts(service: Service, hook_id: str, attempts: int) -> dict[str, Any]:
    """The webhook's one delivery, once it has failed at least ``attempts`` times."""
    found: dict[str, Any] = {}

    async def failed_enough() -> bool:
        _, body = await service.call("GET", f"/v1/webhooks/{hook_id}/deliveries", role="admin")
        items = body["items"]
        if items and items[0]["attempts"] >= attempts and items[0]["last_error"]:
            found.update(items[0])
            return True
        return False

    deadline = time.monotonic() + 10
    while not await failed_enough():
        assert time.monotonic() < deadline, "not attempted in time"
        await asyncio.sleep(0.05)
    return found


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_not_followed_and_the_event_is_retried(
    make_service: ServiceFactory, aiohttp_server: Any, status: int
) -> None:
    answered: list[str] = []
    landed: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        answered.append(request.method)
        return web.Response(status=status, headers={"Location": "/elsewhere"})

    async def elsewhere(request: web.Request) -> web.Response:
        await request.read()
        landed.append(request.method)
        return web.Response(text="ok")  # a 2xx here must never count as delivered

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_route("*", "/elsewhere", elsewhere)
    server = await aiohttp_server(app)
    service = await make_service(**FAST)
    created = await subscribe(service, str(server.make_url("/hook")), ["comment.approved"])
    await service.post_comment(id="c-1", text="A calm remark.")
    delivery = await wait_for_attempts(service, created["id"], 2)
    assert len(answered) >= 2  # retried
    assert landed == []  # the redirect's target got nothing: no re-POST, no GET
    assert delivery["delivered"] is False
    assert delivery["last_status"] == status
    assert delivery["last_error"] == "redirect not followed"


async def test_credentials_in_urls_are_masked_but_used_for_delivery(
    make_service: ServiceFactory, aiohttp_server: Any
) -> None:
    authorizations: list[str | None] = []

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        authorizations.append(request.headers.get("Authorization"))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    url = f"http://hooks:s3cret-Pa55@127.0.0.1:{server.port}/hook?site=1"
    masked = f"http://***@127.0.0.1:{server.port}/hook?site=1"
    service = await make_service(**FAST)
    created = await subscribe(service, url, ["comment.approved"])
    assert created["url"] == masked
    _, listing = await service.call("GET", "/v1/webhooks", role="admin")
    assert [w["url"] for w in listing["items"]] == [masked]
    _, audit = await service.call("GET", "/v1/audit", role="admin")
    (entry,) = [e for e in audit["items"] if e["action"] == "webhook.create"]
    assert entry["details"]["url"] == masked
    assert "s3cret" not in json.dumps(listing) + json.dumps(audit) + json.dumps(created)
    await service.post_comment(id="c-1", text="A calm remark.")
    await wait_for(lambda: len(authorizations) == 1)
    expected = "Basic " + base64.b64encode(b"hooks:s3cret-Pa55").decode()
    assert authorizations == [expected]
