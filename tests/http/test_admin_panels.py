"""What the admin page's panels read over HTTP: backtest samples with their text, and each
webhook's delivery backlog and last failing deliveries in ``GET /v1/webhooks``."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from moderation.domain.events import EVENTS
from moderation.domain.models import Role
from moderation.http.context import DATABASE
from moderation.services.keys import Keys
from tests.conftest import Service, ServiceFactory

HELD = "you are an idiot"  # linear: toxicity ~1.0, held at 0.9


async def loosened(service: Service) -> dict[str, Any]:
    """The guidelines in force with linear's civility hold line above every score: every
    held insult would be approved."""
    status, document = await service.call("GET", "/v1/guidelines", role="admin")
    assert status == 200
    civil = next(r for r in document["rules"] if r["id"] == "keep-it-civil")
    civil["classifiers"]["linear"]["hold_at"] = 0.99999999
    return dict(document)


async def key(service: Service, role: Role, scope: str | None) -> str:
    created = await Keys(service.client.app[DATABASE]).create(
        f"{role.name}-{scope}", role, scope=scope
    )
    return created.secret


async def call(service: Service, secret: str, method: str, path: str, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {secret}"}
    async with service.client.request(method, path, headers=headers, **kw) as response:
        return response.status, await response.json()


async def test_backtest_samples_carry_the_text_of_the_callers_scope_only(
    make_service: ServiceFactory, database_url: str
) -> None:
    service = await make_service(database_url=database_url)
    await service.post_comment(id="c-held", text=HELD)
    await service.post_comment(id="c-gone", text=HELD + " twice")
    status, _ = await service.call("DELETE", "/v1/comments/c-gone")
    assert status in (200, 204)
    site_a, admin_a = await key(service, Role.site, "a"), await key(service, Role.admin, "a")
    status, _ = await call(
        service,
        site_a,
        "POST",
        "/v1/comments",
        json={"id": "c-a", "article_id": "a-1", "author_id": "u-1", "text": HELD + " in a"},
    )
    assert status == 201
    document = await loosened(service)

    status, result = await service.call(
        "POST", "/v1/guidelines/backtest", role="admin", json={"guidelines": document}
    )
    assert status == 200, result
    texts = {s["comment_id"]: s["text"] for s in result["samples"]}
    assert texts == {"c-held": HELD, "c-gone": None, "a/c-a": None}
    for sample in result["samples"]:
        assert (sample["from"], sample["to"], sample["reasons"]) == ("hold", "approve", [])
        # The rule that holds it now is named, though the proposal gives no reason.
        assert [r["rule"] for r in sample["current_reasons"]] == ["keep-it-civil"]

    # The scoped admin tunes the same guidelines but reads only its own website's text.
    status, result = await call(
        service, admin_a, "POST", "/v1/guidelines/backtest", json={"guidelines": document}
    )
    assert status == 200, result
    texts = {s["comment_id"]: s["text"] for s in result["samples"]}
    assert texts == {"c-held": None, "c-gone": None, "a/c-a": HELD + " in a"}


async def test_backtest_refuses_bad_input(service: Service) -> None:
    document = await loosened(service)
    for body in ({"guidelines": document, "samples": 1000}, {"samples": 3}):
        status, answer = await service.call(
            "POST", "/v1/guidelines/backtest", role="admin", json=body
        )
        assert status == 422, answer
    status, _ = await service.call(
        "POST", "/v1/guidelines/backtest", role="moderator", json={"guidelines": document}
    )
    assert status == 403


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def webhooks(service: Service) -> dict[str, Any]:
    status, body = await service.call("GET", "/v1/webhooks", role="admin")
    assert status == 200, body
    return dict(body)


async def test_the_webhook_listing_shows_backlog_and_last_errors(
    make_service: ServiceFactory, database_url: str
) -> None:
    # One attempt each, then a retry a minute later: the failures stay in view.
    service = await make_service(
        database_url=database_url, webhook_poll_s=0.05, webhook_backoff_base_s=60
    )
    url = f"http://127.0.0.1:{closed_port()}/hook"
    status, dead = await service.call(
        "POST", "/v1/webhooks", role="admin", json={"url": url, "events": ["comment.approved"]}
    )
    assert status == 201
    status, idle = await service.call(
        "POST",
        "/v1/webhooks",
        role="admin",
        json={"url": "https://example.org/h", "events": ["comment.rejected"]},
    )
    assert status == 201
    listing = await webhooks(service)
    assert listing["events"] == list(EVENTS)
    for item in listing["items"]:
        assert item["backlog"] == {"pending": 0, "oldest_pending_at": None, "failing": 0}
        assert item["last_errors"] == []

    for i in range(7):
        await service.post_comment(id=f"c-{i}", text="A calm remark.")
    deadline = time.monotonic() + 10
    while True:
        items = {item["id"]: item for item in (await webhooks(service))["items"]}
        if items[dead["id"]]["backlog"]["failing"] == 7:
            break
        assert time.monotonic() < deadline, items
        await asyncio.sleep(0.05)
    _, deliveries = await service.call("GET", f"/v1/webhooks/{dead['id']}/deliveries", role="admin")
    assert len(deliveries["items"]) == 7
    backlog = items[dead["id"]]["backlog"]
    assert backlog["pending"] == 7
    assert backlog["oldest_pending_at"] == min(d["created_at"] for d in deliveries["items"])
    errors = items[dead["id"]]["last_errors"]
    assert len(errors) == 5  # the newest five, newest first
    assert [e["comment_id"] for e in errors] == ["c-6", "c-5", "c-4", "c-3", "c-2"]
    assert {(e["last_error"], e["last_status"], e["delivered"]) for e in errors} == {
        ("connection failed", None, False)
    }
    assert all(e["attempts"] == 1 and e["next_attempt_at"] for e in errors)
    # The other webhook has nothing of it.
    assert items[idle["id"]]["backlog"]["pending"] == 0
    assert items[idle["id"]]["last_errors"] == []

    status, _ = await service.call("DELETE", f"/v1/webhooks/{dead['id']}", role="admin")
    assert status == 200
    assert [item["id"] for item in (await webhooks(service))["items"]] == [idle["id"]]


async def test_the_webhook_listing_refuses_bad_input(service: Service) -> None:
    status, body = await service.call("GET", "/v1/webhooks", role="moderator")
    assert status == 403 and body["error"]["code"] == "role_too_low"
    status, body = await service.call("GET", "/v1/webhooks?limit=0", role="admin")
    assert status == 422 and body["error"]["code"] == "validation_failed"
    status, body = await service.call("GET", "/v1/webhooks?cursor=bm90LWEtY3Vyc29y", role="admin")
    assert status == 422 and body["error"]["code"] == "invalid_cursor", body
    status, body = await service.call("GET", "/v1/webhooks/wh_nope/deliveries", role="admin")
    assert status == 404 and body["error"]["code"] == "webhook_not_found"
