"""Appeals under the EU Digital Services Act, Art. 20: the author's complaint, its window,
its place in the queue, and a moderator's answer by someone who did not decide first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from moderation.domain import models
from moderation.domain.models import Role
from moderation.http.context import DATABASE
from moderation.services import appeals as appeals_service
from moderation.services.keys import Keys
from tests.conftest import Service, ServiceFactory
from tests.http.test_notices import as_key, queue, scoped_site
from tests.http.test_webhooks import FAST, Receiver, receiver, subscribe, verify, wait_for

__all__ = ["receiver"]  # the fixture, used by the webhook test below

APPEAL = {"author_id": "u-1", "explanation": "It was satire, not an insult."}


async def appeal(service: Service, comment_id: str, **fields: Any) -> tuple[int, Any]:
    return await service.call("POST", f"/v1/comments/{comment_id}/appeals", json=APPEAL | fields)


async def answer(
    service: Service, appeal_id: str, outcome: str, role: str = "admin"
) -> tuple[int, Any]:
    return await service.call(
        "POST",
        f"/v1/appeals/{appeal_id}/decision",
        role=role,
        json={"outcome": outcome, "reason": "Read in its thread, it is irony."},
    )


async def rejected_by_moderator(service: Service, comment_id: str = "c-1") -> None:
    await service.post_comment(id=comment_id, text="A calm remark.")
    status, _ = await service.call(
        "POST", f"/v1/comments/{comment_id}/decision", role="moderator", json={"action": "reject"}
    )
    assert status == 200


async def test_an_appeal_waits_in_the_queue_and_reversed_publishes(service: Service) -> None:
    await rejected_by_moderator(service)
    await service.post_comment(id="c-held", text="you are an idiot")
    status, opened = await appeal(service, "c-1")
    assert status == 201, opened
    assert opened["status"] == "open" and opened["comment_id"] == "c-1"
    assert opened["id"].startswith("apl_")
    # The comment keeps its status; its queue item lists the appeal, ahead of ordinary holds.
    _, comment = await service.call("GET", "/v1/comments/c-1")
    assert comment["status"] == "rejected"
    items = await queue(service)
    assert items["c-1"]["queue_reasons"] == ["appeal"]
    assert items["c-1"]["priority"] > items["c-held"]["priority"]
    assert items["c-1"]["status"] == "rejected"
    # One open appeal at a time.
    status, body = await appeal(service, "c-1")
    assert status == 409 and body["error"]["code"] == "appeal_open"
    # The moderator who rejected it may not decide the appeal; another may.
    status, body = await answer(service, opened["id"], "reversed", role="moderator")
    assert status == 409 and body["error"]["code"] == "same_moderator"
    status, decided = await answer(service, opened["id"], "reversed")
    assert status == 200, decided
    assert decided["status"] == "decided" and decided["outcome"] == "reversed"
    assert decided["decided_at"].endswith("Z")
    _, shown = await service.call("GET", f"/v1/appeals/{opened['id']}")
    assert shown == decided
    # Reversed: published by a moderator's approval, recorded as such; out of the queue.
    _, comment = await service.call("GET", "/v1/comments/c-1")
    assert comment["status"] == "approved"
    assert comment["decision"]["by"] == "moderator"
    assert comment["decision"]["action"] == "approve"
    assert "c-1" not in await queue(service)
    # Decided once only; and now nothing restricts the comment.
    status, body = await answer(service, opened["id"], "upheld")
    assert status == 409 and body["error"]["code"] == "appeal_decided"
    status, body = await appeal(service, "c-1")
    assert status == 409 and body["error"]["code"] == "nothing_to_appeal"


async def test_upheld_keeps_the_decision_and_leaves_the_queue(service: Service) -> None:
    _, held = await service.post_comment(id="c-held", text="you are an idiot")
    assert held["status"] == "pending"
    status, opened = await appeal(service, "c-held")
    assert status == 201
    items = await queue(service)
    assert set(items["c-held"]["queue_reasons"]) == {"appeal", "threshold"}
    # An automatic decision: any moderator may decide its appeal.
    status, decided = await answer(service, opened["id"], "upheld", role="moderator")
    assert status == 200 and decided["outcome"] == "upheld"
    _, comment = await service.call("GET", "/v1/comments/c-held")
    assert comment["status"] == "pending" and len(comment["history"]) == 1
    items = await queue(service)
    assert items["c-held"]["queue_reasons"] == ["threshold"]
    # A rejected comment whose appeal is upheld leaves the queue.
    await rejected_by_moderator(service, "c-2")
    _, second = await appeal(service, "c-2")
    await answer(service, second["id"], "upheld")
    assert "c-2" not in await queue(service)
    _, comment = await service.call("GET", "/v1/comments/c-2")
    assert comment["status"] == "rejected"


async def test_who_may_appeal_what(service: Service) -> None:
    await service.post_comment(id="c-ok", text="A calm remark.")
    status, body = await appeal(service, "c-ok")
    assert status == 409 and body["error"]["code"] == "nothing_to_appeal"
    status, body = await appeal(service, "c-none")
    assert status == 404 and body["error"]["code"] == "comment_not_found"
    await rejected_by_moderator(service, "c-1")
    status, body = await appeal(service, "c-1", author_id="u-other")
    assert status == 403 and body["error"]["code"] == "not_the_author"
    for change in ({"explanation": " "}, {"explanation": "x" * 5001}, {"author_id": ""}):
        status, body = await appeal(service, "c-1", **change)
        assert status == 422, change
    status, body = await service.call("GET", "/v1/appeals/apl_0000")
    assert status == 404 and body["error"]["code"] == "appeal_not_found"
    status, body = await answer(service, "apl_0000", "upheld")
    assert status == 404
    # A site key may not decide appeals.
    _, opened = await appeal(service, "c-1")
    status, _ = await answer(service, opened["id"], "upheld", role="site")
    assert status == 403


async def test_the_appeal_window(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    _, document = await service.call("GET", "/v1/guidelines", role="admin")
    status, _ = await service.call(
        "PUT", "/v1/guidelines", role="admin", json=document | {"appeal_days": 183}
    )
    assert status == 200
    await rejected_by_moderator(service, "c-1")
    await rejected_by_moderator(service, "c-2")
    real = models.utcnow
    monkeypatch.setattr(appeals_service, "utcnow", lambda: real() + timedelta(days=182))
    status, _ = await appeal(service, "c-1")
    assert status == 201
    monkeypatch.setattr(appeals_service, "utcnow", lambda: real() + timedelta(days=184))
    status, body = await appeal(service, "c-2")
    assert status == 409 and body["error"]["code"] == "appeal_window_closed"


async def test_appeal_decided_is_delivered_signed(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    service = await make_service(**FAST)
    await rejected_by_moderator(service)
    hook = await subscribe(service, receiver.url, ["appeal.decided", "comment.approved"])
    _, opened = await appeal(service, "c-1")
    await answer(service, opened["id"], "reversed")
    await wait_for(lambda: len(receiver.received) == 2)
    events = {event["type"]: event for event in receiver.events()}
    assert set(events) == {"appeal.decided", "comment.approved"}
    for body, headers in receiver.received:
        assert verify(hook["secret"], body, headers["X-Moderation-Signature"])
        assert "satire" not in body.decode()  # the explanation is never sent
    event = events["appeal.decided"]
    assert set(event) == {"id", "type", "appeal", "comment"}
    _, shown = await service.call("GET", f"/v1/appeals/{opened['id']}")
    assert event["appeal"] == shown and shown["outcome"] == "reversed"
    assert event["comment"]["id"] == "c-1" and event["comment"]["status"] == "approved"


async def test_scoped_keys_see_only_their_scopes_appeals(service: Service) -> None:
    site_a, site_b = await scoped_site(service, "a"), await scoped_site(service, "b")
    created = await Keys(service.client.app[DATABASE]).create("a-mod", Role.moderator, scope="a")
    moderator_a = {"Authorization": f"Bearer {created.secret}"}
    comment = {"id": "c-1", "article_id": "art", "author_id": "u-1", "text": "Go away, you faggot."}
    status, posted = await as_key(service, site_a, "POST", "/v1/comments", json=comment)
    assert status == 201 and posted["status"] == "rejected"
    path = "/v1/comments/c-1/appeals"
    for headers in (site_b, service.auth()):
        status, _ = await as_key(service, headers, "POST", path, json=APPEAL)
        assert status == 404
    status, opened = await as_key(service, site_a, "POST", path, json=APPEAL)
    assert status == 201 and opened["comment_id"] == "c-1"
    for headers in (site_b, service.auth()):
        status, _ = await as_key(service, headers, "GET", f"/v1/appeals/{opened['id']}")
        assert status == 404
    decision = {"outcome": "upheld", "reason": "It insults a group."}
    status, _ = await answer(service, opened["id"], "upheld", role="moderator")
    assert status == 404
    status, decided = await as_key(
        service, moderator_a, "POST", f"/v1/appeals/{opened['id']}/decision", json=decision
    )
    assert status == 200 and decided["outcome"] == "upheld"


async def test_a_moderator_who_decided_while_the_appeal_was_open_may_not_answer_it(
    service: Service,
) -> None:
    """The appealed decision was automatic (a hold); a moderator then rejected the comment
    while its appeal was open. Answering the appeal would be judging their own decision."""
    status, comment = await service.post_comment(id="c-auto", text="you are an idiot")
    assert status == 201 and comment["status"] == "pending", comment
    status, opened = await appeal(service, "c-auto")
    assert status == 201, opened
    status, _ = await service.call(
        "POST", "/v1/comments/c-auto/decision", role="moderator", json={"action": "reject"}
    )
    assert status == 200
    status, body = await answer(service, opened["id"], "upheld", role="moderator")
    assert status == 409 and body["error"]["code"] == "same_moderator", body
    status, decided = await answer(service, opened["id"], "upheld")  # another moderator
    assert status == 200, decided
