"""Real service processes for tests that need them (CLI, crashes, several processes, fuzzing)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a service on its own data directory, offline, on ``linear``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    return env | {
        "MODERATION_DATA_DIR": str(tmp_path / "data"),
        "MODERATION_CLASSIFIER": "linear",
        "MODERATION_LOG_FORMAT": "text",
        "MODERATION_ENCODER": "off",
        "MODERATION_CONFIG_FILE": str(tmp_path / "none.toml"),
        "TORCH_HOME": str(tmp_path / "torch"),
        "HF_HUB_OFFLINE": "1",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_key(env: dict[str, str], role: str, name: str) -> str:
    """A new key from ``service.py keys create`` (its last line of output)."""
    result = subprocess.run(
        [sys.executable, "service.py", "keys", "create", "--role", role, "--name", name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if json.loads(response.read())["status"] == "ok":
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"the service at {url} did not become healthy"
        time.sleep(0.1)


def start_service(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], str]:
    """``python service.py [args]`` on a free port; returns once ``/healthz`` says ok."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "service.py", *args],
        cwd=ROOT,
        env=env | {"MODERATION_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
    except AssertionError:
        process.kill()
        raise
    return process, url


class Logged:
    """A real ``service.py`` process whose standard error is read line by line as it comes."""

    def __init__(self, tmp_path: Path, extra_env: dict[str, str]) -> None:
        self.port = int(extra_env.get("MODERATION_PORT") or free_port())
        self.url = f"http://127.0.0.1:{self.port}"
        env = cli_env(tmp_path) | {"MODERATION_PORT": str(self.port)} | extra_env
        self.process = subprocess.Popen(
            [sys.executable, "service.py"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 180) -> int:
        """The index of the first line containing ``text``, once it is logged."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, line in enumerate(list(self.lines)):
                if text in line:
                    return index
            assert self.process.poll() is None, "\n".join(self.lines)
            time.sleep(0.02)
        raise AssertionError(f"{text!r} was not logged:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self._reader.join(timeout=5)
        return code
