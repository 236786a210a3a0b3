"""Scopes: several websites on one service, each key seeing and changing only its own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from moderation.domain.models import Role
from moderation.http.context import DATABASE
from moderation.services.keys import Keys
from tests.conftest import Service, ServiceFactory
from tests.http.test_webhooks import FAST, Receiver, wait_for


@dataclass
class Caller:
    """One key of one scope, calling the service."""

    service: Service
    secret: str

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.secret}"}
        async with self.service.client.request(method, path, headers=headers, **kwargs) as response:
            body = (
                await response.json()
                if response.content_type == "application/json"
                else await response.text()
            )
            return response.status, body

    async def post(self, comment_id: str, text: str, **fields: Any) -> tuple[int, Any]:
        payload = {"id": comment_id, "article_id": "art", "author_id": "u-1", "text": text}
        return await self.call("POST", "/v1/comments", json=payload | fields)


async def caller(service: Service, role: Role, scope: str | None) -> Caller:
    database = service.client.app[DATABASE]
    name = f"{scope or 'default'}-{role.name}-{uuid.uuid4().hex[:6]}"
    created = await Keys(database).create(name, role, scope=scope)
    assert created.key.scope == scope
    return Caller(service, created.secret)


@dataclass
class Sites:
    site_a: Caller
    mod_a: Caller
    site_b: Caller
    mod_b: Caller
    site: Caller  # the default scope
    mod: Caller


async def sites(service: Service) -> Sites:
    return Sites(
        site_a=await caller(service, Role.site, "a"),
        mod_a=await caller(service, Role.moderator, "a"),
        site_b=await caller(service, Role.site, "b"),
        mod_b=await caller(service, Role.moderator, "b"),
        site=Caller(service, service.keys["site"]),
        mod=Caller(service, service.keys["moderator"]),
    )


async def test_the_same_ids_live_apart_in_each_scope(
    make_service: ServiceFactory, database_url: str
) -> None:
    service = await make_service(database_url=database_url)
    s = await sites(service)
    for site in (s.site_a, s.site_b):
        status, article = await site.call("PUT", "/v1/articles/art", json={"mode": "auto"})
        assert status == 201, article
        assert article["id"] == "art"

    status, a = await s.site_a.post("c-1", "Scope a has its say.")
    assert status == 201, a
    assert (a["id"], a["article_id"], a["author_id"], a["scope"]) == ("c-1", "art", "u-1", "a")
    # The same id with another text is another site's comment, not a conflict.
    status, b = await s.site_b.post("c-1", "Scope b has another say.", parent_id="c-0")
    assert status == 201, b
    assert (b["id"], b["parent_id"], b["scope"]) == ("c-1", "c-0", "b")
    status, plain = await s.site.post("c-1", "The default site speaks.")
    assert status == 201, plain
    assert plain["id"] == "c-1" and plain["scope"] is None

    for site, text in (
        (s.site_a, "Scope a has its say."),
        (s.site_b, "Scope b has another say."),
        (s.site, "The default site speaks."),
    ):
        status, body = await site.call("GET", "/v1/comments/c-1")
        assert status == 200, body
        assert body["text"] == text and body["id"] == "c-1"
        # A retry in its own scope is answered with the stored comment.
        status, again = await site.post("c-1", text)
        assert status == 200 and again["text"] == text

    # Closing article "art" in a closes a's article only.
    status, closed = await s.site_a.call("PUT", "/v1/articles/art", json={"mode": "closed"})
    assert status == 200 and closed["mode"] == "closed"
    status, body = await s.site_a.post("c-2", "Too late for a.")
    assert status == 409 and body["error"]["code"] == "article_closed"
    assert (await s.site_b.post("c-2", "Still open in b."))[0] == 201
    assert (await s.site.post("c-2", "Still open by default."))[0] == 201


async def test_a_scope_never_reaches_another_scopes_comment(service: Service) -> None:
    s = await sites(service)
    status, _ = await s.site_a.post("only-a", "Only site a has this one.")
    assert status == 201
    for site, mod in ((s.site_b, s.mod_b), (s.site, s.mod)):
        assert (await site.call("GET", "/v1/comments/only-a"))[0] == 404
        assert (await site.call("PUT", "/v1/comments/only-a", json={"text": "edited"}))[0] == 404
        assert (await site.call("DELETE", "/v1/comments/only-a"))[0] == 404
        status, _ = await site.call(
            "POST", "/v1/comments/only-a/reports", json={"reporter_id": "r-1", "reason": "spam"}
        )
        assert status == 404
        status, body = await mod.call(
            "POST", "/v1/comments/only-a/decision", json={"action": "reject"}
        )
        assert status == 404, body
        assert body["error"]["code"] == "comment_not_found"
    # Its own scope still has it, untouched.
    status, body = await s.site_a.call("GET", "/v1/comments/only-a")
    assert status == 200 and body["text"] == "Only site a has this one."
    assert len(body["history"]) == 1
    # And changes it.
    status, body = await s.site_a.call("PUT", "/v1/comments/only-a", json={"text": "Edited."})
    assert status == 200 and body["text"] == "Edited." and body["id"] == "only-a"
    status, body = await s.site_a.call(
        "POST", "/v1/comments/only-a/reports", json={"reporter_id": "r-1"}
    )
    assert status == 202 and body["reporters"] == 1
    status, body = await s.site_a.call("DELETE", "/v1/comments/only-a")
    assert status == 200 and body["text"] is None and body["id"] == "only-a"


async def _premoderated(site: Caller, ids: list[str]) -> None:
    status, _ = await site.call("PUT", "/v1/articles/pm", json={"mode": "premoderate"})
    assert status in (200, 201)
    for comment_id in ids:
        status, body = await site.post(comment_id, "Waiting for a moderator.", article_id="pm")
        assert status == 201 and body["status"] == "pending", body


async def test_queue_claims_recent_and_authors_are_per_scope(
    make_service: ServiceFactory, database_url: str
) -> None:
    service = await make_service(database_url=database_url)
    s = await sites(service)
    await _premoderated(s.site_a, ["q-1", "q-2"])
    await _premoderated(s.site_b, ["q-1"])
    await _premoderated(s.site, ["q-0"])

    for mod, expected, scope in ((s.mod_a, {"q-1", "q-2"}, "a"), (s.mod_b, {"q-1"}, "b")):
        status, queue = await mod.call("GET", "/v1/queue")
        assert status == 200, queue
        assert {item["id"] for item in queue["items"]} == expected
        assert queue["total"] == len(expected)
        assert {item["scope"] for item in queue["items"]} == {scope}
        assert {item["article_id"] for item in queue["items"]} == {"pm"}
        status, filtered = await mod.call("GET", "/v1/queue", params={"article_id": "pm"})
        assert status == 200 and filtered["total"] == len(expected)
    status, queue = await s.mod.call("GET", "/v1/queue")
    assert [item["id"] for item in queue["items"]] == ["q-0"]
    assert queue["items"][0]["scope"] is None

    status, claimed = await s.mod_b.call("POST", "/v1/queue/claim", json={"limit": 10})
    assert status == 200
    assert [(i["id"], i["scope"]) for i in claimed["items"]] == [("q-1", "b")]
    # b's claim on its q-1 does not hold a's q-1.
    status, decided = await s.mod_a.call(
        "POST", "/v1/comments/q-1/decision", json={"action": "approve"}
    )
    assert status == 200, decided
    assert (decided["id"], decided["status"], decided["scope"]) == ("q-1", "approved", "a")
    status, body = await s.mod_b.call("POST", "/v1/queue/release", json={"ids": ["q-1"]})
    assert status == 200 and body["released"] == 1
    status, b_q1 = await s.site_b.call("GET", "/v1/comments/q-1")
    assert b_q1["status"] == "pending"

    status, recent = await s.mod_a.call("GET", "/v1/comments")
    assert status == 200
    assert {item["id"] for item in recent["items"]} == {"q-1", "q-2"}
    status, recent = await s.mod_a.call("GET", "/v1/comments", params={"author_id": "u-1"})
    assert {item["id"] for item in recent["items"]} == {"q-1", "q-2"}
    status, recent = await s.mod.call("GET", "/v1/comments")
    assert [item["id"] for item in recent["items"]] == ["q-0"]

    status, author = await s.mod_a.call("GET", "/v1/authors/u-1")
    assert status == 200, author
    assert author["author_id"] == "u-1"
    assert author["counts"] == {"approved": 1, "pending": 1, "rejected": 0}
    assert {c["id"] for c in author["recent"]} == {"q-1", "q-2"}
    assert {c["article_id"] for c in author["recent"]} == {"pm"}
    status, author = await s.mod_b.call("GET", "/v1/authors/u-1")
    assert author["counts"] == {"approved": 0, "pending": 1, "rejected": 0}

    # Banning u-1 in a bans a's u-1 only.
    status, banned = await s.mod_a.call("PUT", "/v1/authors/u-1", json={"status": "banned"})
    assert status == 200 and banned["author_id"] == "u-1" and banned["status"] == "banned"
    status, body = await s.site_a.post("after-ban", "Hello again.")
    assert body["status"] == "rejected"
    assert "author_banned" in {r["code"] for r in body["decision"]["reasons"]}
    status, body = await s.site_b.post("after-ban", "Hello again.")
    assert body["status"] == "approved", body
    status, author = await s.mod.call("GET", "/v1/authors/u-1")
    assert author["status"] == "active"


async def test_batches_are_scoped(service: Service) -> None:
    s = await sites(service)
    comments = [
        {"id": "b-1", "article_id": "art", "author_id": "u-1", "text": "First of the batch."},
        {"id": "b-2", "article_id": "art", "author_id": "u-1", "text": "Second of the batch."},
    ]
    status, body = await s.site_a.call("POST", "/v1/comments/batch", json={"comments": comments})
    assert status == 200
    assert [(r["id"], r["scope"], r["created"]) for r in body["results"]] == [
        ("b-1", "a", True),
        ("b-2", "a", True),
    ]
    assert (await s.site_a.call("GET", "/v1/comments/b-2"))[0] == 200
    assert (await s.site_b.call("GET", "/v1/comments/b-2"))[0] == 404
    status, body = await s.site_b.call("POST", "/v1/comments/batch", json={"comments": comments})
    assert [r["created"] for r in body["results"]] == [True, True]


async def test_scoped_keys_are_made_listed_and_revoked_within_their_scope(
    service: Service,
) -> None:
    status, created = await service.call(
        "POST", "/v1/keys", role="admin", json={"name": "a-admin", "role": "admin", "scope": "a"}
    )
    assert status == 201, created
    assert created["scope"] == "a"
    admin_a = Caller(service, created["key"])
    status, me = await admin_a.call("GET", "/v1/me")
    assert status == 200 and me["scope"] == "a"
    status, me = await service.call("GET", "/v1/me")
    assert me["scope"] is None

    for bad in ("", "A", "-a", "a/b", "x" * 65, "a b"):
        status, body = await service.call(
            "POST", "/v1/keys", role="admin", json={"name": "bad", "role": "site", "scope": bad}
        )
        assert status == 422, (bad, body)

    # A scoped admin's keys are of its scope; another scope is refused.
    status, site_a = await admin_a.call("POST", "/v1/keys", json={"name": "s", "role": "site"})
    assert status == 201 and site_a["scope"] == "a"
    status, body = await admin_a.call(
        "POST", "/v1/keys", json={"name": "s2", "role": "site", "scope": "b"}
    )
    assert status == 403 and body["error"]["code"] == "scope_forbidden"
    status, site_b = await service.call(
        "POST", "/v1/keys", role="admin", json={"name": "s-b", "role": "site", "scope": "b"}
    )
    assert status == 201 and site_b["scope"] == "b"

    status, listed = await admin_a.call("GET", "/v1/keys")
    assert status == 200
    assert {k["name"] for k in listed["items"]} == {"a-admin", "s"}
    status, everything = await service.call("GET", "/v1/keys", role="admin")
    scopes = {k["name"]: k["scope"] for k in everything["items"]}
    assert scopes["s-b"] == "b" and scopes["a-admin"] == "a" and scopes["test-admin"] is None

    assert (await admin_a.call("DELETE", f"/v1/keys/{site_b['id']}"))[0] == 404
    assert (await admin_a.call("DELETE", f"/v1/keys/{site_a['id']}"))[0] == 200
    assert (await service.call("DELETE", f"/v1/keys/{site_b['id']}", role="admin"))[0] == 200


async def test_a_scoped_admin_reads_its_own_and_the_shared_audit_entries(
    service: Service,
) -> None:
    """Keys, webhooks and authors are a website's own: another website's admin must not
    read their audit entries. The guidelines are shared: every admin reads their changes.
    An admin of the default scope reads everything, as it lists every key and webhook."""
    admin_a = await caller(service, Role.admin, "a")
    admin_b = await caller(service, Role.admin, "b")
    moderator_a = await caller(service, Role.moderator, "a")
    status, key_a = await admin_a.call("POST", "/v1/keys", json={"name": "s", "role": "site"})
    assert status == 201, key_a
    status, key_b = await admin_b.call("POST", "/v1/keys", json={"name": "t", "role": "site"})
    assert status == 201, key_b
    assert (await admin_b.call("DELETE", f"/v1/keys/{key_b['id']}"))[0] == 200
    status, hook_b = await admin_b.call(
        "POST", "/v1/webhooks", json={"url": "http://127.0.0.1:9/b", "events": ["comment.held"]}
    )
    assert status == 201, hook_b
    status, _ = await moderator_a.call("PUT", "/v1/authors/u-7", json={"status": "banned"})
    assert status == 200
    status, current = await admin_a.call("GET", "/v1/guidelines")
    assert (await admin_a.call("PUT", "/v1/guidelines?note=shared", json=current))[0] == 200

    async def entries(who: Caller | Service) -> set[tuple[str, str | None]]:
        if isinstance(who, Service):
            status, body = await who.call("GET", "/v1/audit?limit=100", role="admin")
        else:
            status, body = await who.call("GET", "/v1/audit?limit=100")
        assert status == 200, body
        return {(item["action"], item["target"]) for item in body["items"]}

    seen_a, seen_b = await entries(admin_a), await entries(admin_b)
    guidelines = {a for a in seen_a if a[0] == "guidelines.update"}
    assert guidelines and guidelines <= seen_b
    only_a = {("key.create", key_a["id"]), ("author.status", "u-7")}  # the website's id
    only_b = {
        ("key.create", key_b["id"]),
        ("key.revoke", key_b["id"]),
        ("webhook.create", hook_b["id"]),
    }
    assert only_a <= seen_a and not only_b & seen_a
    assert only_b <= seen_b and not only_a & seen_b
    assert not any(target and "/" in target for _, target in seen_a | seen_b)
    everything = await entries(service)
    assert ("author.status", "a/u-7") in everything
    assert ("webhook.create", hook_b["id"]) in everything
    # Who changed the shared guidelines: website a's admin, by name, to a; not to b.
    status, seen = await admin_b.call("GET", "/v1/audit?action=guidelines.update")
    change = next(item for item in seen["items"] if item["details"].get("note") == "shared")
    assert change["actor"] == "an admin of another website" and change["actor_key_id"] is None
    status, seen = await admin_a.call("GET", "/v1/audit?action=guidelines.update")
    change = next(item for item in seen["items"] if item["details"].get("note") == "shared")
    assert change["actor"].startswith("a-admin") and change["actor_key_id"] is not None


@pytest.fixture
async def receivers(aiohttp_server: Any) -> list[Receiver]:
    from aiohttp import web

    made = []
    for _ in range(2):
        receiver = Receiver()
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        receiver.server = await aiohttp_server(app)
        made.append(receiver)
    return made


async def test_a_scoped_webhook_gets_its_scopes_events_only(
    make_service: ServiceFactory, receivers: list[Receiver]
) -> None:
    service = await make_service(**FAST)
    scoped, plain = receivers
    s = await sites(service)
    admin_a = await caller(service, Role.admin, "a")
    events = {"events": ["comment.approved", "comment.rejected", "comment.held"]}
    status, hook_a = await admin_a.call("POST", "/v1/webhooks", json={"url": scoped.url} | events)
    assert status == 201 and hook_a["scope"] == "a"
    status, hook = await service.call(
        "POST", "/v1/webhooks", role="admin", json={"url": plain.url} | events
    )
    assert status == 201 and hook["scope"] is None

    await s.site_b.post("w-1", "A comment on site b.")
    await s.site_a.post("w-1", "A comment on site a.", parent_id="w-0")
    await s.site.post("w-2", "A comment on the default site.")
    await wait_for(lambda: len(scoped.received) >= 1 and len(plain.received) >= 1)

    (event,) = scoped.events()
    comment = event["comment"]
    assert (comment["id"], comment["article_id"], comment["author_id"]) == ("w-1", "art", "u-1")
    assert comment["parent_id"] == "w-0" and comment["scope"] == "a"
    assert comment["text"] == "A comment on site a."
    (event,) = plain.events()
    assert event["comment"]["id"] == "w-2" and event["comment"]["scope"] is None

    # Admins see their scope's webhooks (the default scope's admins see all), and their
    # deliveries name the scope's own ids.
    status, listed = await admin_a.call("GET", "/v1/webhooks")
    assert [w["id"] for w in listed["items"]] == [hook_a["id"]]
    status, listed = await service.call("GET", "/v1/webhooks", role="admin")
    assert {w["id"] for w in listed["items"]} == {hook_a["id"], hook["id"]}
    await wait_for(lambda: bool(scoped.answered))
    status, deliveries = await admin_a.call("GET", f"/v1/webhooks/{hook_a['id']}/deliveries")
    assert status == 200 and [d["comment_id"] for d in deliveries["items"]] == ["w-1"]
    assert (await admin_a.call("GET", f"/v1/webhooks/{hook['id']}/deliveries"))[0] == 404
    assert (await admin_a.call("DELETE", f"/v1/webhooks/{hook['id']}"))[0] == 404
    assert (await admin_a.call("DELETE", f"/v1/webhooks/{hook_a['id']}"))[0] == 200


async def test_the_longest_scope_and_ids_fit_on_every_backend(
    make_service: ServiceFactory, database_url: str
) -> None:
    """A stored id is "<scope>/<id>": 64 + 1 + 200 characters, more than the 200 the id
    columns held (PostgreSQL enforces VARCHAR lengths; migration 0009 widens them)."""
    service = await make_service(database_url=database_url)
    site = await caller(service, Role.site, "s" * 64)
    long_id = "c" * 200
    status, body = await site.call(
        "POST",
        "/v1/comments",
        json={
            "id": long_id,
            "article_id": "a" * 200,
            "author_id": "u" * 200,
            "parent_id": "p" * 200,
            "text": "you are an idiot",
        },
    )
    assert status == 201, body
    assert body["id"] == long_id and body["status"] == "pending"
    status, body = await site.call(
        "POST", f"/v1/comments/{long_id}/reports", json={"reporter_id": "r-1"}
    )
    assert status == 202, body
    # The audit log names the author by the stored id (migration 0014 widens it).
    moderator = await caller(service, Role.moderator, "s" * 64)
    status, body = await moderator.call(
        "PUT", f"/v1/authors/{'u' * 200}", json={"status": "banned"}
    )
    assert status == 200, body
    assert body["author_id"] == "u" * 200 and body["status"] == "banned"
