"""Operations endpoints: health and metrics, no key needed."""

from __future__ import annotations

from tests.conftest import Service


async def test_healthz(service: Service) -> None:
    async with service.client.get("/healthz") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "ok"
    assert body["classifier"] == "linear"
    assert body["database"] == "ok"


async def test_healthz_degraded_when_database_is_gone(service: Service) -> None:
    from moderation.http.context import DATABASE

    database = service.client.app[DATABASE]

    async def broken() -> bool:
        return False

    database.ping = broken  # type: ignore[method-assign]
    async with service.client.get("/healthz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["status"] == "degraded" and body["database"] == "unavailable"
    assert body["error"]["code"] == "database_unavailable"


async def test_metrics(service: Service) -> None:
    await service.post_comment(text="you are an idiot")
    await service.post_comment(text="A calm remark.")
    async with service.client.get("/metrics") as response:
        assert response.status == 200
        assert response.content_type.startswith("text/plain")
        text = await response.text()
    assert 'moderation_decisions_total{action="hold",by="auto",reason="threshold"} 1.0' in text
    assert 'moderation_decisions_total{action="approve",by="auto",reason="none"} 1.0' in text
    assert "moderation_queue_depth 1.0" in text
    assert (
        'moderation_http_requests_total{method="POST",route="/v1/comments",status="201"} 2.0'
        in text
    )
    assert "moderation_classifier_batch_size_count" in text
    assert "moderation_webhook_backlog 0.0" in text


async def test_me_says_who_the_key_is_and_what_is_scored(service: Service) -> None:
    from classifiers.base import CATEGORIES

    for role in ("site", "moderator", "admin"):
        status, body = await service.call("GET", "/v1/me", role=role)
        assert status == 200
        assert body["role"] == role and body["name"] == f"test-{role}"
        assert body["categories"] == list(CATEGORIES)
        assert body["classifier"]["name"] == "linear"
        assert body["classifier"]["categories"] == ["toxicity"]
        if role == "site":
            assert "rules" not in body
        else:  # what a moderator may cite when deciding
            assert {r["id"] for r in body["rules"]} >= {"no-threats", "keep-it-civil"}
    async with service.client.get("/v1/me", headers={"Authorization": "Bearer nope"}) as answer:
        assert answer.status == 401
        assert (await answer.json())["error"]["code"]
