"""The moderators' side over real HTTP: queue, claims, decisions, overturns, authors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from moderation.domain.models import Role
from moderation.http.context import DATABASE
from moderation.services.keys import Keys
from tests.conftest import Service, ServiceFactory


async def held(
    service: Service, comment_id: str, text: str = "you are an idiot", **fields: Any
) -> None:
    status, body = await service.post_comment(id=comment_id, text=text, **fields)
    assert status == 201 and body["status"] == "pending", body


async def extra_moderator(service: Service, name: str) -> dict[str, str]:
    created = await Keys(service.client.app[DATABASE]).create(name, Role.moderator)
    return {"Authorization": f"Bearer {created.secret}"}


async def call_as(
    service: Service, headers: dict[str, str], method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    async with service.client.request(method, path, headers=headers, **kwargs) as response:
        return response.status, await response.json()


async def test_site_keys_cannot_moderate(service: Service) -> None:
    status, body = await service.call("GET", "/v1/queue", role="site")
    assert status == 403 and body["error"]["code"] == "role_too_low"
    status, _ = await service.call("GET", "/v1/guidelines", role="moderator")
    assert status == 403
    status, _ = await service.call("GET", "/v1/queue", role="admin")  # roles include lower ones
    assert status == 200


async def test_queue_lists_held_and_reported_with_reasons(service: Service) -> None:
    await held(service, "c-held")
    await service.post_comment(id="c-ok", text="A calm remark.")
    for reporter in ("r1", "r2", "r3"):
        await service.call("POST", "/v1/comments/c-ok/reports", json={"reporter_id": reporter})
    await held(service, "c-link", text="see example.com for more")
    status, body = await service.call("GET", "/v1/queue", role="moderator")
    assert status == 200
    assert body["total"] == 3
    by_id = {item["id"]: item for item in body["items"]}
    assert by_id["c-held"]["queue_reasons"] == ["threshold"]
    assert by_id["c-ok"]["queue_reasons"] == ["reader_reports"]
    assert by_id["c-link"]["queue_reasons"] == ["link"]
    assert all(item["claim"] is None for item in body["items"])
    priorities = [item["priority"] for item in body["items"]]
    assert priorities == sorted(priorities, reverse=True)
    assert by_id["c-held"]["priority"] > by_id["c-link"]["priority"]


async def test_queue_filters_and_exact_total(service: Service) -> None:
    for i in range(5):
        await held(service, f"c-a{i}", article_id="a-A")
    await held(service, "c-b", article_id="a-B", text="visit example.com")
    status, body = await service.call("GET", "/v1/queue?article_id=a-A&limit=2", role="moderator")
    assert (status, body["total"], len(body["items"])) == (200, 5, 2)
    _, body = await service.call("GET", "/v1/queue?reason=link", role="moderator")
    assert [i["id"] for i in body["items"]] == ["c-b"]
    _, body = await service.call("GET", "/v1/queue?category=toxicity", role="moderator")
    assert body["total"] == 5
    status, body = await service.call("GET", "/v1/queue?limit=0", role="moderator")
    assert status == 422


async def test_age_breaks_ties(service: Service) -> None:
    for i in range(3):
        await held(service, f"c-{i}", text="see example.com")
    _, body = await service.call("GET", "/v1/queue", role="moderator")
    assert [i["id"] for i in body["items"]] == ["c-0", "c-1", "c-2"]


async def test_claims_are_exclusive_and_renewable(service: Service) -> None:
    for i in range(4):
        await held(service, f"c-{i}")
    other = await extra_moderator(service, "Bob")
    status, mine = await service.call(
        "POST", "/v1/queue/claim", role="moderator", json={"limit": 3}
    )
    assert status == 200 and len(mine["items"]) == 3
    assert all(item["claim"]["by"] == "test-moderator" for item in mine["items"])
    _, theirs = await call_as(service, other, "POST", "/v1/queue/claim", json={"limit": 3})
    assert [i["id"] for i in theirs["items"]] == ["c-3"]
    # claiming again renews the caller's own leases
    _, again = await service.call("POST", "/v1/queue/claim", role="moderator", json={"limit": 3})
    assert {i["id"] for i in again["items"]} == {i["id"] for i in mine["items"]}
    _, queue = await service.call("GET", "/v1/queue", role="moderator")
    assert sum(1 for i in queue["items"] if i["claim"]) == 4


async def test_decision_respects_other_leases(service: Service) -> None:
    await held(service, "c-1")
    other = await extra_moderator(service, "Bob")
    await call_as(service, other, "POST", "/v1/queue/claim", json={"limit": 1})
    status, body = await service.call(
        "POST", "/v1/comments/c-1/decision", role="moderator", json={"action": "approve"}
    )
    assert status == 409 and body["error"]["code"] == "claimed_by_other"
    status, body = await call_as(
        service,
        other,
        "POST",
        "/v1/comments/c-1/decision",
        json={"action": "reject", "reason": "insult", "note": "2nd"},
    )
    assert status == 200
    assert body["status"] == "rejected"
    decision = body["decision"]
    assert (decision["by"], decision["moderator"], decision["action"]) == (
        "moderator",
        "Bob",
        "reject",
    )
    assert decision["reasons"][0]["code"] == "moderator"
    assert decision["note"] == "2nd"
    assert [d["by"] for d in body["history"]] == ["auto", "moderator"]
    assert body["history"][0]["scores"] == decision["scores"]  # scores carried along
    # the site sees the decision but not the private note
    _, seen = await service.call("GET", "/v1/comments/c-1")
    assert "note" not in seen["decision"]
    _, queue = await service.call("GET", "/v1/queue", role="moderator")
    assert queue["total"] == 0


async def test_moderator_overturns_automatic_decision(service: Service) -> None:
    await service.post_comment(id="c-1", text="A calm remark.")
    status, body = await service.call(
        "POST",
        "/v1/comments/c-1/decision",
        role="moderator",
        json={"action": "reject", "reason": "off topic spam"},
    )
    assert (status, body["status"]) == (200, "rejected")
    assert "off topic spam" in body["decision"]["message"]
    status, body = await service.call(
        "POST", "/v1/comments/c-1/decision", role="moderator", json={"action": "approve"}
    )
    assert [d["action"] for d in body["history"]] == ["approve", "reject", "approve"]


async def test_decision_validation(service: Service) -> None:
    await held(service, "c-1")
    status, _ = await service.call(
        "POST", "/v1/comments/c-1/decision", role="moderator", json={"action": "hold"}
    )
    assert status == 422
    status, _ = await service.call(
        "POST", "/v1/comments/nope/decision", role="moderator", json={"action": "approve"}
    )
    assert status == 404


async def test_release_and_expiry_return_items(make_service: ServiceFactory) -> None:
    service = await make_service()
    await held(service, "c-1")
    await held(service, "c-2")
    other = await extra_moderator(service, "Bob")
    await service.call("POST", "/v1/queue/claim", role="moderator", json={"limit": 2})
    _status, body = await service.call(
        "POST", "/v1/queue/release", role="moderator", json={"ids": ["c-1"]}
    )
    assert body == {"released": 1}
    _, theirs = await call_as(service, other, "POST", "/v1/queue/claim", json={"limit": 5})
    assert [i["id"] for i in theirs["items"]] == ["c-1"]
    # an expired lease is claimable again
    from sqlalchemy import update

    from moderation.domain.models import utcnow
    from moderation.storage.tables import CommentRow

    async with service.client.app[DATABASE].engine.begin() as conn:
        await conn.execute(update(CommentRow).values(claim_expires_at=utcnow()))
    _, theirs = await call_as(service, other, "POST", "/v1/queue/claim", json={"limit": 5})
    assert sorted(i["id"] for i in theirs["items"]) == ["c-1", "c-2"]


async def test_concurrent_claims_never_overlap(
    make_service: ServiceFactory, database_url: str
) -> None:
    service = await make_service(database_url=database_url)
    for i in range(30):
        await held(service, f"c-{i:02d}")
    moderators = [await extra_moderator(service, f"m{i}") for i in range(10)]
    results = await asyncio.gather(
        *[
            call_as(service, headers, "POST", "/v1/queue/claim", json={"limit": 4})
            for headers in moderators
        ]
    )
    claimed = [item["id"] for status, body in results for item in body["items"]]
    assert all(status == 200 for status, _ in results)
    assert len(claimed) == len(set(claimed)) == 30


async def test_authors(service: Service) -> None:
    await service.post_comment(id="c-1", author_id="u-9", text="A calm remark.")
    await held(service, "c-2", author_id="u-9")
    status, body = await service.call("GET", "/v1/authors/u-9", role="moderator")
    assert status == 200
    assert body["author_id"] == "u-9" and body["status"] == "active"
    assert body["counts"] == {"approved": 1, "pending": 1, "rejected": 0}
    assert [c["id"] for c in body["recent"]] == ["c-2", "c-1"]
    status, body = await service.call(
        "PUT", "/v1/authors/u-9", role="moderator", json={"status": "banned", "reason": "spam"}
    )
    assert (status, body["status"], body["reason"]) == (200, "banned", "spam")
    _, comment = await service.post_comment(author_id="u-9", text="Hello again.")
    assert comment["status"] == "rejected"
    status, _ = await service.call(
        "PUT", "/v1/authors/u-9", role="moderator", json={"status": "exiled"}
    )
    assert status == 422
    _, audit = await service.call("GET", "/v1/audit?action=author.status", role="admin")
    assert audit["items"][0]["target"] == "u-9"
    assert audit["items"][0]["actor"] == "test-moderator"


@pytest.mark.parametrize("enabled", [False, True])
async def test_automatic_premoderation(service: Service, enabled: bool) -> None:
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    if enabled:
        current["auto_premoderate"] = {"rejections": 2, "days": 30}
        status, _ = await service.call("PUT", "/v1/guidelines", role="admin", json=current)
        assert status == 200
    await service.post_comment(id="c-1", author_id="u-5", text="Calm.")
    await service.post_comment(id="c-2", author_id="u-5", text="Calm too.")
    for cid in ("c-1", "c-2"):
        await service.call(
            "POST", f"/v1/comments/{cid}/decision", role="moderator", json={"action": "reject"}
        )
    _, author = await service.call("GET", "/v1/authors/u-5", role="moderator")
    assert author["status"] == ("premoderated" if enabled else "active")
    _, comment = await service.post_comment(author_id="u-5", text="Calm again.")
    assert comment["status"] == ("pending" if enabled else "approved")


async def test_a_deleted_comment_cannot_be_decided(service: Service) -> None:
    await held(service, "c-del")
    status, _ = await service.call("DELETE", "/v1/comments/c-del")
    assert status == 200
    for action in ("approve", "reject"):
        status, body = await service.call(
            "POST", "/v1/comments/c-del/decision", role="moderator", json={"action": action}
        )
        assert status == 409 and body["error"]["code"] == "comment_deleted", body
    status, body = await service.call("GET", "/v1/comments/c-del", role="moderator")
    assert body["status"] == "pending" and body["text"] is None
    assert [d["by"] for d in body["history"]] == ["auto"]  # nothing was recorded
