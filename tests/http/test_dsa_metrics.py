"""The EU DSA metrics on /metrics, after real decisions: time to decision by the queue's
main reason, decisions per moderator, and moderators' agreement with automatic decisions."""

from __future__ import annotations

import re

from moderation.domain.models import Action, Reason
from moderation.services.decisions import main_reason
from tests.conftest import Service

NOTICE = {
    "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "explanation": "It threatens a named person.",
    "bona_fide": True,
}


async def metrics(service: Service) -> str:
    async with service.client.get("/metrics") as response:
        assert response.status == 200
        return await response.text()


def value(text: str, sample: str) -> float:
    """The value of one sample line (``name{labels}``); 0 when it is absent."""
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def decide(service: Service, comment_id: str, action: str, role: str = "moderator") -> None:
    status, body = await service.call(
        "POST", f"/v1/comments/{comment_id}/decision", role=role, json={"action": action}
    )
    assert status == 200, body


async def test_dsa_metrics_after_real_decisions(service: Service) -> None:
    # Held by the classifier; the moderator approves: disagrees with the automatic hold.
    await service.post_comment(id="c-held", text="you are an idiot")
    await decide(service, "c-held", "approve")
    # Published, then a notice holds it; the moderator rejects: agrees with the hold.
    await service.post_comment(id="c-noticed", text="A calm remark.")
    status, body = await service.call("POST", "/v1/comments/c-noticed/notices", json=NOTICE)
    assert status == 202, body
    await decide(service, "c-noticed", "reject")
    # A published comment rejected by the moderator (out of no queue: no wait; it disagrees
    # with the automatic approval); appealed; the admin upholds the rejection.
    await service.post_comment(id="c-appealed", text="Another calm remark.")
    await decide(service, "c-appealed", "reject")
    status, opened = await service.call(
        "POST",
        "/v1/comments/c-appealed/appeals",
        json={"author_id": "u-1", "explanation": "It was satire."},
    )
    assert status == 201, opened
    status, body = await service.call(
        "POST",
        f"/v1/appeals/{opened['id']}/decision",
        role="admin",
        json={"outcome": "upheld", "reason": "It is no satire."},
    )
    assert status == 200, body

    text = await metrics(service)
    seconds = "moderation_time_to_decision_seconds"
    for reason in ("threshold", "notice", "appeal"):
        assert value(text, f'{seconds}_count{{reason="{reason}"}}') == 1.0, reason
        assert 0 <= value(text, f'{seconds}_sum{{reason="{reason}"}}') < 60
        assert value(text, f'{seconds}_bucket{{le="60.0",reason="{reason}"}}') == 1.0
    # The rejection of a published comment took nothing out of the queue.
    assert value(text, f'{seconds}_count{{reason="none"}}') == 0
    assert len(re.findall(rf"^{seconds}_count", text, re.MULTILINE)) == 3

    decisions = "moderation_moderator_decisions_total"
    assert value(text, f'{decisions}{{moderator="test-moderator"}}') == 3.0
    assert value(text, f'{decisions}{{moderator="test-admin"}}') == 1.0

    agreement = "moderation_moderator_agreement_total"
    # Agreed: the rejection after the notice's automatic hold. Disagreed: the approval of
    # the classifier's hold, and the rejection of an automatically approved comment.
    assert value(text, f'{agreement}{{agreed="true"}}') == 1.0
    assert value(text, f'{agreement}{{agreed="false"}}') == 2.0


async def test_time_to_decision_counts_from_the_first_hold(service: Service) -> None:
    """A notice on a comment already held re-holds it: its wait runs from the first hold,
    and the notice becomes the queue's main reason."""
    await service.post_comment(id="c-1", text="you are an idiot")
    status, body = await service.call("POST", "/v1/comments/c-1/notices", json=NOTICE)
    assert status == 202, body
    _, comment = await service.call("GET", "/v1/comments/c-1", role="moderator")
    await decide(service, "c-1", "reject")
    text = await metrics(service)
    seconds = "moderation_time_to_decision_seconds"
    assert value(text, f'{seconds}_count{{reason="notice"}}') == 1.0
    assert value(text, f'{seconds}_count{{reason="threshold"}}') == 0
    assert comment["status"] == "pending"


def test_main_reason() -> None:
    hold = Action.hold
    threat = Reason("threshold", hold, "t", category="threat", score=0.95)
    link = Reason("link", hold, "l")
    reports = Reason("reader_reports", hold, "r")
    assert main_reason((link, threat)) == "threshold"
    assert main_reason((threat, Reason("notice", hold, "n"))) == "notice"
    assert main_reason((threat,), appealed=True) == "appeal"
    assert main_reason((reports,)) == "reader_reports"
    assert main_reason((Reason("threshold", hold, "o", category="obscene", score=0.5), link)) == (
        "link"
    )
    assert main_reason(()) == "none"
