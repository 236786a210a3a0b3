"""The moderators' queue tools over real HTTP: context, score lines, duplicate keys, sort,
bulk decisions and the author sweep (``moderation/http/routes/moderators.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from moderation.domain.review import MAX_BULK
from tests.conftest import Service
from tests.http.test_review import call_as, extra_moderator, held


async def subscribe(service: Service) -> str:
    status, hook = await service.call(
        "POST",
        "/v1/webhooks",
        role="admin",
        json={"url": "https://example.org/h", "events": ["comment.approved", "comment.rejected"]},
    )
    assert status == 201, hook
    return str(hook["id"])


async def events(service: Service, hook: str) -> list[tuple[str, str]]:
    status, body = await service.call("GET", f"/v1/webhooks/{hook}/deliveries", role="admin")
    assert status == 200, body
    return sorted((d["comment_id"], d["type"]) for d in body["items"])


async def history(service: Service, comment_id: str) -> list[dict[str, Any]]:
    status, body = await service.call("GET", f"/v1/comments/{comment_id}", role="moderator")
    assert status == 200, body
    return body["history"]  # type: ignore[no-any-return]


# -- context ---------------------------------------------------------------------------------


async def test_context_gives_the_headline_the_parent_and_the_thread(service: Service) -> None:
    status, _ = await service.call(
        "PUT",
        "/v1/articles/a-1",
        json={
            "title": "Council votes on the new bridge",
            "url": "https://news.example/bridge",
            "tags": ["local"],
            "mode": "auto",
        },
    )
    assert status == 201
    await service.post_comment(id="p", text="The bridge is long overdue.", author_id="u-1")
    await service.post_comment(id="s-1", text="Agreed, finally.", parent_id="p")
    await service.post_comment(id="s-2", text="Secret plan, I am deleting this.", parent_id="p")
    status, _ = await service.call("DELETE", "/v1/comments/s-2")
    assert status in (200, 204)
    await held(service, "r", parent_id="p", author_id="u-2")
    await service.post_comment(id="s-3", text="Later reply.", parent_id="p")
    await service.post_comment(id="rr", text="Why so rude?", parent_id="r")
    await service.post_comment(id="other", text="A top-level one.")

    status, body = await service.call("GET", "/v1/comments/r/context", role="moderator")
    assert status == 200, body
    assert body["article"] == {
        "id": "a-1",
        "title": "Council votes on the new bridge",
        "url": "https://news.example/bridge",
        "tags": ["local"],
    }
    assert body["parent"]["id"] == "p" and body["parent"]["text"] == "The bridge is long overdue."
    thread = {(t["id"], t["relation"]): t for t in body["thread"]}
    assert set(thread) == {
        ("s-1", "sibling"),
        ("s-2", "sibling"),
        ("s-3", "sibling"),
        ("rr", "reply"),
    }
    assert thread[("s-1", "sibling")]["status"] == "approved"
    # A deleted comment's text never comes back, in context either.
    assert thread[("s-2", "sibling")]["deleted"] is True
    assert thread[("s-2", "sibling")]["text"] is None
    assert "Secret plan" not in str(body)
    # Siblings in posting order around the comment.
    assert [t["id"] for t in body["thread"] if t["relation"] == "sibling"] == ["s-1", "s-2", "s-3"]


async def test_context_of_a_comment_on_an_unknown_article(service: Service) -> None:
    await held(service, "lonely", article_id="a-unknown")
    status, body = await service.call("GET", "/v1/comments/lonely/context", role="moderator")
    assert status == 200
    assert body["article"] is None and body["parent"] is None and body["thread"] == []
    status, body = await service.call("GET", "/v1/comments/nope/context", role="moderator")
    assert status == 404 and body["error"]["code"] == "comment_not_found"
    status, _ = await service.call("GET", "/v1/comments/lonely/context", role="site")
    assert status == 403


# -- queue items: lines, duplicate keys, order -------------------------------------------------


async def test_queue_items_carry_the_lines_in_force(service: Service) -> None:
    await held(service, "c-1")
    status, body = await service.call("GET", "/v1/queue", role="moderator")
    assert status == 200
    lines = body["items"][0]["lines"]
    # What the default guidelines say for the linear classifier's toxicity (the hold line
    # the reason cites), seen by a moderator who cannot read the guidelines.
    reason = body["items"][0]["decision"]["reasons"][0]
    assert lines[reason["category"]]["hold"] == reason["threshold"]
    _, claimed = await service.call("POST", "/v1/queue/claim", role="moderator", json={})
    assert claimed["items"][0]["lines"] == lines


async def test_copies_share_duplicate_keys(service: Service) -> None:
    campaign = "Vote NO on measure 12, the corrupt council wants your homes! See example.com"
    await held(service, "copy-1", text=campaign)
    await held(service, "copy-2", text=campaign.upper().replace(",", " ,  "))
    await held(service, "copy-3", text=campaign.replace("homes", "houses"))
    await held(service, "different", text="you are an idiot and so is your dog")
    _, body = await service.call("GET", "/v1/queue", role="moderator")
    keys = {item["id"]: set(item["duplicate_keys"]) for item in body["items"]}
    assert keys["copy-1"] == keys["copy-2"]  # the same normalised words
    assert keys["copy-1"] & keys["copy-3"]  # most shingles shared
    assert not keys["copy-1"] & keys["different"]


async def test_queue_and_claims_sort_by_age(service: Service) -> None:
    await held(service, "old-mild", text="see example.com")  # a link: priority 30
    await held(service, "new-urgent", text="you are an idiot")
    _, by_priority = await service.call("GET", "/v1/queue", role="moderator")
    assert [i["id"] for i in by_priority["items"]] == ["new-urgent", "old-mild"]
    _, by_age = await service.call("GET", "/v1/queue?sort=age", role="moderator")
    assert [i["id"] for i in by_age["items"]] == ["old-mild", "new-urgent"]
    status, _ = await service.call("GET", "/v1/queue?sort=newest", role="moderator")
    assert status == 422
    _, claimed = await service.call(
        "POST", "/v1/queue/claim", role="moderator", json={"limit": 1, "sort": "age"}
    )
    assert [i["id"] for i in claimed["items"]] == ["old-mild"]


# -- bulk decisions ----------------------------------------------------------------------------


async def test_bulk_decision_decides_each_as_if_alone(service: Service) -> None:
    hook = await subscribe(service)
    for i in range(3):
        await held(service, f"b-{i}")
    status, body = await service.call(
        "POST",
        "/v1/decisions/bulk",
        role="moderator",
        json={"ids": ["b-0", "b-1", "b-2"], "action": "reject", "rule": "keep-it-civil"},
    )
    assert status == 200, body
    assert body["decided"] == 3 and body["failed"] == 0
    assert [r["id"] for r in body["results"]] == ["b-0", "b-1", "b-2"]
    for result in body["results"]:
        assert result["status"] == 200 and result["comment"]["status"] == "rejected"
    for i in range(3):
        decisions = await history(service, f"b-{i}")
        assert [d["action"] for d in decisions] == ["hold", "reject"]
        last = decisions[-1]
        assert last["by"] == "moderator" and last["moderator"] == "test-moderator"
        assert last["reasons"][0]["rule"] == "keep-it-civil"
        assert last["statement"] is not None  # the statement of reasons, as one by one
    assert await events(service, hook) == [(f"b-{i}", "comment.rejected") for i in range(3)]


async def test_bulk_reports_another_moderators_claim_per_id(service: Service) -> None:
    await held(service, "mine")
    await held(service, "theirs", text="you are a moron")
    other = await extra_moderator(service, "other-moderator")
    status, claimed = await call_as(service, other, "POST", "/v1/queue/claim", json={"limit": 1})
    assert status == 200
    taken = claimed["items"][0]["id"]
    free = "theirs" if taken == "mine" else "mine"
    status, body = await service.call(
        "POST",
        "/v1/decisions/bulk",
        role="moderator",
        json={"ids": [taken, free, "missing"], "action": "approve"},
    )
    assert status == 200, body
    results = {r["id"]: r for r in body["results"]}
    assert results[taken]["status"] == 409
    assert results[taken]["error"]["code"] == "claimed_by_other"
    assert results[free]["status"] == 200 and results[free]["comment"]["status"] == "approved"
    assert results["missing"]["status"] == 404
    assert body["decided"] == 1 and body["failed"] == 2
    assert [d["action"] for d in await history(service, taken)] == ["hold"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"ids": [], "action": "approve"}, "validation_failed"),
        (
            {"ids": [f"c-{i}" for i in range(MAX_BULK + 1)], "action": "approve"},
            "validation_failed",
        ),
        ({"ids": ["x", "x"], "action": "approve"}, "repeated_ids"),
        ({"ids": ["x"], "action": "reject", "rule": "no-such-rule"}, "unknown_rule"),
        ({"ids": ["x"], "action": "hold"}, "validation_failed"),
        ({"ids": ["bad/id"], "action": "approve"}, "validation_failed"),
    ],
)
async def test_bulk_refuses_bad_requests_whole(
    service: Service, payload: dict[str, Any], code: str
) -> None:
    await held(service, "x")
    status, body = await service.call("POST", "/v1/decisions/bulk", role="moderator", json=payload)
    assert status == 422, body
    assert body["error"]["code"] == code
    assert [d["action"] for d in await history(service, "x")] == ["hold"]


async def test_bulk_needs_a_moderator(service: Service) -> None:
    status, _ = await service.call(
        "POST", "/v1/decisions/bulk", role="site", json={"ids": ["x"], "action": "approve"}
    )
    assert status == 403


# -- the author sweep --------------------------------------------------------------------------


async def test_reject_pending_of_an_author(service: Service) -> None:
    hook = await subscribe(service)
    await held(service, "u9-a", author_id="u-9")
    await held(service, "u9-b", text="you are a moron", author_id="u-9")
    await service.post_comment(id="u9-fine", text="A calm remark.", author_id="u-9")
    await held(service, "someone-else", author_id="u-3")
    status, body = await service.call(
        "POST",
        "/v1/authors/u-9/reject-pending",
        role="moderator",
        json={"rule": "keep-it-civil", "reason": "spam campaign"},
    )
    assert status == 200, body
    assert sorted(r["id"] for r in body["results"]) == ["u9-a", "u9-b"]
    assert body["decided"] == 2 and body["failed"] == 0 and body["remaining"] == 0
    for comment_id in ("u9-a", "u9-b"):
        last = (await history(service, comment_id))[-1]
        assert last["action"] == "reject" and last["reasons"][0]["rule"] == "keep-it-civil"
        # The author is told the rule, as well as the moderator's words.
        assert "spam campaign" in last["message"] and "section" in last["message"]
    assert (await history(service, "u9-fine"))[-1]["action"] == "approve"
    assert [d["action"] for d in await history(service, "someone-else")] == ["hold"]
    assert [e for e in await events(service, hook) if e[0] != "u9-fine"] == [
        ("u9-a", "comment.rejected"),
        ("u9-b", "comment.rejected"),
    ]
    status, body = await service.call(
        "POST", "/v1/authors/u-9/reject-pending", role="moderator", json={}
    )
    assert status == 200 and body["results"] == [] and body["remaining"] == 0


async def test_reject_pending_leaves_claimed_ones_and_says_so(service: Service) -> None:
    await held(service, "u9-a", author_id="u-9")
    await held(service, "u9-b", text="you are a moron", author_id="u-9")
    other = await extra_moderator(service, "other-moderator")
    _, claimed = await call_as(service, other, "POST", "/v1/queue/claim", json={"limit": 1})
    taken = claimed["items"][0]["id"]
    status, body = await service.call(
        "POST", "/v1/authors/u-9/reject-pending", role="moderator", json={}
    )
    assert status == 200
    results = {r["id"]: r["status"] for r in body["results"]}
    assert results[taken] == 409 and list(results.values()).count(200) == 1
    assert body["remaining"] == 1
    status, body = await service.call(
        "POST",
        "/v1/authors/u-9/reject-pending",
        role="moderator",
        json={"rule": "nope"},
    )
    assert status == 422 and body["error"]["code"] == "unknown_rule"
    status, _ = await service.call(
        "POST", "/v1/authors/u-9/reject-pending", role="moderator", json={"extra": 1}
    )
    assert status == 422


async def test_a_rejection_with_a_rule_and_words_cites_the_rule(service: Service) -> None:
    await held(service, "c-1")
    status, body = await service.call(
        "POST",
        "/v1/comments/c-1/decision",
        role="moderator",
        json={"action": "reject", "rule": "keep-it-civil", "reason": "name-calling"},
    )
    assert status == 200, body
    message = body["decision"]["message"]
    assert "name-calling" in message
    assert "section" in message  # the rule's guideline section, as without words
