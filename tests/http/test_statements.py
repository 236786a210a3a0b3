"""Decisions' grounds and statements of reasons (EU Digital Services Act, Art. 17)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from moderation.domain.notices import STATEMENT_CATEGORIES
from tests.conftest import Service
from tests.http.test_notices import notify


async def decide(service: Service, comment_id: str, **body: Any) -> tuple[int, Any]:
    return await service.call(
        "POST", f"/v1/comments/{comment_id}/decision", role="moderator", json=body
    )


async def test_a_rejection_rests_on_the_guidelines_or_on_the_law(service: Service) -> None:
    await service.post_comment(id="c-1", text="A calm remark.")
    await service.post_comment(id="c-2", text="A calm remark.")
    status, plain = await decide(service, "c-1", action="reject")
    assert status == 200, plain
    assert plain["decision"]["ground"] == "guidelines"
    assert plain["decision"]["legal_ground"] is None
    status, illegal = await decide(
        service, "c-2", action="reject", ground="illegal", legal_ground="Criminal Code, s. 185"
    )
    assert status == 200, illegal
    assert illegal["decision"]["ground"] == "illegal"
    assert illegal["decision"]["legal_ground"] == "Criminal Code, s. 185"
    # Stored: read back, and in the history.
    status, shown = await service.call("GET", "/v1/comments/c-2")
    assert shown["decision"]["ground"] == "illegal"
    assert shown["history"][-1]["legal_ground"] == "Criminal Code, s. 185"
    assert shown["history"][0]["ground"] == "guidelines"


async def test_an_illegal_ground_needs_the_law_and_a_rejection(service: Service) -> None:
    await service.post_comment(id="c-1", text="A calm remark.")
    cases: list[dict[str, Any]] = [
        {"action": "reject", "ground": "illegal"},
        {"action": "reject", "ground": "illegal", "legal_ground": "  "},
        {"action": "reject", "ground": "illegal", "legal_ground": "x" * 1001},
        {"action": "approve", "ground": "illegal", "legal_ground": "Criminal Code"},
        {"action": "reject", "legal_ground": "Criminal Code"},
        {"action": "reject", "ground": "unlawful", "legal_ground": "Criminal Code"},
    ]
    for body in cases:
        status, answer = await decide(service, "c-1", **body)
        assert status == 422, (body, answer)
        assert answer["error"]["code"] == "validation_failed"
    status, comment = await service.call("GET", "/v1/comments/c-1")
    assert comment["status"] == "approved" and len(comment["history"]) == 1


def statement(resource: dict[str, Any]) -> dict[str, Any]:
    found = resource["decision"]["statement"]
    assert found is not None, resource["decision"]
    return dict(found)


def days_between(later: str, earlier: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)) / timedelta(days=1)


async def test_an_automatic_rejection_states_its_reasons(service: Service) -> None:
    status, body = await service.post_comment(id="c-bad", text="Go away, you faggot.")
    assert status == 201 and body["status"] == "rejected"
    said = statement(body)
    assert said["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert said["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert said["illegal_content_legal_ground"] is None
    assert "section" in said["incompatible_content_ground"]
    assert said["automated_detection"] is True
    assert said["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert said["source_type"] == "SOURCE_VOLUNTARY"
    assert said["category"] == "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
    assert said["category"] in STATEMENT_CATEGORIES
    assert "removed automatically" in said["decision_facts"]
    # The facts never quote the comment.
    assert "faggot" not in said["decision_facts"] and "Go away" not in said["decision_facts"]
    assert "/v1/comments/{id}/appeals" in said["redress"]["how"]
    assert said["redress"]["until"] in said["redress"]["how"]
    assert days_between(said["redress"]["until"], body["decision"]["at"]) == 183
    # The history carries it too.
    _, shown = await service.call("GET", "/v1/comments/c-bad")
    assert shown["history"][-1]["statement"] == said


async def test_an_automatic_hold_states_its_reasons_while_it_lasts(service: Service) -> None:
    _, held = await service.post_comment(id="c-held", text="you are an idiot")
    assert held["status"] == "pending"
    said = statement(held)
    assert said["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DISABLED"]
    assert said["automated_detection"] is True
    assert said["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert "classifier scored it" in said["decision_facts"]
    assert "idiot" not in said["decision_facts"]
    # A moderator confirms the hold's proposal: partly automated.
    status, rejected = await decide(service, "c-held", action="reject")
    assert status == 200
    confirmed = statement(rejected)
    assert confirmed["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert confirmed["automated_detection"] is True
    assert confirmed["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    assert confirmed["incompatible_content_ground"] == said["incompatible_content_ground"]
    # The hold is over: its history entry no longer carries a statement.
    _, shown = await service.call("GET", "/v1/comments/c-held")
    assert [entry["statement"] is not None for entry in shown["history"]] == [False, True]


async def test_a_moderator_rejecting_an_approved_comment_is_not_automated(
    service: Service,
) -> None:
    _, approved = await service.post_comment(id="c-ok", text="A calm remark.")
    assert approved["decision"]["statement"] is None
    status, rejected = await decide(
        service, "c-ok", action="reject", ground="illegal", legal_ground="Criminal Code, s. 185"
    )
    assert status == 200
    said = statement(rejected)
    assert said["automated_detection"] is False
    assert said["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert said["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert said["illegal_content_legal_ground"] == "Criminal Code, s. 185"
    assert said["incompatible_content_ground"] is None
    assert "illegal content under Criminal Code, s. 185" in said["decision_facts"]
    # Approving again: the approval restricts nothing.
    _, again = await decide(service, "c-ok", action="approve")
    assert again["decision"]["statement"] is None
    assert again["history"][1]["statement"] == said


async def test_after_a_notice_the_source_is_article_16(service: Service) -> None:
    await service.post_comment(id="c-1", text="A calm remark.")
    status, _ = await notify(service, "c-1", category="STATEMENT_CATEGORY_VIOLENCE")
    assert status == 202
    _, held = await service.call("GET", "/v1/comments/c-1")
    said = statement(held)
    assert said["source_type"] == "SOURCE_ARTICLE_16"
    assert said["category"] == "STATEMENT_CATEGORY_VIOLENCE"
    assert said["automated_detection"] is False
    _, rejected = await decide(service, "c-1", action="reject")
    said = statement(rejected)
    assert said["source_type"] == "SOURCE_ARTICLE_16"
    assert said["category"] == "STATEMENT_CATEGORY_VIOLENCE"
    assert said["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"


async def test_appeal_days_are_guidelines_and_at_least_183(service: Service) -> None:
    _, document = await service.call("GET", "/v1/guidelines", role="admin")
    assert document["appeal_days"] == 183
    for days in (182, 0, -1):
        status, body = await service.call(
            "PUT", "/v1/guidelines", role="admin", json=document | {"appeal_days": days}
        )
        assert status == 422, body
        assert "appeal_days" in [d["field"] for d in body["error"]["details"]]
    status, body = await service.call(
        "PUT", "/v1/guidelines", role="admin", json=document | {"appeal_days": 365}
    )
    assert status == 200 and body["appeal_days"] == 365
    _, rejected = await service.post_comment(id="c-bad", text="Go away, you faggot.")
    said = statement(rejected)
    assert days_between(said["redress"]["until"], rejected["decision"]["at"]) == 365
