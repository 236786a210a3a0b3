"""The command line as a user runs it: real processes, real files."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import ROOT, cli_env, free_port


def run(
    tmp_path: Path, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = cli_env(tmp_path) | (extra_env or {})
    return subprocess.run(
        [sys.executable, "service.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_keys_create_prints_the_key_last_and_stores_a_hash(tmp_path: Path) -> None:
    result = run(tmp_path, "keys", "create", "--role", "moderator", "--name", "Alice")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("mod_") and len(key) > 40
    with sqlite3.connect(tmp_path / "data" / "moderation.db") as db:
        rows = db.execute("SELECT name, role, key_hash FROM api_keys").fetchall()
    assert rows == [("Alice", "moderator", hashlib.sha256(key.encode()).hexdigest())]
    assert key not in (tmp_path / "data" / "moderation.db").read_bytes().decode("latin-1")


def test_keys_create_with_a_scope(tmp_path: Path) -> None:
    result = run(tmp_path, "keys", "create", "--role", "site", "--name", "News", "--scope", "news")
    assert result.returncode == 0, result.stderr
    assert "in scope 'news'" in result.stdout
    key = result.stdout.strip().splitlines()[-1]
    with sqlite3.connect(tmp_path / "data" / "moderation.db") as db:
        rows = db.execute("SELECT name, scope, key_hash FROM api_keys").fetchall()
    assert rows == [("News", "news", hashlib.sha256(key.encode()).hexdigest())]
    refused = run(tmp_path, "keys", "create", "--role", "site", "--name", "x", "--scope", "A/b")
    assert refused.returncode == 2
    assert "scope" in refused.stderr


def test_keys_create_rejects_bad_role(tmp_path: Path) -> None:
    result = run(tmp_path, "keys", "create", "--role", "owner", "--name", "x")
    assert result.returncode != 0
    assert "invalid choice" in result.stderr


def test_score_prints_scores_and_decision_and_stores_nothing(tmp_path: Path) -> None:
    result = run(tmp_path, "score", "you are an idiot")
    assert result.returncode == 0, result.stderr
    assert "classifier: linear" in result.stdout
    assert "toxicity" in result.stdout
    assert "decision: hold" in result.stdout
    assert not (tmp_path / "data").exists()
    result = run(tmp_path, "score", "--json", "Thank you for the report.")
    data = json.loads(result.stdout)
    assert data["action"] == "approve" and data["classifier"] == "linear"
    assert set(data["scores"]) == {"toxicity"}


def test_score_uses_the_guidelines_in_the_database(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    with sqlite3.connect(tmp_path / "data" / "moderation.db") as db:
        (document,) = db.execute("SELECT document FROM guideline_versions").fetchone()
        changed = json.loads(document)
        changed["rules"][0]["classifiers"]["linear"] = {"hold_at": 0.5, "reject_at": 0.6}
        db.execute(
            "INSERT INTO guideline_versions VALUES (2, ?, 'test', '2026-01-01', NULL)",
            (json.dumps(changed),),
        )
    data = json.loads(run(tmp_path, "score", "--json", "you are an idiot").stdout)
    assert (data["action"], data["guidelines_version"]) == ("reject", 2)


def test_db_upgrade_is_repeatable(tmp_path: Path) -> None:
    for _ in range(2):
        result = run(tmp_path, "db", "upgrade")
        assert result.returncode == 0, result.stderr
        assert "guidelines version 1" in result.stdout


def test_bad_configuration_is_reported(tmp_path: Path) -> None:
    result = run(tmp_path, "db", "upgrade", extra_env={"MODERATION_PORT": "eighty"})
    assert result.returncode == 2
    assert "MODERATION_PORT" in result.stderr


@pytest.mark.parametrize("argv", [[], ["serve"]])
def test_serve_answers_healthz_with_default_classifier_offline(
    tmp_path: Path, argv: list[str]
) -> None:
    """No network: the default preference falls back to minilm, which reports threats,
    insults and attacks on groups (not only profanity), and says what it covers."""
    port = free_port()
    env = cli_env(tmp_path) | {
        "MODERATION_PORT": str(port),
        "MODERATION_MODEL_DOWNLOAD_TIMEOUT_S": "3",
    }
    del env["MODERATION_CLASSIFIER"]
    process = subprocess.Popen(
        [sys.executable, "service.py", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        started = time.monotonic()
        body = None
        while time.monotonic() - started < 60:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = json.loads(r.read())
                    break
            except OSError:
                time.sleep(0.2)
        assert body is not None, "the service did not answer /healthz within 60 s"
        assert body["status"] == "ok"
        assert body["classifier"] == "minilm"
        assert body["database"] == "ok"
        assert body["classifier_fallbacks"][0]["classifier"] == "detoxify:unbiased"
        assert {"threat", "insult", "identity_attack"} <= set(body["classifier_categories"])
        assert body["classifier_languages"] == ["en"]
        assert body["examples_encoder"] is True
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "RUNNING FALLBACK CLASSIFIER minilm" in output
    assert "deciding with minilm: scores toxicity" in output
