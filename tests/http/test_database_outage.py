"""The database goes away: 503 with a clear error, /healthz degraded, recovery by itself."""

from __future__ import annotations

import pytest

from moderation.storage import database
from tests.conftest import Service, ServiceFactory, _admin_sql


async def serving_one_comment(make_service: ServiceFactory, postgres_url: str) -> Service:
    service = await make_service(database_url=postgres_url)
    status, _ = await service.post_comment(id="c-1", text="Before the outage.")
    assert status == 201
    return service


def drop_connections(postgres_url: str) -> None:
    name = postgres_url.rsplit("/", 1)[-1]
    _admin_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")


async def test_postgres_outage_is_503_and_recovers(
    make_service: ServiceFactory, postgres_url: str
) -> None:
    service = await serving_one_comment(make_service, postgres_url)
    name = postgres_url.rsplit("/", 1)[-1]
    _admin_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    drop_connections(postgres_url)
    try:
        status, body = await service.post_comment(id="c-2", text="During the outage.")
        assert status == 503, body
        assert body["error"]["code"] == "database_unavailable"
        async with service.client.get("/healthz") as response:
            assert response.status == 503
            assert (await response.json())["database"] == "unavailable"
    finally:
        _admin_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    status, body = await service.post_comment(id="c-2", text="During the outage.")
    assert status == 201, body
    async with service.client.get("/healthz") as response:
        assert response.status == 200


async def test_idle_connections_are_checked_before_use(
    make_service: ServiceFactory, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restart while the pool is idle costs no request an error."""
    service = await serving_one_comment(make_service, postgres_url)
    drop_connections(postgres_url)
    monkeypatch.setattr(database, "IDLE_PING_S", 0.0)  # every pooled connection is "idle"
    status, body = await service.post_comment(id="c-2", text="After the restart.")
    assert status == 201, body
