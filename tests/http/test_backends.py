"""The website flow end to end on each database backend (PostgreSQL when it answers)."""

from __future__ import annotations

import asyncio

from tests.conftest import ServiceFactory


async def test_pipeline_on_backend(make_service: ServiceFactory, database_url: str) -> None:
    service = await make_service(database_url=database_url)
    status, body = await service.post_comment(id="c-1", text="A measured reply.")
    assert (status, body["status"]) == (201, "approved")
    status, _ = await service.post_comment(id="c-1", text="A measured reply.")
    assert status == 200
    status, _ = await service.post_comment(id="c-1", text="Something else.")
    assert status == 409
    status, body = await service.call("PUT", "/v1/comments/c-1", json={"text": "you are an idiot"})
    assert body["status"] == "pending"
    for reporter in ("r1", "r2", "r3"):
        await service.call("POST", "/v1/comments/c-1/reports", json={"reporter_id": reporter})
    status, body = await service.call("DELETE", "/v1/comments/c-1")
    assert body["text"] is None and len(body["history"]) == 2
    results = await asyncio.gather(
        *[service.post_comment(id="c-race", text="Same.") for _ in range(6)]
    )
    assert sorted(s for s, _ in results) == [200] * 5 + [201]
    status, body = await service.call("GET", "/healthz")
    assert body["database"] == "ok"
