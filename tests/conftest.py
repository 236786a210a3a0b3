"""Shared fixtures: a service per test on its own SQLite file, keys for each role."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from classifiers.encoder import SentenceEncoder
from moderation.app import create_app
from moderation.domain.models import Role
from moderation.http.context import DATABASE
from moderation.services.keys import Keys
from moderation.settings import Settings
from moderation.storage.database import Database

pytest_plugins = ["tests.tiny_detoxify"]

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "MODERATION_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in the suite may reach beyond this machine."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host not in {"127.0.0.1", "::1", "localhost"}
            and not host.startswith("/")
        ):
            raise OSError(f"network access blocked in tests: {host}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        classifier="linear",
        rate_limit_site=0,
        rate_limit_moderator=0,
        rate_limit_admin=0,
        sqlite_synchronous="NORMAL",
        log_format="text",
        # Tests that need the sentence encoder pass the session's (``encoder`` fixture).
        encoder="off",
    )


@dataclass
class Service:
    client: TestClient[web.Request, web.Application]
    keys: dict[str, str]

    def auth(self, role: str = "site") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    async def call(
        self, method: str, path: str, role: str = "site", **kwargs: Any
    ) -> tuple[int, Any]:
        headers = kwargs.pop("headers", {}) | self.auth(role)
        async with self.client.request(method, path, headers=headers, **kwargs) as response:
            body = (
                await response.json()
                if response.content_type == "application/json"
                else await response.text()
            )
            return response.status, body

    async def post_comment(self, **fields: Any) -> tuple[int, Any]:
        payload = {
            "id": f"c-{uuid.uuid4().hex[:8]}",
            "article_id": "a-1",
            "author_id": "u-1",
            "text": "A thoughtful comment.",
        } | fields
        return await self.call("POST", "/v1/comments", json=payload)


ServiceFactory = Callable[..., Awaitable[Service]]


@pytest.fixture
async def make_service(aiohttp_client: Any, settings: Settings) -> ServiceFactory:
    async def make(**overrides: Any) -> Service:
        classifier = overrides.pop("classifier_instance", None)
        shadow = overrides.pop("shadow_classifier_instance", None)
        embedder = overrides.pop("embedder_instance", None)
        app = create_app(
            replace(settings, **overrides),
            classifier=classifier,
            shadow_classifier=shadow,
            embedder=embedder,
        )
        client: TestClient[web.Request, web.Application] = await aiohttp_client(app)
        database = client.app[DATABASE]
        keys = {}
        for role in Role:
            keys[role.name] = (await Keys(database).create(f"test-{role.name}", role)).secret
        return Service(client=client, keys=keys)

    return make


@pytest.fixture
async def service(make_service: ServiceFactory) -> Service:
    return await make_service()


@pytest.fixture(scope="session")
def encoder() -> SentenceEncoder:
    """The real all-MiniLM-L6-v2 encoder (from the pinned package), loaded once: on
    PyTorch, which loads in a fraction of a second (the ONNX export takes seconds)."""
    return SentenceEncoder(runtime="torch", threads=1)


def postgres_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def _run_isolated(coro_factory: Callable[[], Awaitable[None]]) -> None:
    """Run admin SQL on a private loop in a thread (fixtures may already be inside a loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(coro_factory())).result()  # type: ignore[arg-type]


def _admin_sql(statement: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await admin.dispose()

    _run_isolated(run)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; skipped when none answers."""
    if not postgres_available():
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    name = f"moderation_test_{uuid.uuid4().hex[:10]}"
    try:
        _admin_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        pytest.skip(f"cannot create a PostgreSQL test database: {type(exc).__name__}: {exc}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each backend in turn: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'backend.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated database on each backend in turn (storage-level tests)."""
    db = Database(database_url, sqlite_synchronous="NORMAL")
    await db.upgrade()
    try:
        yield db
    finally:
        await db.dispose()
