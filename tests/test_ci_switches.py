"""What the suite does when PostgreSQL or Chromium is missing (tests/conftest.py).

Each case runs pytest in a subprocess on a generated two-test file that loads
tests/conftest.py as a plugin: one test needs PostgreSQL (``postgres_url``), one
Chromium (``chromium``). Without MODERATION_TEST_REQUIRE they skip, with the reason;
with it they fail, with the reason; a server that answers but refuses the test's user
fails either way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
# tests/conftest.py as a plugin (the generated file is outside tests/), skip reasons shown.
# Plugins the generated tests do not use stay off (they take seconds to load).
ARGS = ["-p", "tests.conftest", "-rs"]
for plugin in ("cacheprovider", "schemathesis", "hypothesispytest", "anyio"):
    ARGS += ["-p", f"no:{plugin}"]
NOT_RUNNING = "postgresql+asyncpg://postgres@127.0.0.1:1/postgres"  # port 1: refused
TESTS = """
from pathlib import Path

import pytest

import tests.conftest


@pytest.fixture(autouse=True)
def _no_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tests.conftest, "CHROMIUM", Path("/nonexistent/chromium"))


def test_needs_postgres(postgres_url: str) -> None:
    pass


def test_needs_chromium(chromium: Path) -> None:
    pass
"""


def run_pytest(
    tmp_path: Path, postgres: str, require: str | None
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_generated.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_TEST_")}
    env["MODERATION_TEST_POSTGRES"] = postgres
    if require is not None:
        env["MODERATION_TEST_REQUIRE"] = require
    return subprocess.run(
        [sys.executable, "-m", "pytest", *ARGS, "-c", str(tmp_path / "pytest.ini"), str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_the_switch_missing_services_skip_with_the_reason(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, NOT_RUNNING, require=None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 skipped" in done.stdout
    assert "PostgreSQL is not running at postgresql+asyncpg://postgres@127.0.0.1:1" in done.stdout
    assert "ConnectionRefusedError" in done.stdout
    assert "Chromium at /nonexistent/chromium" in done.stdout


def test_the_switch_turns_those_skips_into_failures(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, NOT_RUNNING, require="postgres,chromium")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "skipped" not in done.stdout
    assert "2 errors" in done.stdout
    assert "PostgreSQL is not running at postgresql+asyncpg://postgres@127.0.0.1:1" in done.stdout
    assert "Chromium at /nonexistent/chromium" in done.stdout
    assert "MODERATION_TEST_REQUIRE=postgres,chromium: a failure, not a skip" in done.stdout


def test_the_switch_fails_only_what_it_names(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, NOT_RUNNING, require="postgres")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and "1 error" in done.stdout
    assert "SKIPPED" in done.stdout and "Chromium at /nonexistent/chromium" in done.stdout


def test_a_misspelt_requirement_is_refused(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, NOT_RUNNING, require="postgresql")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "MODERATION_TEST_REQUIRE names postgresql; known: postgres, chromium" in done.stderr


def test_a_server_that_refuses_the_user_fails_without_the_switch(
    tmp_path: Path, postgres_url: str
) -> None:
    """Bad credentials are a broken set-up, not a missing one: never a skip. (Needs a
    server that runs, like every PostgreSQL test.)"""
    stranger = make_url(postgres_url).set(username="no_such_role_here", database="postgres")
    done = run_pytest(tmp_path, stranger.render_as_string(hide_password=False), require=None)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and "1 error" in done.stdout  # the skip: Chromium
    assert "and not because no server runs there" in done.stdout
    assert 'role "no_such_role_here" does not exist' in done.stdout


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@db.example:5432/postgres",
        "postgresql+asyncpg://postgres:secret@127.0.0.1:5432/postgres?ssl=disable",
    ],
)
def test_test_databases_are_made_on_the_configured_server(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MODERATION_TEST_POSTGRES names the server; the test database keeps its host,
    port, user, password and options, and only the database name changes."""
    import tests.conftest as conftest

    statements: list[str] = []
    monkeypatch.setattr(conftest, "PG_ADMIN_URL", url)
    monkeypatch.setattr(conftest, "_admin_sql", statements.append)
    made = make_url(conftest.create_postgres_database())
    assert statements == [f'CREATE DATABASE "{made.database}"']
    assert made.database and made.database.startswith("moderation_test_")
    assert made.set(database="postgres") == make_url(url)
