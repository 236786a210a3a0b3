"""A classifier error or timeout never approves: the comment is held."""

from __future__ import annotations

import time
from collections.abc import Sequence

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
    import asyncio

    service = await make_service(classifier_instance=Slow(), queue_limit=1, batch_max_size=1)
    results = await asyncio.gather(*(service.post_comment(text=f"t{i}") for i in range(4)))
    statuses = [s for s, _ in results]
    assert 429 in statuses and 201 in statuses
    refused = next(body for s, body in results if s == 429)
    assert refused["error"]["code"] == "overloaded"
