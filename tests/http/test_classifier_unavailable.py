"""A classifier error or timeout never approves: the comment is held."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from classifiers.base import Scores
from tests.conftest import ServiceFactory


class Broken:
    name = "broken"
    categories = ("toxicity",)

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        raise RuntimeError("weights corrupted")


class Slow:
    name = "slow"
    categories = ("toxicity",)

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        time.sleep(0.3)
        return [{"toxicity": 0.0} for _ in texts]


async def test_classifier_error_holds(make_service: ServiceFactory) -> None:
    service = await make_service(classifier_instance=Broken())
    status, body = await service.post_comment(text="Perfectly nice words.")
    assert status == 201
    assert body["status"] == "pending"
    reason = body["decision"]["reasons"][0]
    assert reason["code"] == "classifier_unavailable"
    assert body["decision"]["classifier"] == "broken"
    assert body["decision"]["scores"] == {}


async def test_classifier_timeout_holds(make_service: ServiceFactory) -> None:
    service = await make_service(classifier_instance=Slow(), classify_timeout_s=0.05)
    status, body = await service.post_comment(text="Perfectly nice words.")
    assert (status, body["status"]) == (201, "pending")
    assert body["decision"]["reasons"][0]["code"] == "classifier_unavailable"


async def test_overload_is_429_with_retry_after(make_service: ServiceFactory) -> None:
    """Fails when an overloaded answer has no ``Retry-After`` header (or not a whole
    number of seconds, at least 1), or when the 429 is not the ``overloaded`` error."""
    service = await make_service(classifier_instance=Slow(), queue_limit=1, batch_max_size=1)

    async def post(i: int) -> tuple[int, Any, str | None]:
        async with service.client.post(
            "/v1/comments",
            json={"id": f"c-{i}", "article_id": "a", "author_id": "u", "text": f"t{i}"},
            headers=service.auth(),
        ) as response:
            return response.status, await response.json(), response.headers.get("Retry-After")

    results = await asyncio.gather(*(post(i) for i in range(4)))
    statuses = [status for status, _, _ in results]
    assert 429 in statuses and 201 in statuses
    for status, body, retry_after in results:
        if status == 201:
            assert retry_after is None
            continue
        assert status == 429 and body["error"]["code"] == "overloaded"
        # One queued text of 0.3 s: "retry in a second", a whole number, never 0.
        assert retry_after is not None and retry_after.isdigit(), retry_after
        assert 1 <= int(retry_after) <= 10
