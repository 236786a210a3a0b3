"""The server answers requests aiohttp's parser refuses in the contract's error format,
quoting and logging nothing of the hostile bytes, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import http_exceptions

from moderation.http.server import describe_parse_error
from tests.processes import ROOT, cli_env, create_key, free_port, wait_healthy

MARKER = "HOSTILE<script>alert(1)</script>"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen[bytes]]]:
    port = free_port()
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "service.py", "serve"],
            cwd=ROOT,
            env=cli_env(tmp_path) | {"MODERATION_PORT": str(port)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}")
            yield port, log_path, process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def raw_request(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def test_parse_errors_answer_in_the_contract_format_without_echo(
    live: tuple[int, Path, subprocess.Popen[bytes]],
) -> None:
    port, log_path, process = live
    too_long = f"GET /v1/audit?limit={MARKER}{'x' * 9000} HTTP/1.1\r\nHost: a\r\n\r\n"
    bad_header = f"GET /healthz HTTP/1.1\r\nHost: a\r\n{MARKER}\x01: y\r\n\r\n"
    bad_method = f"{MARKER} / HTTP/1.1\r\n\r\n"
    bad_chunked = (
        f"POST /v1/comments HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz{MARKER}\r\n"
    )
    expected = {
        too_long: "line_too_long",
        bad_header: "bad_request",
        bad_method: "bad_request",
        bad_chunked: "bad_request",
    }
    for request, code in expected.items():
        status, headers, body = raw_request(port, request.encode("latin-1"))
        assert status == 400
        assert headers["content-type"].startswith("application/json")
        error = json.loads(body)["error"]
        assert error["code"] == code
        assert MARKER not in error["message"] and "HOSTILE" not in body.decode()
    # The service is unharmed, and its log names the error kind but none of the bytes.
    wait_healthy(f"http://127.0.0.1:{port}", timeout=10)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    log_text = log_path.read_text()
    assert "refused a malformed HTTP request" in log_text
    assert "HOSTILE" not in log_text


def test_describe_parse_error_names_each_kind() -> None:
    assert describe_parse_error(http_exceptions.LineTooLong("x" * 10, 8190))[0] == "line_too_long"
    assert describe_parse_error(http_exceptions.InvalidHeader(b"x"))[0] == "bad_request"
    assert describe_parse_error(None) == ("bad_request", "the request is not valid HTTP")


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[tuple[int, str, Path]]:
    """A service process with short client timeouts and a cap of 4 connections."""
    env = cli_env(tmp_path) | {
        "MODERATION_KEEPALIVE_TIMEOUT_S": "1",
        "MODERATION_BODY_TIMEOUT_S": "1",
        "MODERATION_MAX_CONNECTIONS": "4",
    }
    key = create_key(env, "site", "slow-test")
    port = free_port()
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "service.py", "serve"],
            cwd=ROOT,
            env=env | {"MODERATION_PORT": str(port), "MODERATION_LOG_LEVEL": "INFO"},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}")
            yield port, key, log_path
        finally:
            process.kill()
            process.wait(timeout=30)


def closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed ``sock`` within ``seconds``, and what it sent first."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        pass
    return True, received


def test_slow_headers_and_idle_connections_are_closed(strict: tuple[int, str, Path]) -> None:
    port, _, _ = strict
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
        closed, _ = closed_within(sock, 5)
        assert closed  # after MODERATION_KEEPALIVE_TIMEOUT_S (1 s), not 100 s later
    with socket.create_connection(("127.0.0.1", port)) as sock:
        closed, _ = closed_within(sock, 5)  # connects, sends nothing
        assert closed


def test_a_trickled_body_gets_408(strict: tuple[int, str, Path]) -> None:
    port, key, _ = strict
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /v1/comments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {key}\r\n".encode()
            + b"Content-Length: 1000\r\n\r\n{"
        )
        _, received = closed_within(sock, 6)  # MODERATION_BODY_TIMEOUT_S is 1 s
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    body = json.loads(received.partition(b"\r\n\r\n")[2])
    assert body["error"]["code"] == "body_timeout"


def test_connections_beyond_the_cap_get_503(strict: tuple[int, str, Path]) -> None:
    port, _, _ = strict
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
    try:
        with socket.create_connection(("127.0.0.1", port)) as extra:
            # The answer comes at once, before any request (one sent now could meet a
            # closed socket).
            _, answer = closed_within(extra, 5)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in head
        assert json.loads(body)["error"]["code"] == "too_many_connections"
    finally:
        for sock in held:
            sock.close()
    # The held ones gone, the service answers again.
    for _ in range(50):
        status, _, _ = raw_request(
            port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        if status == 200:
            break
    assert status == 200


def test_a_client_hanging_up_mid_body_is_logged_as_such(strict: tuple[int, str, Path]) -> None:
    """It used to be an unhandled error with a traceback, counted as a 500."""
    port, key, log_path = strict
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /v1/comments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {key}\r\n".encode()
            + b'Content-Length: 1000\r\n\r\n{"id": "c-1", "text": "half a bo'
        )
    for _ in range(50):
        _, _, metrics = raw_request(
            port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        log = log_path.read_text()
        if "client disconnected" in log:
            break
    assert "client disconnected" in log
    assert "Traceback" not in log and "unhandled error" not in log
    assert b'status="499"' in metrics and b'status="500"' not in metrics
