"""The configurations measured and the servers started for them, each its own process.

``naive`` is bench/naive_server.py; the others are the real service (``service.py
serve``) with the classifier and runtime set through its environment.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference import ROOT


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    kind: str  # naive | service
    classifier: str
    runtime: str
    concurrency: int


CONFIGS: tuple[Config, ...] = (
    Config("naive", "naive wrapper (Detoxify.predict in the handler)", "naive", "", "torch", 16),
    Config("torch", "service, PyTorch", "service", "detoxify:original", "torch", 16),
    Config("onnx", "service, ONNX Runtime fp32", "service", "detoxify:original", "onnx", 16),
    Config("int8", "service, ONNX Runtime int8", "service", "detoxify:original", "onnx-int8", 16),
    Config("linear16", "service, linear", "service", "linear", "", 16),
    Config("linear32", "service, linear", "service", "linear", "", 32),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def detoxify_env(model: tuple[Path, Path], runtime: str, cache: Path) -> dict[str, str]:
    """The variables that run the bench's Detoxify checkpoint (``model``: the checkpoint
    and its config folder) by ``runtime``, its ONNX exports cached under ``cache``."""
    checkpoint, config_dir = model
    return {
        "MODERATION_DETOXIFY_CHECKPOINT": str(checkpoint),
        "MODERATION_DETOXIFY_CONFIG": str(config_dir),
        "MODERATION_DETOXIFY_RUNTIME": runtime,
        "MODERATION_ONNX_CACHE_DIR": str(cache),
    }


def read_metrics(url: str, headers: dict[str, str], names: Sequence[str]) -> dict[str, float]:
    """The values of ``names`` in the service's ``/metrics`` (0 for one not there)."""
    request = urllib.request.Request(url + "/metrics", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read().decode()
    found = {}
    for name in names:
        match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", body, re.M)
        found[name] = float(match.group(1)) if match else 0.0
    return found


class Server:
    def __init__(self, config: Config, model: tuple[Path, Path], cache: Path, work: Path) -> None:
        self.config = config
        self.checkpoint, self.config_dir = model
        self.cache = cache
        self.work = work / config.key
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = ""
        self.admin_key = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.work / "server.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
        env.update(
            MODERATION_HOST="127.0.0.1",
            MODERATION_PORT=str(self.port),
            MODERATION_DATA_DIR=str(self.work / "data"),
            MODERATION_CLASSIFIER=self.config.classifier or "linear",
            MODERATION_RATE_LIMIT_SITE="0",
            MODERATION_CONFIG_FILE=str(self.work / "none.toml"),
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
        )
        model = (self.checkpoint, self.config_dir)
        env.update(detoxify_env(model, self.config.runtime or "torch", self.cache))
        # Trying a setting on every server of a run: BENCH_SERVER_ENV="NAME=value ...".
        for item in os.environ.get("BENCH_SERVER_ENV", "").split():
            name, _, value = item.partition("=")
            env[name] = value
        return env

    def start(self, timeout_s: float = 900) -> float:
        self.work.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        if self.config.kind == "naive":
            command = [
                sys.executable,
                str(ROOT / "bench" / "naive_server.py"),
                "--port",
                str(self.port),
                "--checkpoint",
                str(self.checkpoint),
                "--config",
                str(self.config_dir),
            ]
        else:
            self.key = self._create_key("site")
            self.admin_key = self._create_key("admin")  # to read /metrics
            command = [sys.executable, "service.py", "serve"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.config.key} exited: {self.log.read_text()[-3000:]}")
            health = self._health()
            if health is not None:
                self._check(health)
                return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"{self.config.key} did not start in {timeout_s}s")

    def _create_key(self, role: str) -> str:
        created = subprocess.run(
            [sys.executable, "service.py", "keys", "create", "--role", role, "--name", role],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        )
        return created.stdout.strip().splitlines()[-1]

    def batch_counters(self) -> tuple[float, float] | None:
        """The service's classifier batches so far, from ``/metrics``: (texts, batches);
        None for the naive wrapper."""
        if self.config.kind == "naive" or not self.admin_key:
            return None
        names = ("moderation_classifier_batch_size_sum", "moderation_classifier_batch_size_count")
        found = read_metrics(self.url, {"Authorization": f"Bearer {self.admin_key}"}, names)
        return found[names[0]], found[names[1]]

    def _health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                body: dict[str, Any] = json.loads(response.read())
                return body
        except OSError:
            return None

    def _check(self, health: dict[str, Any]) -> None:
        if self.config.kind == "naive":
            return
        expected = self.config.classifier
        if health.get("classifier") != expected or health.get("classifier_fallbacks"):
            raise RuntimeError(f"{self.config.key}: not the expected classifier: {health}")
        text = self.log.read_text(errors="replace")
        confirmed = f"on {self.config.runtime} " in text
        if self.config.runtime == "auto":
            # auto logs the recipes it chose (or found cached), not "on auto".
            confirmed = "recipe measured on this machine" in text and bool(
                (health.get("classifier_runtime") or {}).get("runtime")
            )
        if self.config.classifier.startswith("detoxify") and not confirmed:
            raise RuntimeError(f"{self.config.key}: runtime not confirmed in the log")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
