"""The website's endpoints over real HTTP, on a real SQLite file, with the linear classifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select

from classifiers.base import CATEGORIES, Scores
from moderation.http.context import DATABASE
from moderation.storage.tables import Base
from tests.conftest import Service, ServiceFactory


async def test_benign_comment_is_approved_and_stored(service: Service) -> None:
    status, body = await service.post_comment(id="c-1", text="Thank you for this careful report.")
    assert status == 201
    assert body["id"] == "c-1"
    assert body["status"] == "approved"
    decision = body["decision"]
    assert decision["action"] == "approve"
    assert decision["by"] == "auto"
    assert decision["moderator"] is None
    assert decision["classifier"] == "linear"
    assert decision["guidelines_version"] == 1
    assert set(decision["scores"]) == {"toxicity"}
    assert decision["at"].endswith("Z")
    assert decision["reasons"] == []
    status, stored = await service.call("GET", "/v1/comments/c-1")
    assert status == 200
    assert stored["status"] == "approved"
    assert len(stored["history"]) == 1


async def test_abusive_comment_is_held_with_threshold_reason(service: Service) -> None:
    status, body = await service.post_comment(text="you are an idiot")
    assert status == 201
    assert body["status"] == "pending"
    reason = body["decision"]["reasons"][0]
    assert reason["code"] == "threshold"
    assert reason["rule"] == "keep-it-civil"
    assert reason["category"] == "toxicity"
    assert reason["score"] >= reason["threshold"] == 0.9
    assert "guideline 1" in body["decision"]["message"]


async def test_mild_language_is_never_rejected_on_linear(service: Service) -> None:
    for text in ["damn", "what the hell", "crap article", "Damn, this is a hell of a story."]:
        status, body = await service.post_comment(text=text)
        assert status == 201
        assert body["decision"]["action"] != "reject", text


async def test_banned_term_rejects_even_with_evasion(service: Service) -> None:
    status, body = await service.post_comment(text="Go away, you f\u200ba\u200bggot.")
    assert status == 201
    assert body["status"] == "rejected"
    codes = [r["code"] for r in body["decision"]["reasons"]]
    assert "banned_term" in codes
    assert "guideline 8" in body["decision"]["message"]


async def test_link_is_held(service: Service) -> None:
    status, body = await service.post_comment(text="Read the real story at example dot com today")
    assert status == 201
    assert body["status"] == "pending"
    assert [r["code"] for r in body["decision"]["reasons"]] == ["link"]


async def test_same_id_same_text_is_idempotent(service: Service) -> None:
    first_status, first = await service.post_comment(id="c-same", text="Same words.")
    again_status, again = await service.post_comment(id="c-same", text="Same words.")
    assert (first_status, again_status) == (201, 200)
    assert again["decision"] == first["decision"]
    _, stored = await service.call("GET", "/v1/comments/c-same")
    assert len(stored["history"]) == 1


async def test_same_id_other_text_is_conflict(service: Service) -> None:
    await service.post_comment(id="c-x", text="Original words.")
    status, body = await service.post_comment(id="c-x", text="Different words.")
    assert status == 409
    assert body["error"]["code"] == "comment_exists"


async def test_a_retry_after_the_article_closed_gets_the_stored_comment(
    service: Service,
) -> None:
    """The website's retry of a comment stored before its article closed: 200, not 409."""
    status, first = await service.post_comment(id="c-before", article_id="a-cl", text="Early.")
    assert status == 201, first
    status, _ = await service.call("PUT", "/v1/articles/a-cl", json={"mode": "closed"})
    assert status in (200, 201)
    status, again = await service.post_comment(id="c-before", article_id="a-cl", text="Early.")
    assert status == 200, again
    assert again["decision"] == first["decision"]
    status, body = await service.post_comment(id="c-before", article_id="a-cl", text="Other.")
    assert status == 409 and body["error"]["code"] == "comment_exists"
    status, body = await service.post_comment(id="c-after", article_id="a-cl", text="Late.")
    assert status == 409 and body["error"]["code"] == "article_closed"


async def test_a_retry_when_the_models_queue_is_full_gets_the_stored_comment(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scoring comes before the write, so a full queue refused even a retry of a stored
    comment with 429; the contract's "same id, same text: 200" holds there too."""
    from moderation.workers.scorer import Overloaded, Scorer

    status, first = await service.post_comment(id="c-kept", text="Kept words.")
    assert status == 201, first

    def full(self: Scorer, *args: Any, **kwargs: Any) -> Any:
        raise Overloaded("the model's queue is full", retry_after=1.0)

    monkeypatch.setattr(Scorer, "submit", full)
    status, again = await service.post_comment(id="c-kept", text="Kept words.")
    assert status == 200, again
    assert again["decision"] == first["decision"]
    status, body = await service.post_comment(id="c-new", text="New words.")
    assert status == 429 and body["error"]["code"] == "overloaded", body
    status, body = await service.post_comment(id="c-kept", text="Other words.")
    assert status == 409 and body["error"]["code"] == "comment_exists"


async def test_a_batch_of_retries_when_the_models_queue_is_full(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored comments in a batch are answered with themselves while the queue is full,
    the new ones refused each; a batch of new comments only is refused whole (429)."""
    from moderation.workers.scorer import Overloaded, Scorer

    status, first = await service.post_comment(id="c-kept", text="Kept words.")
    assert status == 201, first

    def full(self: Scorer, *args: Any, **kwargs: Any) -> Any:
        raise Overloaded("the model's queue is full", retry_after=1.0)

    monkeypatch.setattr(Scorer, "submit", full)
    item = {"article_id": "a-1", "author_id": "u-1"}
    comments = [
        item | {"id": "c-kept", "text": "Kept words."},
        item | {"id": "c-new", "text": "New words."},
        item | {"id": "c-kept", "text": "Other words."},
    ]
    status, body = await service.call("POST", "/v1/comments/batch", json={"comments": comments})
    assert status == 200, body
    kept, new, other = body["results"]
    assert kept["id"] == "c-kept" and kept["created"] is False
    assert kept["decision"] == first["decision"]
    assert new["error"]["code"] == "overloaded" and new["status"] == 429
    assert other["error"]["code"] == "comment_exists"
    status, body = await service.call(
        "POST", "/v1/comments/batch", json={"comments": [comments[1]]}
    )
    assert status == 429 and body["error"]["code"] == "overloaded", body


async def test_sending_a_deleted_comment_again_says_it_was_deleted(service: Service) -> None:
    """The same text again is a retry: the stored (erased) resource, 200. Another text
    under its id is not "a comment that exists with a different text" but one deleted."""
    status, _ = await service.post_comment(id="c-gone", text="Soon deleted.")
    assert status == 201
    assert (await service.call("DELETE", "/v1/comments/c-gone"))[0] in (200, 204)
    status, body = await service.post_comment(id="c-gone", text="Soon deleted.")
    assert status == 200 and body["text"] is None, body
    status, body = await service.post_comment(id="c-gone", text="Something else.")
    assert status == 409 and body["error"]["code"] == "comment_deleted", body


async def test_concurrent_duplicates_decide_once(service: Service) -> None:
    import asyncio

    results = await asyncio.gather(
        *[service.post_comment(id="c-race", text="Racing words.") for _ in range(8)]
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 7 + [201]
    _, stored = await service.call("GET", "/v1/comments/c-race")
    assert len(stored["history"]) == 1


async def test_edit_is_moderated_again(service: Service) -> None:
    await service.post_comment(id="c-e", text="A calm remark.")
    status, body = await service.call("PUT", "/v1/comments/c-e", json={"text": "you are an idiot"})
    assert status == 200
    assert body["text"] == "you are an idiot"
    assert body["status"] == "pending"
    assert [d["action"] for d in body["history"]] == ["approve", "hold"]
    # the idempotency check follows the edited text
    status, _ = await service.post_comment(id="c-e", text="you are an idiot")
    assert status == 200


async def test_delete_erases_text_keeps_history(service: Service) -> None:
    await service.post_comment(id="c-d", text="Something I regret.", author_name="Ann")
    status, body = await service.call("DELETE", "/v1/comments/c-d")
    assert status == 200
    assert body["text"] is None
    assert body["author_name"] is None
    assert body["deleted_at"] is not None
    assert len(body["history"]) == 1
    status, body = await service.call("GET", "/v1/comments/c-d")
    assert body["text"] is None and len(body["history"]) == 1
    status, body = await service.call("PUT", "/v1/comments/c-d", json={"text": "new"})
    assert status == 409
    assert body["error"]["code"] == "comment_deleted"


async def test_reports_from_distinct_readers_requeue(service: Service) -> None:
    await service.post_comment(id="c-r", text="An ordinary opinion.")
    for reporter in ["r-1", "r-1", "r-2"]:
        status, body = await service.call(
            "POST", "/v1/comments/c-r/reports", json={"reporter_id": reporter, "reason": "rude"}
        )
        assert status == 202
    assert body["reporters"] == 2
    _, comment = await service.call("GET", "/v1/comments/c-r")
    assert comment["status"] == "approved"
    status, body = await service.call(
        "POST", "/v1/comments/c-r/reports", json={"reporter_id": "r-3", "reason": "rude"}
    )
    assert status == 202
    _, comment = await service.call("GET", "/v1/comments/c-r")
    assert comment["status"] == "pending"
    assert comment["decision"]["reasons"][0]["code"] == "reader_reports"
    assert comment["decision"]["reasons"][0]["guideline"] == "10"
    assert [d["action"] for d in comment["history"]] == ["approve", "hold"]


async def test_article_modes(service: Service) -> None:
    status, article = await service.call(
        "PUT", "/v1/articles/a-pm", json={"title": "POWs", "tags": ["war"], "mode": "premoderate"}
    )
    assert status == 201
    assert article["mode"] == "premoderate"
    status, body = await service.post_comment(article_id="a-pm", text="A calm remark.")
    assert body["status"] == "pending"
    assert [r["code"] for r in body["decision"]["reasons"]] == ["article_premoderated"]
    status, article = await service.call("PUT", "/v1/articles/a-pm", json={"mode": "closed"})
    assert status == 200
    status, body = await service.post_comment(article_id="a-pm", text="Another remark.")
    assert status == 409
    assert body["error"]["code"] == "article_closed"


class Marked:
    """Scores 0.01 everywhere but where the text names a category: ``identity_attack=0.3``."""

    name = "marked"
    categories = CATEGORIES

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        results = []
        for text in texts:
            scores = dict.fromkeys(CATEGORIES, 0.01)
            for word in text.split():
                category, _, score = word.partition("=")
                if category in scores:
                    scores[category] = float(score)
            results.append(scores)
        return results


async def test_article_tags_apply_overrides(make_service: ServiceFactory) -> None:
    """The default guidelines' war override (tags war, conflict, …; any case) holds
    identity attacks from 0.25 instead of 0.4 and threats from 0.5 instead of 0.4.
    Fails when article tags are not applied (the same score gets the same decision on
    both articles), and when /check matches its tags case-sensitively ("Conflict")."""
    service = await make_service(classifier_instance=Marked())
    await service.call("PUT", "/v1/articles/a-war", json={"tags": ["War"], "mode": "auto"})
    await service.call("PUT", "/v1/articles/a-local", json={"tags": ["council"], "mode": "auto"})

    async def decided(article_id: str, text: str) -> tuple[str, list[Any]]:
        status, body = await service.post_comment(article_id=article_id, text=text)
        assert status == 201, body
        reasons = [
            (r["code"], r.get("category"), r.get("threshold")) for r in body["decision"]["reasons"]
        ]
        return body["status"], reasons

    attack = "They are all alike identity_attack=0.3"
    assert await decided("a-war", attack) == (
        "pending",
        [("threshold", "identity_attack", 0.25)],
    )
    assert await decided("a-local", attack) == ("approved", [])
    threat = "Someone should stop them threat=0.45"
    assert await decided("a-war", threat) == ("approved", [])
    assert await decided("a-local", threat) == ("pending", [("threshold", "threat", 0.4)])
    # /check applies the tags it is given the same way.
    for tags, action in ((["Conflict"], "hold"), ([], "approve")):
        status, body = await service.call(
            "POST", "/v1/comments/check", json={"text": attack, "article_tags": tags}
        )
        assert status == 200 and body["action"] == action, (tags, body)


async def test_batch_mixes_results_and_errors(service: Service) -> None:
    await service.post_comment(id="c-b0", text="Existing.")
    comments: list[dict[str, Any]] = [
        {"id": "c-b1", "article_id": "a", "author_id": "u", "text": "Fine words."},
        {"id": "c-b2", "article_id": "a", "author_id": "u", "text": "you are an idiot"},
        {"id": "c-b0", "article_id": "a", "author_id": "u", "text": "Changed."},
        {"id": "bad id!", "article_id": "a", "author_id": "u", "text": "x"},
        {"id": "c-b0", "article_id": "a-1", "author_id": "u-1", "text": "Existing."},
    ]
    status, body = await service.call("POST", "/v1/comments/batch", json={"comments": comments})
    assert status == 200
    results = body["results"]
    assert len(results) == 5
    assert results[0]["status"] == "approved" and results[0]["created"] is True
    assert results[1]["status"] == "pending"
    assert results[2]["error"]["code"] == "comment_exists"
    assert results[3]["error"]["code"] == "validation_failed"
    assert results[4]["id"] == "c-b0" and results[4]["created"] is False


async def test_batch_limit(service: Service) -> None:
    comments = [
        {"id": f"c{i}", "article_id": "a", "author_id": "u", "text": "t"} for i in range(101)
    ]
    status, body = await service.call("POST", "/v1/comments/batch", json={"comments": comments})
    assert status == 422
    assert body["error"]["details"][0]["field"] == "comments"


async def test_banned_author_rejected_premoderated_held(service: Service) -> None:
    from moderation.domain.models import AuthorStatus, utcnow
    from moderation.http.context import DATABASE

    async with service.client.app[DATABASE].transaction() as store:
        await store.set_author("u-bad", AuthorStatus.banned, "spam", utcnow())
        await store.set_author("u-new", AuthorStatus.premoderated, None, utcnow())
    _, body = await service.post_comment(author_id="u-bad", text="Hello there.")
    assert body["status"] == "rejected"
    assert body["decision"]["reasons"][0]["code"] == "author_banned"
    _, body = await service.post_comment(author_id="u-new", text="Hello there.")
    assert body["status"] == "pending"
    assert body["decision"]["reasons"][0]["code"] == "author_premoderated"


async def row_counts(service: Service) -> dict[str, int]:
    """How many rows each table of the service's database holds."""
    database = service.client.app[DATABASE]
    async with database.engine.connect() as connection:
        return {
            table.name: (await connection.execute(select(func.count()).select_from(table))).one()[0]
            for table in Base.metadata.sorted_tables
        }


async def test_check_stores_nothing(service: Service) -> None:
    """Fails when /check writes anything: a comment, a decision, a queue entry, an event."""
    status, _ = await service.call(
        "POST",
        "/v1/webhooks",
        role="admin",
        json={"url": "https://hooks.example.com/h", "events": ["comment.held"]},
    )
    assert status == 201  # so a stored hold would also write an event
    before = await row_counts(service)
    status, body = await service.call(
        "POST", "/v1/comments/check", json={"text": "you are an idiot"}
    )
    assert status == 200
    assert body["action"] == "hold"
    assert "moderator" in body["message"]
    assert await row_counts(service) == before
    assert before["comments"] == 0 and before["decisions"] == 0
    status, queue = await service.call("GET", "/v1/queue", role="moderator")
    assert status == 200 and queue["total"] == 0
