"""Model downloads (classifiers/downloads.py): progress in the log and in
``in_progress()``, and a failed download remembered (a marker beside the target) so that
starts and ``service.py score`` do not pay the timeout again. A local HTTP server
serves the file in chunks: never the network."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from classifiers import downloads
from classifiers.base import ClassifierLoadError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
CHUNK = 64 * 1024


class SlowFile(BaseHTTPRequestHandler):
    """The payload in chunks, a pause after each; ``/missing`` is a 404."""

    pause_s = 0.02

    def do_GET(self) -> None:
        if self.path == "/missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        for start in range(0, len(PAYLOAD), CHUNK):
            self.wfile.write(PAYLOAD[start : start + CHUNK])
            self.wfile.flush()
            time.sleep(self.pause_s)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Chunked:
    """``urlopen``'s response, read in small blocks (as a slow link delivers them)."""

    def __init__(self, response: Any) -> None:
        self.response, self.headers = response, response.headers

    def read(self, _size: int) -> bytes:
        return bytes(self.response.read(CHUNK))

    def __enter__(self) -> Chunked:
        return self

    def __exit__(self, *exc: object) -> None:
        self.response.close()


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), SlowFile)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def chunked_opener(url: str, timeout: float) -> Chunked:
    import urllib.request

    return Chunked(urllib.request.urlopen(url, timeout=timeout))


def test_a_download_logs_its_progress_and_publishes_it(
    server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="classifiers.downloads")
    target = tmp_path / "model.ckpt"
    seen: list[list[dict[str, object]]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(downloads.in_progress())
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        path = downloads.fetch(
            server + "/model.ckpt",
            target,
            timeout_s=5,
            label="test checkpoint",
            opener=chunked_opener,
            every_s=0.05,
        )
    finally:
        done.set()
        watcher.join()
    assert path == target and target.read_bytes() == PAYLOAD
    assert not target.with_name("model.ckpt.partial").exists()
    progress = [
        r for r in caplog.records if r.getMessage().startswith("downloading test checkpoint:")
    ]
    # At most one line per 0.05 s of a download of at least 16 x 0.02 s, and some.
    assert 1 <= len(progress) <= 16
    first = progress[0]
    assert "% of 1.0 MB at " in first.getMessage() and "/s" in first.getMessage()
    assert 0 < first.__dict__["percent"] < 100 and first.__dict__["total_bytes"] == len(PAYLOAD)
    assert first.__dict__["bytes_per_s"] > 0
    assert "downloaded test checkpoint: 1.0 MB in" in caplog.text
    # Meanwhile anyone could ask how far it was; afterwards nothing is under way.
    partway = [d[0] for d in seen if d and d[0]["percent"] not in (None, 0.0)]
    assert partway and partway[0]["what"] == "test checkpoint"
    assert partway[0]["total_bytes"] == len(PAYLOAD)
    assert downloads.in_progress() == []


def test_progress_is_logged_at_most_every_few_seconds(
    server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="classifiers.downloads")
    downloads.fetch(
        server + "/f", tmp_path / "f", timeout_s=5, label="f", opener=chunked_opener, every_s=60
    )
    assert not [r for r in caplog.records if r.getMessage().startswith("downloading f:")]


def test_a_failed_download_is_remembered_and_not_retried(server: str, tmp_path: Path) -> None:
    target = tmp_path / "model.ckpt"
    calls: list[str] = []

    def counting(url: str, timeout: float) -> Chunked:
        calls.append(url)
        return chunked_opener(url, timeout)

    with pytest.raises(ClassifierLoadError, match="cannot download the test checkpoint"):
        downloads.fetch(
            server + "/missing", target, timeout_s=5, label="test checkpoint", opener=counting
        )
    marker = json.loads(downloads.marker_path(target).read_text())
    assert marker["url"] == server + "/missing" and "404" in marker["reason"]
    with pytest.raises(ClassifierLoadError) as second:
        downloads.fetch(
            server + "/missing",
            target,
            timeout_s=5,
            label="test checkpoint",
            hint="offline, do this",
            opener=counting,
        )
    assert len(calls) == 1  # not tried again
    message = str(second.value)
    assert "the download failed 0 min ago" in message and "404" in message
    assert "not retrying until" in message and "offline, do this" in message
    assert str(downloads.marker_path(target)) in message  # how to retry now


def test_the_memory_expires_and_a_success_forgets_it(server: str, tmp_path: Path) -> None:
    target = tmp_path / "model.ckpt"
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    downloads.remember_failure(target, "u", "URLError: offline", now=long_ago)
    assert downloads.recent_failure(target) is None  # older than an hour
    assert downloads.recent_failure(target, now=long_ago + timedelta(minutes=59)) is not None
    downloads.fetch(server + "/m", target, timeout_s=5, label="m", opener=chunked_opener)
    assert not downloads.marker_path(target).exists()


def test_the_window_is_configurable(tmp_path: Path) -> None:
    target = tmp_path / "model.ckpt"
    ten_min_ago = datetime.now(UTC) - timedelta(minutes=10)
    downloads.remember_failure(target, "u", "URLError: offline", now=ten_min_ago)
    assert downloads.recent_failure(target) is not None
    token = downloads.retry_after_s.set(300)
    try:
        assert downloads.recent_failure(target) is None
    finally:
        downloads.retry_after_s.reset(token)
    token = downloads.retry_after_s.set(0)  # 0: remember nothing, always try
    try:
        assert downloads.recent_failure(target) is None
        downloads.marker_path(target).unlink()
        downloads.remember_failure(target, "u", "x")
        assert not downloads.marker_path(target).exists()
    finally:
        downloads.retry_after_s.reset(token)


def test_a_garbled_or_future_marker_means_try_again(tmp_path: Path) -> None:
    target = tmp_path / "model.ckpt"
    downloads.marker_path(target).write_text("not json")
    assert downloads.recent_failure(target) is None
    downloads.remember_failure(target, "u", "x", now=datetime.now(UTC) + timedelta(days=1))
    assert downloads.recent_failure(target) is None


def test_sizes_in_words() -> None:
    assert downloads.size(512) == "512 B"
    assert downloads.size(3_400_000) == "3.4 MB"
    assert downloads.size(1_100_000_000) == "1.1 GB"


def test_the_loader_honours_the_configured_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``MODERATION_MODEL_DOWNLOAD_RETRY_S`` reaches the download through the loader: a
    failure 5 minutes ago stops a retry under the default hour, not under 60 s (which
    tries, and fails at once here: the suite blocks the network)."""
    from detoxify.detoxify import MODEL_URLS

    from classifiers.loader import load_preferred
    from moderation.settings import Settings

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url = MODEL_URLS["original"]
    target = tmp_path / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    target.parent.mkdir(parents=True)
    downloads.remember_failure(
        target, url, "URLError: offline", now=datetime.now(UTC) - timedelta(minutes=5)
    )
    for retry, expected in (("", "not retrying until"), ("60", "cannot download")):
        settings = Settings.from_env(
            {
                "MODERATION_CLASSIFIER": "detoxify:original,linear",
                "MODERATION_MODEL_DOWNLOAD_RETRY_S": retry,
                "MODERATION_DETOXIFY_RUNTIME": "torch",
            }
        )
        classifier, report = load_preferred(settings.classifier_options())
        assert classifier.name == "linear"
        assert expected in report.failures[0][1], report.failures
