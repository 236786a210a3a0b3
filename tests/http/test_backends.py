"""The website flow end to end on each database backend (PostgreSQL when it answers)."""

from __future__ import annotations

import asyncio

from tests.conftest import ServiceFactory


async def test_pipeline_on_backend(make_service: ServiceFactory, database_url: str) -> None:
    service = await make_service(database_url=database_url)
    status, body = await service.post_comment(id="c-1", text="A measured reply.")
    assert (status, body["status"]) == (201, "approved")
    status, _ = await service.post_comment(id="c-1", text="A measured reply.")
    assert status == 200
    status, _ = await service.post_comment(id="c-1", text="Something else.")
    assert status == 409
    status, body = await service.call("PUT", "/v1/comments/c-1", json={"text": "you are an idiot"})
    assert body["status"] == "pending"
    for reporter in ("r1", "r2", "r3"):
        await service.call("POST", "/v1/comments/c-1/reports", json={"reporter_id": reporter})
    status, body = await service.call("DELETE", "/v1/comments/c-1")
    assert body["text"] is None and len(body["history"]) == 2
    results = await asyncio.gather(
        *[service.post_comment(id="c-race", text="Same.") for _ in range(6)]
    )
    assert sorted(s for s, _ in results) == [200] * 5 + [201]
    status, body = await service.call("GET", "/healthz")
    assert body["database"] == "ok"


async def test_a_moderator_never_publishes_text_they_did_not_read(
    make_service: ServiceFactory, database_url: str
) -> None:
    """The attack: a held comment is read by a moderator; its author edits it into a
    banned word (rejected automatically); the moderator's approve then published the new
    text. The decision names the revision read, and a changed comment is 409."""
    service = await make_service(database_url=database_url)
    status, held = await service.post_comment(id="c-rev", text="you are an idiot")
    assert held["status"] == "pending" and held["revision"] == 1
    status, seen = await service.call("GET", "/v1/comments/c-rev", role="moderator")
    read = seen["revision"]
    status, edited = await service.call(
        "PUT", "/v1/comments/c-rev", json={"text": "you are a kike"}
    )
    assert edited["status"] == "rejected" and edited["revision"] == read + 2  # edit, decision
    status, body = await service.call(
        "POST",
        "/v1/comments/c-rev/decision",
        role="moderator",
        json={"action": "approve", "revision": read},
    )
    assert status == 409 and body["error"]["code"] == "comment_changed", body
    status, now = await service.call("GET", "/v1/comments/c-rev", role="moderator")
    assert now["status"] == "rejected" and now["revision"] == edited["revision"]
    # Read again, the moderator decides what they saw.
    status, body = await service.call(
        "POST",
        "/v1/comments/c-rev/decision",
        role="moderator",
        json={"action": "reject", "revision": now["revision"]},
    )
    assert status == 200 and body["revision"] == now["revision"] + 1, body
    # Without a revision the decision is taken as before (older clients).
    status, body = await service.call(
        "POST", "/v1/comments/c-rev/decision", role="moderator", json={"action": "reject"}
    )
    assert status == 200 and body["revision"] == now["revision"] + 2
    # Deleting is a revision too.
    status, body = await service.call("DELETE", "/v1/comments/c-rev")
    assert body["revision"] == now["revision"] + 3
