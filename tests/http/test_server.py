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
from tests.processes import ROOT, cli_env, free_port, wait_healthy

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
