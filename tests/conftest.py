"""Shared fixtures: a service per test on its own SQLite file, keys for each role.

What the suite needs from outside the venv, and what happens without it:

* PostgreSQL, at ``MODERATION_TEST_POSTGRES`` (a SQLAlchemy URL of a server and a user
  that may create databases; default ``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``).
  Every test that needs it goes through the ``postgres_url`` fixture (a fresh database
  each). A server that is not running (connection refused, no socket) skips those tests;
  any other error (bad credentials, no permission, a timeout) fails them.
* Chromium at /usr/bin/chromium and the playwright package, for tests/browser (the
  ``chromium`` fixture); skipped without them.

``MODERATION_TEST_REQUIRE=postgres,chromium`` (a comma-separated list; CI sets both, see
.ci/run) turns those skips into failures that name the reason: nothing vanishes quietly.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import importlib.util
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from classifiers.encoder import SentenceEncoder
from moderation.app import create_app
from moderation.domain.errors import Conflict
from moderation.domain.models import Role
from moderation.http.context import DATABASE
from moderation.services.keys import Keys
from moderation.settings import Settings
from moderation.storage.database import Database

pytest_plugins = ["tests.tiny_detoxify"]

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = (
    os.environ.get("MODERATION_TEST_POSTGRES")
    or "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
CHROMIUM = Path("/usr/bin/chromium")
# What MODERATION_TEST_REQUIRE may name: a test that needs one of them and would skip
# without it fails instead.
REQUIREMENTS = {
    "postgres": "the PostgreSQL server at MODERATION_TEST_POSTGRES",
    "chromium": "Chromium at /usr/bin/chromium and the playwright package",
}


def required() -> set[str]:
    """The requirements MODERATION_TEST_REQUIRE names (read each time: tests may set it)."""
    value = os.environ.get("MODERATION_TEST_REQUIRE", "")
    return {name.strip() for name in value.split(",") if name.strip()}


def pytest_configure(config: pytest.Config) -> None:
    unknown = required() - REQUIREMENTS.keys()
    if unknown:  # a typo must not quietly require nothing
        raise pytest.UsageError(
            f"MODERATION_TEST_REQUIRE names {', '.join(sorted(unknown))}; "
            f"known: {', '.join(REQUIREMENTS)}"
        )


def missing(requirement: str, reason: str) -> NoReturn:
    """Skip for the ``reason`` that ``requirement`` is not there, or fail when
    MODERATION_TEST_REQUIRE names it."""
    if requirement in required():
        pytest.fail(
            f"{reason} (MODERATION_TEST_REQUIRE={os.environ['MODERATION_TEST_REQUIRE']}: "
            "a failure, not a skip)",
            pytrace=False,
        )
    pytest.skip(reason)


@functools.cache
def _postgres_hosts() -> frozenset[str]:
    """The MODERATION_TEST_POSTGRES server's host and its addresses: the one place
    beyond loopback the suite may reach."""
    from sqlalchemy.engine import make_url

    host = make_url(PG_ADMIN_URL).host
    if not host:
        return frozenset()
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        addresses = set()
    return frozenset({host} | addresses)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in the suite may reach beyond this machine (but the test PostgreSQL)."""
    real_connect = socket.socket.connect
    allowed = {"127.0.0.1", "::1", "localhost"} | _postgres_hosts()

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in allowed and not host.startswith("/"):
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
        # Webhook receivers in the suite are aiohttp test servers on loopback; tests of
        # the refusal of non-public destinations pass webhook_allow_hosts="".
        webhook_allow_hosts="127.0.0.1,::1",
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
        keys: dict[str, str] = {}
        for role in Role:
            try:
                created = await Keys(database).create(f"test-{role.name}", role)
            except Conflict:  # a second service on the same database: names are unique
                created = await Keys(database).create(f"test-{role.name}-{len(keys)}-b", role)
            keys[role.name] = created.secret
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


def _run_isolated(coro_factory: Callable[[], Awaitable[None]]) -> None:
    """Run admin SQL on a private loop in a thread (fixtures may already be inside a loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(coro_factory())).result()  # type: ignore[arg-type]


def _admin_sql(statement: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        admin = create_async_engine(
            PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"timeout": 10}
        )
        try:
            async with admin.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await admin.dispose()

    _run_isolated(run)


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _not_running(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says no server is there at all: connection
    refused, or no Unix socket. Nothing else is a reason to skip."""
    refused = {errno.ECONNREFUSED, errno.EADDRNOTAVAIL}
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError | FileNotFoundError):
            return True
        # asyncio, trying each address of a name (::1, then 127.0.0.1), joins the errors.
        if isinstance(seen, OSError) and str(seen).startswith("Multiple exceptions:"):
            codes = {int(code) for code in re.findall(r"\[Errno (\d+)\]", str(seen))}
            return bool(codes) and codes <= refused
        seen = seen.__cause__ or seen.__context__
    return False


def create_postgres_database() -> str:
    """A fresh, empty database on the MODERATION_TEST_POSTGRES server: its URL. The one
    way tests get PostgreSQL. Skips when no server runs there (fails instead under
    MODERATION_TEST_REQUIRE=postgres); any other error fails."""
    from sqlalchemy.engine import make_url

    name = f"moderation_test_{uuid.uuid4().hex[:10]}"
    try:
        _admin_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        if not _not_running(exc):
            raise RuntimeError(
                f"cannot create a test database on PostgreSQL at {_shown(PG_ADMIN_URL)}, "
                "and not because no server runs there (MODERATION_TEST_POSTGRES must name "
                f"a server that answers and a user that may): {type(exc).__name__}: {exc}"
            ) from exc
        reason = f"{type(exc).__name__}: {exc}"
    else:
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    missing("postgres", f"PostgreSQL is not running at {_shown(PG_ADMIN_URL)}: {reason}")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (``create_postgres_database``)."""
    from sqlalchemy.engine import make_url

    url = create_postgres_database()
    try:
        yield url
    finally:
        _admin_sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium, for tests/browser; skipped without it or without playwright
    (failed instead under MODERATION_TEST_REQUIRE=chromium)."""
    if not CHROMIUM.exists():
        missing("chromium", f"browser tests need Debian's Chromium at {CHROMIUM} (make chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing("chromium", "browser tests need the playwright Python package")
    return CHROMIUM


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
