"""Moderators read what a reporter or an author wrote (EU DSA notices and appeals): the
notice's category, explanation and legal ground — never the reporter's name or email —
and the appeal's explanation; a site key may not; a scoped key sees only its scope."""

from __future__ import annotations

import uuid

from moderation.domain.models import Role
from moderation.http.context import DATABASE
from moderation.services.keys import Keys
from tests.conftest import Service
from tests.http.test_appeals import appeal, rejected_by_moderator
from tests.http.test_notices import NOTICE, as_key, notify, scoped_site


async def test_moderators_read_a_notice_without_the_reporter(service: Service) -> None:
    await service.post_comment(id="c-1", text="A calm remark.")
    _, received = await notify(service, "c-1")
    status, body = await service.call("GET", "/v1/comments/c-1/notices", role="moderator")
    assert status == 200, body
    [notice] = body["items"]
    assert notice["id"] == received["id"] and notice["comment_id"] == "c-1"
    assert notice["category"] == NOTICE["category"]
    assert notice["explanation"] == NOTICE["explanation"]
    assert notice["legal_ground"] == NOTICE["legal_ground"]
    assert notice["status"] == "received" and notice["received_at"].endswith("Z")
    assert "reporter" not in notice
    text = str(body)
    assert NOTICE["reporter"]["name"] not in text and NOTICE["reporter"]["email"] not in text
    # A comment without notices: none; an unknown comment: 404; a site key: 403.
    await service.post_comment(id="c-2", text="Another remark.")
    status, body = await service.call("GET", "/v1/comments/c-2/notices", role="moderator")
    assert status == 200 and body["items"] == []
    status, body = await service.call("GET", "/v1/comments/nope/notices", role="moderator")
    assert status == 404 and body["error"]["code"] == "comment_not_found"
    status, _ = await service.call("GET", "/v1/comments/c-1/notices")
    assert status == 403


async def test_moderators_read_an_appeal_with_the_authors_explanation(service: Service) -> None:
    await rejected_by_moderator(service)
    status, opened = await appeal(service, "c-1")
    assert status == 201, opened
    _, comment = await service.call("GET", "/v1/comments/c-1")
    status, body = await service.call("GET", "/v1/comments/c-1/appeals", role="moderator")
    assert status == 200, body
    [shown] = body["items"]
    assert shown["id"] == opened["id"] and shown["status"] == "open"
    assert shown["explanation"] == "It was satire, not an insult."
    assert shown["decision_id"] == comment["decision"]["id"]
    assert shown["appealed_by"] == "moderator"
    status, _ = await service.call("GET", "/v1/comments/c-1/appeals")
    assert status == 403
    status, body = await service.call("GET", "/v1/comments/nope/appeals", role="moderator")
    assert status == 404 and body["error"]["code"] == "comment_not_found"


async def test_a_scoped_moderator_reads_only_its_scope(service: Service) -> None:
    site_a = await scoped_site(service, "a")
    comment = {"id": "c-1", "article_id": "art", "author_id": "u-1", "text": "A calm remark."}
    status, _ = await as_key(service, site_a, "POST", "/v1/comments", json=comment)
    assert status == 201
    status, _ = await notify(service, "c-1", headers=site_a)
    assert status == 202
    keys = Keys(service.client.app[DATABASE])
    moderators = {}
    for scope in ("a", "b"):
        created = await keys.create(
            f"{scope}-mod-{uuid.uuid4().hex[:6]}", Role.moderator, scope=scope
        )
        moderators[scope] = {"Authorization": f"Bearer {created.secret}"}
    for path in ("/v1/comments/c-1/notices", "/v1/comments/c-1/appeals"):
        for headers in (moderators["b"], service.auth("moderator")):
            status, body = await as_key(service, headers, "GET", path)
            assert status == 404 and body["error"]["code"] == "comment_not_found"
    status, body = await as_key(service, moderators["a"], "GET", "/v1/comments/c-1/notices")
    assert status == 200 and [n["comment_id"] for n in body["items"]] == ["c-1"]
    assert body["items"][0]["explanation"] == NOTICE["explanation"]


async def test_the_reads_are_in_openapi(service: Service) -> None:
    status, spec = await service.call("GET", "/openapi.json")
    assert status == 200
    for path in ("/v1/comments/{id}/notices", "/v1/comments/{id}/appeals"):
        assert "get" in spec["paths"][path], path
        assert "post" in spec["paths"][path], path
