"""Who reads the nearest example of an ``example`` reason: moderators, never the website.

The example is another reader's comment (learned from moderators' decisions), so the
contract shows it "for moderators" only: on the comment, in the queue, in a claim and in
``POST /v1/comments/check``; a ``site`` key sees the reason without it.
"""

from __future__ import annotations

from typing import Any

import pytest

from classifiers.encoder import SentenceEncoder
from tests.conftest import Service, ServiceFactory

RULE = {
    "id": "no-accusing-readers",
    "category": "insult",
    "title": "No accusing other readers of being paid trolls or bots",
    "guideline": "4",
    "examples": [
        "You're obviously a paid troll, nobody writes this much drivel for free.",
        "Another bot account spreading Kremlin talking points. Reported.",
        "Classic shill. Same script as the other five accounts in this thread.",
        "This is a bot. Zero history, posts every 3 minutes, copy-paste replies.",
    ],
}
ACCUSATION = "Stop pretending to be a concerned citizen, we all know you're a paid troll."


def _example(reasons: list[dict[str, Any]]) -> dict[str, Any]:
    return next(r for r in reasons if r["code"] == "example")


@pytest.fixture
async def taught(make_service: ServiceFactory, encoder: SentenceEncoder) -> Service:
    service = await make_service(embedder_instance=encoder)
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    assert status == 200
    current["rules"].append(RULE)
    status, body = await service.call("PUT", "/v1/guidelines", role="admin", json=current)
    assert status == 200, body
    return service


async def test_check_quotes_the_example_to_moderators_only(taught: Service) -> None:
    status, site = await taught.call("POST", "/v1/comments/check", json={"text": ACCUSATION})
    assert status == 200, site
    assert site["action"] != "approve"
    assert "example" not in _example(site["reasons"])
    status, moderator = await taught.call(
        "POST", "/v1/comments/check", role="moderator", json={"text": ACCUSATION}
    )
    assert status == 200, moderator
    assert _example(moderator["reasons"])["example"] in RULE["examples"]


async def test_the_queue_and_a_claim_quote_the_example(taught: Service) -> None:
    status, comment = await taught.post_comment(id="c-acc", text=ACCUSATION)
    assert status == 201, comment
    assert comment["status"] == "pending"
    assert "example" not in _example(comment["decision"]["reasons"])
    status, queue = await taught.call("GET", "/v1/queue", role="moderator")
    assert status == 200, queue
    (item,) = [i for i in queue["items"] if i["id"] == "c-acc"]
    assert _example(item["decision"]["reasons"])["example"] in RULE["examples"]
    status, claimed = await taught.call(
        "POST", "/v1/queue/claim", role="moderator", json={"limit": 5}
    )
    assert status == 200, claimed
    (item,) = [i for i in claimed["items"] if i["id"] == "c-acc"]
    assert _example(item["decision"]["reasons"])["example"] in RULE["examples"]
