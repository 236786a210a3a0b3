"""Notices under the EU Digital Services Act, Art. 16: received, queued ahead, decided."""

from __future__ import annotations

import uuid
from typing import Any

from moderation.domain.models import Role
from moderation.domain.notices import STATEMENT_CATEGORIES
from moderation.http.context import DATABASE
from moderation.services.keys import Keys
from moderation.storage.tables import NoticeRow
from tests.conftest import Service, ServiceFactory
from tests.http.test_webhooks import FAST, Receiver, receiver, subscribe, verify, wait_for

__all__ = ["receiver"]  # the fixture, used by the webhook test below

NOTICE: dict[str, Any] = {
    "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "explanation": "It insults a named neighbour of mine.",
    "legal_ground": "Criminal Code, section 185",
    "reporter": {"name": "Erika Mustermann", "email": "erika@example.org"},
    "bona_fide": True,
}


async def notify(
    service: Service, comment_id: str, headers: dict[str, str] | None = None, **fields: Any
) -> tuple[int, Any]:
    body = NOTICE | fields
    if headers is None:
        return await service.call("POST", f"/v1/comments/{comment_id}/notices", json=body)
    return await as_key(service, headers, "POST", f"/v1/comments/{comment_id}/notices", json=body)


async def as_key(
    service: Service, headers: dict[str, str], method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    async with service.client.request(method, path, headers=headers, **kwargs) as response:
        return response.status, await response.json()


async def scoped_site(service: Service, scope: str) -> dict[str, str]:
    created = await Keys(service.client.app[DATABASE]).create(
        f"{scope}-site-{uuid.uuid4().hex[:6]}", Role.site, scope=scope
    )
    return {"Authorization": f"Bearer {created.secret}"}


async def queue(service: Service) -> dict[str, dict[str, Any]]:
    status, body = await service.call("GET", "/v1/queue", role="moderator")
    assert status == 200, body
    return {item["id"]: item for item in body["items"]}


async def test_a_notice_sends_an_approved_comment_ahead_of_ordinary_holds(
    service: Service,
) -> None:
    status, held = await service.post_comment(id="c-held", text="you are an idiot")
    assert held["status"] == "pending"
    status, approved = await service.post_comment(id="c-ok", text="A calm remark.")
    assert approved["status"] == "approved"
    status, body = await notify(service, "c-ok")
    assert status == 202, body
    assert body["status"] == "received" and body["id"].startswith("ntc_")
    assert body["received_at"].endswith("Z")
    status, comment = await service.call("GET", "/v1/comments/c-ok")
    assert comment["status"] == "pending"
    assert [r["code"] for r in comment["decision"]["reasons"]] == ["notice"]
    assert comment["decision"]["action"] == "hold"
    items = await queue(service)
    assert items["c-ok"]["queue_reasons"] == ["notice"]
    assert items["c-ok"]["priority"] > items["c-held"]["priority"]
    status, listed = await service.call("GET", "/v1/queue", role="moderator")
    assert listed["items"][0]["id"] == "c-ok"
    # The reporter's data is never returned.
    status, shown = await service.call("GET", f"/v1/notices/{body['id']}")
    assert status == 200
    assert "Erika" not in str(shown) and "erika@" not in str(shown)
    assert "neighbour" not in str(shown)


async def test_a_notice_on_a_held_comment_adds_its_reason(service: Service) -> None:
    await service.post_comment(id="c-held", text="you are an idiot")
    status, _ = await notify(service, "c-held")
    assert status == 202
    status, comment = await service.call("GET", "/v1/comments/c-held")
    assert comment["status"] == "pending"
    codes = [r["code"] for r in comment["decision"]["reasons"]]
    assert "notice" in codes and "threshold" in codes
    assert len(comment["history"]) == 2
    items = await queue(service)
    assert set(items["c-held"]["queue_reasons"]) == {"notice", "threshold"}
    # A second notice is recorded; the queue item already lists the reason.
    status, _ = await notify(service, "c-held")
    assert status == 202
    status, again = await service.call("GET", "/v1/comments/c-held")
    assert len(again["history"]) == 2


async def test_a_notice_on_a_rejected_comment_is_queued_for_review(service: Service) -> None:
    await service.post_comment(id="c-bad", text="you are an idiot")
    await service.call(
        "POST", "/v1/comments/c-bad/decision", role="moderator", json={"action": "reject"}
    )
    status, _ = await notify(service, "c-bad")
    assert status == 202
    status, comment = await service.call("GET", "/v1/comments/c-bad")
    assert comment["status"] == "pending"
    assert "c-bad" in await queue(service)


async def test_invalid_notices_are_refused(service: Service) -> None:
    await service.post_comment(id="c-1", text="A calm remark.")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"bona_fide": False}, "bona_fide"),
        ({"bona_fide": 1}, "bona_fide"),
        ({"category": "STATEMENT_CATEGORY_MADE_UP"}, "category"),
        ({"reporter": {"email": "not-an-address"}}, "reporter.email"),
        ({"explanation": ""}, "explanation"),
        ({"explanation": "   "}, "explanation"),
        ({"explanation": "x" * 5001}, "explanation"),
        ({"legal_ground": "x" * 1001}, "legal_ground"),
    ]
    for change, field in cases:
        status, body = await notify(service, "c-1", **change)
        assert status == 422, (change, body)
        assert body["error"]["code"] == "validation_failed"
        assert field in [d["field"] for d in body["error"]["details"]], body
    for missing in ("bona_fide", "explanation", "category"):
        payload = {k: v for k, v in NOTICE.items() if k != missing}
        status, body = await service.call("POST", "/v1/comments/c-1/notices", json=payload)
        assert status == 422 and body["error"]["details"][0]["field"] == missing
    # Nothing was stored, nothing queued.
    status, comment = await service.call("GET", "/v1/comments/c-1")
    assert comment["status"] == "approved"
    # Every category of the list is accepted, and no reporter at all.
    payload = {k: v for k, v in NOTICE.items() if k not in ("reporter", "legal_ground")}
    for category in STATEMENT_CATEGORIES:
        status, _ = await service.call(
            "POST", "/v1/comments/c-1/notices", json=payload | {"category": category}
        )
        assert status == 202, category


async def test_unknown_comments_and_notices_are_404(service: Service) -> None:
    status, body = await notify(service, "c-none")
    assert status == 404 and body["error"]["code"] == "comment_not_found"
    status, body = await service.call("GET", "/v1/notices/ntc_0000")
    assert status == 404 and body["error"]["code"] == "notice_not_found"


async def test_scoped_keys_see_only_their_scopes_notices(service: Service) -> None:
    site_a, site_b = await scoped_site(service, "a"), await scoped_site(service, "b")
    comment = {"id": "c-1", "article_id": "art", "author_id": "u-1", "text": "A calm remark."}
    status, _ = await as_key(service, site_a, "POST", "/v1/comments", json=comment)
    assert status == 201
    # Another scope (and the default one) does not find the comment ...
    status, _ = await notify(service, "c-1", headers=site_b)
    assert status == 404
    status, _ = await notify(service, "c-1")
    assert status == 404
    status, body = await notify(service, "c-1", headers=site_a)
    assert status == 202 and body["comment_id"] == "c-1"
    # ... nor the notice.
    for headers in (site_b, service.auth()):
        status, _ = await as_key(service, headers, "GET", f"/v1/notices/{body['id']}")
        assert status == 404
    status, shown = await as_key(service, site_a, "GET", f"/v1/notices/{body['id']}")
    assert status == 200 and shown["comment_id"] == "c-1"


async def test_a_moderators_decision_decides_the_open_notices(service: Service) -> None:
    for comment_id in ("c-rej", "c-app"):
        await service.post_comment(id=comment_id, text="A calm remark.")
    _, rejected = await notify(service, "c-rej")
    _, approved = await notify(service, "c-app")
    status, before = await service.call("GET", f"/v1/notices/{rejected['id']}")
    assert status == 200
    assert before["status"] == "received" and before["comment_id"] == "c-rej"
    assert "outcome" not in before and "decided_at" not in before
    for comment_id, action in (("c-rej", "reject"), ("c-app", "approve")):
        status, _ = await service.call(
            "POST", f"/v1/comments/{comment_id}/decision", role="moderator", json={"action": action}
        )
        assert status == 200
    _, after = await service.call("GET", f"/v1/notices/{rejected['id']}")
    assert after["status"] == "decided" and after["outcome"] == "action_taken"
    assert after["decided_at"].endswith("Z")
    _, after = await service.call("GET", f"/v1/notices/{approved['id']}")
    assert after["status"] == "decided" and after["outcome"] == "no_action"
    # A later decision does not change a decided notice.
    await service.call(
        "POST", "/v1/comments/c-app/decision", role="moderator", json={"action": "reject"}
    )
    _, still = await service.call("GET", f"/v1/notices/{approved['id']}")
    assert still["outcome"] == "no_action"


async def test_notice_decided_is_delivered_signed(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    service = await make_service(**FAST)
    hook = await subscribe(service, receiver.url, ["notice.decided"])
    await service.post_comment(id="c-1", text="A calm remark.")
    _, notice = await notify(service, "c-1")
    await service.call(
        "POST", "/v1/comments/c-1/decision", role="moderator", json={"action": "reject"}
    )
    await wait_for(lambda: len(receiver.received) == 1)
    body, headers = receiver.received[0]
    assert verify(hook["secret"], body, headers["X-Moderation-Signature"])
    assert headers["X-Moderation-Event"] == "notice.decided"
    (event,) = receiver.events()
    assert set(event) == {"id", "type", "notice", "comment"}
    assert event["type"] == "notice.decided" and event["id"].startswith("evt_")
    _, shown = await service.call("GET", f"/v1/notices/{notice['id']}")
    assert event["notice"] == shown
    assert event["notice"]["outcome"] == "action_taken"
    assert event["comment"]["id"] == "c-1" and event["comment"]["status"] == "rejected"
    assert "Erika" not in body.decode() and "erika@" not in body.decode()


async def test_deleting_the_comment_erases_the_reporter_and_explanation(
    make_service: ServiceFactory, database_url: str
) -> None:
    service = await make_service(database_url=database_url)
    await service.post_comment(id="c-1", text="A calm remark.")
    _, notice = await notify(service, "c-1")
    database = service.client.app[DATABASE]

    async def stored() -> tuple[Any, ...]:
        async with database.transaction(write=False) as store:
            row = await store._session.get(NoticeRow, notice["id"])
            assert row is not None
            return row.reporter_name, row.reporter_email, row.explanation, row.category

    assert await stored() == (
        "Erika Mustermann",
        "erika@example.org",
        NOTICE["explanation"],
        NOTICE["category"],
    )
    status, _ = await service.call("DELETE", "/v1/comments/c-1")
    assert status == 200
    assert await stored() == (None, None, None, NOTICE["category"])
    status, shown = await service.call("GET", f"/v1/notices/{notice['id']}")
    assert status == 200 and shown["status"] == "received"
    # A deleted comment takes no new notices.
    status, body = await notify(service, "c-1")
    assert status == 409 and body["error"]["code"] == "comment_deleted"


async def test_notices_on_postgresql_too(make_service: ServiceFactory, database_url: str) -> None:
    service = await make_service(database_url=database_url)
    await service.post_comment(id="c-held", text="you are an idiot")
    await service.post_comment(id="c-ok", text="A calm remark.")
    _, notice = await notify(service, "c-ok")
    items = await queue(service)
    assert items["c-ok"]["priority"] > items["c-held"]["priority"]
    await service.call(
        "POST", "/v1/comments/c-ok/decision", role="moderator", json={"action": "approve"}
    )
    _, shown = await service.call("GET", f"/v1/notices/{notice['id']}")
    assert shown["outcome"] == "no_action"
