"""Operations endpoints: health and metrics, no key needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation.settings import Settings, SettingsError
from tests.conftest import Service, ServiceFactory


async def test_healthz(service: Service) -> None:
    async with service.client.get("/healthz") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "ok"
    assert body["classifier"] == "linear"
    assert body["database"] == "ok"


async def test_healthz_degraded_when_database_is_gone(service: Service) -> None:
    """The SQLite file's directory is moved away and the pool's open connections closed,
    so the service really cannot reach its database; then it comes back. Fails when the
    health check does not ask the database (a ping that answers without it, or that
    reports a failure as success)."""
    from moderation.http.context import DATABASE

    database = service.client.app[DATABASE]
    assert database.engine.url.database is not None
    data_dir = Path(database.engine.url.database).parent
    gone = data_dir.with_name(data_dir.name + "-gone")
    data_dir.rename(gone)
    try:
        await database.engine.dispose()  # no open connection survives the move
        async with service.client.get("/healthz") as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == "1"
            body = await response.json()
        assert body["status"] == "degraded" and body["database"] == "unavailable"
        assert body["error"]["code"] == "database_unavailable"
    finally:
        gone.rename(data_dir)
    async with service.client.get("/healthz") as response:
        assert response.status == 200
        assert (await response.json())["database"] == "ok"


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


async def test_no_server_software_or_version_is_announced(service: Service) -> None:
    for method, path in (
        ("GET", "/healthz"),
        ("GET", "/ui/"),
        ("GET", "/ui/app.js"),
        ("GET", "/ui"),  # the redirect
        ("GET", "/nope"),
        ("POST", "/v1/comments"),  # 401
    ):
        async with service.client.request(method, path, allow_redirects=False) as response:
            server = response.headers.get("Server", "")
            assert "aiohttp" not in server and "Python" not in server, (path, server)


async def test_the_page_is_isolated_and_its_404s_are_errors(service: Service) -> None:
    async with service.client.get("/ui/") as response:
        assert response.status == 200
        headers = response.headers
        assert "camera=()" in headers["Permissions-Policy"]
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
    async with service.client.get("/ui/no-such-file.js") as response:
        assert response.status == 404
        body = await response.json()
        assert body["error"]["code"] == "not_found"
        assert "Content-Security-Policy" in response.headers


async def test_metrics_can_require_a_key(make_service: ServiceFactory) -> None:
    service = await make_service(metrics_role="moderator")
    async with service.client.get("/metrics") as response:
        assert response.status == 401
    async with service.client.get("/metrics", headers=service.auth("site")) as response:
        assert response.status == 403
    async with service.client.get("/metrics", headers=service.auth("moderator")) as response:
        assert response.status == 200
        assert "moderation_" in await response.text()
    with pytest.raises(SettingsError):
        Settings(metrics_role="root")


async def test_the_page_serves_only_its_own_files(service: Service) -> None:
    for path in ("/ui/app.js", "/ui/style.css", "/ui/favicon.svg"):
        async with service.client.get(path) as response:
            assert response.status == 200, path
    for path in ("/ui/../moderation/settings.py", "/ui/%2e%2e/%2e%2e/pyproject.toml", "/ui/x/"):
        async with service.client.get(path) as response:
            assert response.status == 404, path
            assert (await response.json())["error"]["code"] == "not_found"
