"""The command line as a user runs it: real processes, real files."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.processes import ROOT, Logged, cli_env, create_key, free_port


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
        while time.monotonic() - started < 180:  # a busy machine exports the encoder slowly
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = json.loads(r.read())
                    break
            except OSError:
                time.sleep(0.2)
        assert body is not None, "the service did not answer /healthz within 180 s"
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


def request(
    url: str, method: str = "GET", body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        call.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(call, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(params=["json", "text"])
def log_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_log_says_starting_ready_and_stopped(tmp_path: Path, log_format: str) -> None:
    """ "ready" comes once the port accepts the app's connections, distinct from
    "starting" (when /healthz answers 503 "loading"); "stopped" is the last line, after
    draining; Alembic says nothing, the database one line."""
    service = Logged(tmp_path, {"MODERATION_LOG_FORMAT": log_format})
    try:
        ready = service.wait_for("ready on ")
        # Logged once the app took the port over: it answers at once, ready.
        status, body = request(service.url + "/healthz")
        assert status == 200 and isinstance(body, dict) and body["status"] == "ok"
        starting = service.wait_for("starting on ")
        assert starting < ready
    finally:
        code = service.stop()
    assert code == 0
    lines = service.lines
    assert f"ready on {service.url}" in lines[ready]
    assert "draining" in lines[-2] and "stopped" in lines[-1]
    assert not [line for line in lines if "alembic" in line]
    database = [line for line in lines if "database migrated from revision" in line]
    assert len(database) == 1 and "(empty) to " in database[0]
    if log_format == "json":
        records = [json.loads(line) for line in lines]
        assert records[ready]["url"] == service.url
        assert records[-1]["message"] == "stopped"


def test_both_log_formats_keep_every_field(tmp_path: Path, log_format: str) -> None:
    """A request line names its route, status and time; a failed webhook delivery its
    event and error: as JSON members, or as text key=value pairs that a hostile value
    (here a caller's request id) cannot forge."""
    env = {
        "MODERATION_LOG_FORMAT": log_format,
        "MODERATION_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
        "MODERATION_WEBHOOK_BACKOFF_BASE_S": "60",
    }
    site = create_key(cli_env(tmp_path) | env, "site", "www")
    admin = create_key(cli_env(tmp_path) | env, "admin", "ops")
    service = Logged(tmp_path, env)
    nobody = free_port()  # nothing listens there: every delivery fails
    forged = 'x" status=999 route=/forged ms=0 y="'
    try:
        service.wait_for("ready on ")
        status, _ = request(
            service.url + "/v1/webhooks",
            "POST",
            {"url": f"http://127.0.0.1:{nobody}/hook", "events": ["comment.approved"]},
            {"Authorization": f"Bearer {admin}"},
        )
        assert status == 201
        comment = {"id": "c-1", "article_id": "a-1", "author_id": "u-1", "text": "Well said."}
        status, _ = request(
            service.url + "/v1/comments",
            "POST",
            comment,
            {"Authorization": f"Bearer {site}", "X-Request-Id": forged},
        )
        assert status == 201
        failed = service.wait_for("webhook delivery failed")
    finally:
        assert service.stop() == 0
    posted = next(line for line in service.lines if "/v1/comments" in line and "201" in line)
    if log_format == "json":
        record = json.loads(posted)
        assert record["route"] == "/v1/comments" and record["status"] == 201
        assert record["request_id"] == forged and record["ms"] >= 0
        delivery = json.loads(service.lines[failed])
        assert delivery["event_id"] and delivery["webhook_id"] and delivery["error"]
        return
    assert "route=/v1/comments status=201 ms=" in posted
    assert f"request_id={json.dumps(forged)}" in posted  # quoted, escaped: one value
    assert "status=999" not in posted.replace(json.dumps(forged), "")
    delivery = service.lines[failed]
    assert re.search(r"event_id=\S+ webhook_id=\S+ error=\S", delivery), delivery


def test_score_does_not_retry_a_download_that_failed_recently(tmp_path: Path) -> None:
    """A failed Detoxify download is remembered (a marker in the model cache): ``score``
    says when it failed and until when it is not retried, and runs the fallback at once."""
    from detoxify.detoxify import MODEL_URLS

    from classifiers import downloads

    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    target = checkpoints / MODEL_URLS["unbiased"].rsplit("/", 1)[-1]
    failed_at = datetime.now(UTC) - timedelta(minutes=5)
    downloads.remember_failure(target, MODEL_URLS["unbiased"], "URLError: offline", now=failed_at)
    env = {"MODERATION_CLASSIFIER": "detoxify:unbiased,linear"}
    result = run(tmp_path, "score", "you are an idiot", extra_env=env)
    assert result.returncode == 0, result.stderr
    assert "classifier: linear" in result.stdout
    assert "the download failed 5 min ago (URLError: offline); not retrying until" in result.stderr
    assert "RUNNING FALLBACK CLASSIFIER linear" in result.stderr
    assert "downloading Detoxify checkpoint" not in result.stderr


def test_score_takes_a_classifier(tmp_path: Path) -> None:
    env = {"MODERATION_CLASSIFIER": "detoxify:unbiased"}  # would try to download
    result = run(tmp_path, "score", "--json", "--classifier", "linear", "Thanks!", extra_env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["classifier"] == "linear"
    assert "Detoxify" not in result.stderr


def test_a_port_in_use_or_no_classifier_is_one_plain_line_and_exit_1(tmp_path: Path) -> None:
    """Not a traceback: what went wrong, which port or classifier, and exit status 1."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(
            tmp_path,
            "serve",
            extra_env={
                "MODERATION_PORT": str(port),
                "MODERATION_CLASSIFIER": "linear",
                "MODERATION_ENCODER": "off",
            },
        )
    assert result.returncode == 1, result.stderr
    assert f"not started: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    result = run(
        tmp_path,
        "serve",
        extra_env={
            "MODERATION_PORT": str(free_port()),
            "MODERATION_CLASSIFIER": "bogus",
            "MODERATION_ENCODER": "off",
        },
    )
    assert result.returncode == 1, result.stderr
    assert "not started: no classifier of bogus loaded" in result.stderr
    assert "Traceback" not in result.stderr
