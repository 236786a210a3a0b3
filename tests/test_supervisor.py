"""Several processes on one port (moderation/supervisor.py): the pieces, then real
processes — a supervisor of two services on one SQLite file, as ``make serve`` would run
it with ``MODERATION_PROCESSES=2``."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from moderation import supervisor
from moderation.settings import Settings, SettingsError
from tests.processes import Logged, cli_env, create_key

pytestmark = pytest.mark.skipif(
    not supervisor.reuse_port_supported(), reason="several processes need SO_REUSEPORT (Linux)"
)


def test_backoff_doubles_to_its_cap_while_a_process_dies_young() -> None:
    backoff = supervisor.Backoff(first_s=1, max_s=8, healthy_after_s=60)
    assert [backoff.delay(2) for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    # A process that lived past healthy_after_s starts the count again.
    assert backoff.delay(61) == 1
    assert backoff.delay(1) == 2


@pytest.mark.parametrize(
    ("cpus", "processes", "configured", "expected"),
    [(2, 2, 0, 1), (8, 2, 0, 4), (2, 4, 0, 1), (8, 3, 0, 2), (8, 2, 3, 3)],
)
def test_each_process_gets_its_share_of_the_cores(
    cpus: int, processes: int, configured: int, expected: int
) -> None:
    assert supervisor.threads_per_process(cpus, processes, configured) == expected


def test_the_environment_of_a_process_wins_over_files() -> None:
    env = supervisor.child_env(
        {"MODERATION_PROCESSES": "4", "MODERATION_PORT": "0", "OTHER": "kept"}, port=9, threads=2
    )
    assert env == {
        "MODERATION_PROCESSES": "1",
        "MODERATION_PORT": "9",
        "MODERATION_TORCH_THREADS": "2",
        "OTHER": "kept",
    }
    # The environment outranks the TOML file, which might say processes = 4.
    settings = Settings.from_env(env | {"MODERATION_CONFIG_FILE": "/nonexistent.toml"})
    assert (settings.processes, settings.port, settings.torch_threads) == (1, 9, 2)


@pytest.mark.parametrize("value", ["0", "-1", "65"])
def test_processes_out_of_range_is_a_configuration_error(value: str) -> None:
    with pytest.raises(SettingsError, match="MODERATION_PROCESSES"):
        Settings.from_env({"MODERATION_PROCESSES": value})


def test_a_reserved_port_takes_listeners_but_no_connections_itself() -> None:
    port, holder = supervisor.reserve_port("127.0.0.1", 0)
    assert holder is not None and port > 0
    try:
        # What each process does: bind the same port with SO_REUSEPORT, and listen.
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen()
            for _ in range(20):  # every connection reaches the listener, none the holder
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    accepted, _ = listener.accept()
                    accepted.close()
        # A process that does not ask to share cannot take the port meanwhile.
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", port))
    finally:
        holder.close()
    assert supervisor.reserve_port("127.0.0.1", 8080) == (8080, None)


# The supervisor over stand-in processes (a few lines of Python each), for the paths
# that real services make slow or racy to reach.

_CHILD = """
import os, signal, sys, time
args = sys.argv[1:]
ready_fd = int(args[args.index("--ready-fd") + 1])
mode = os.environ["STAND_IN"]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(3 if mode == "ready-stops-badly" else 0))
if mode == "fail":
    sys.exit(3)
if mode.startswith("ready"):
    os.write(ready_fd, b"r")
while True:
    time.sleep(0.05)
"""


def stand_ins(mode: str, count: int = 2, **kwargs: float) -> supervisor.Supervisor:
    return supervisor.Supervisor(
        [sys.executable, "-c", _CHILD],
        count,
        dict(os.environ) | {"STAND_IN": mode},
        **kwargs,  # type: ignore[arg-type]
    )


async def until(check: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


async def test_a_signal_while_the_first_process_starts_stops_it_and_starts_no_other() -> None:
    runner = stand_ins("never")
    running = asyncio.create_task(runner.run())
    await until(lambda: len(runner.pids()) == 1)
    (first,) = runner.pids()
    runner._signal(signal.SIGTERM)  # what SIGTERM to the supervisor does
    assert await asyncio.wait_for(running, 10) == 0
    assert not alive(first) and runner.slots[1].process is None


async def test_a_process_never_ready_fails_the_start_and_is_killed() -> None:
    runner = stand_ins("never", start_timeout_s=0.5)
    assert await asyncio.wait_for(runner.run(), 10) == supervisor.START_FAILED
    process = runner.slots[0].process
    assert process is not None and process.returncode == -signal.SIGKILL


async def test_a_process_that_exits_at_once_fails_the_start_with_its_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = stand_ins("fail")
    assert await asyncio.wait_for(runner.run(), 10) == supervisor.START_FAILED
    assert "process 0 exited with status 3 before it was ready" in caplog.text


async def test_a_signal_while_a_process_is_created_reaches_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM between the fork and the supervisor knowing the process: passed on all the
    same, not left to the kill after STOP_GRACE_S."""
    runner = stand_ins("never")
    create = asyncio.create_subprocess_exec

    async def signalled_meanwhile(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        process = await create(*args, **kwargs)
        runner._signal(signal.SIGTERM)  # before _start has the process
        return process

    monkeypatch.setattr(asyncio, "create_subprocess_exec", signalled_meanwhile)
    started = time.monotonic()
    assert await asyncio.wait_for(runner.run(), 20) == 0
    assert time.monotonic() - started < 10
    # Ended by the SIGTERM itself: it came before the process had a handler for it.
    assert runner.slots[0].process is not None
    assert runner.slots[0].process.returncode in (0, -signal.SIGTERM)


async def test_a_process_that_cannot_be_created_fails_the_start_and_leaks_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def no_more_processes(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", no_more_processes)
    descriptors = len(os.listdir("/proc/self/fd"))
    assert await asyncio.wait_for(stand_ins("ready").run(), 10) == supervisor.START_FAILED
    assert "process 0 could not be started: Resource temporarily unavailable" in caplog.text
    assert len(os.listdir("/proc/self/fd")) == descriptors


async def test_a_process_that_stops_badly_makes_the_supervisors_status_1(
    caplog: pytest.LogCaptureFixture,
) -> None:
    said: list[str] = []
    runner = stand_ins("ready-stops-badly", count=1, on_ready=lambda: said.append("ready"))  # type: ignore[arg-type]
    running = asyncio.create_task(runner.run())
    await until(lambda: said == ["ready"])
    runner._signal(signal.SIGTERM)
    assert await asyncio.wait_for(running, 10) == 1
    assert "process 0 stopped with status 3" in caplog.text


def test_a_process_whose_supervisor_is_gone_stops_itself() -> None:
    """die_with_parent: the supervisor died before the process asked the kernel to be
    told; it signals itself (here, with no handler, that ends it)."""
    code = "from moderation.supervisor import die_with_parent; import os, time; "
    gone = subprocess.run(
        [sys.executable, "-c", code + "die_with_parent(1); time.sleep(10)"], timeout=30
    )
    assert gone.returncode == -supervisor.PARENT_DEATH_SIGNAL
    here = subprocess.run(
        [sys.executable, "-c", code + "die_with_parent(os.getppid()); time.sleep(0.2)"],
        timeout=30,
    )
    assert here.returncode == 0


async def test_ready_processes_run_until_the_signal_then_stop() -> None:
    said: list[str] = []
    runner = stand_ins("ready", count=3, on_ready=lambda: said.append("ready"))  # type: ignore[arg-type]
    running = asyncio.create_task(runner.run())
    await until(lambda: said == ["ready"])
    pids = runner.pids()
    assert len(pids) == 3 and all(alive(pid) for pid in pids)
    runner._signal(signal.SIGTERM)
    assert await asyncio.wait_for(running, 10) == 0
    assert [slot.process.returncode for slot in runner.slots if slot.process] == [0, 0, 0]


# Real processes from here on.


def children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def health(url: str) -> dict[str, object]:
    # A new connection each time: the kernel picks the process per connection.
    with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
        body: dict[str, object] = json.loads(response.read())
        return body


def wait_until(check: object, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def submit(url: str, key: str, number: int) -> int:
    body = json.dumps(
        {"id": f"c-{number}", "article_id": "a-1", "author_id": "u-1", "text": "Well argued."}
    ).encode()
    call = urllib.request.Request(
        url + "/v1/comments",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(call, timeout=30) as response:
        return int(response.status)


def supervised(tmp_path: Path, **extra: str) -> Logged:
    return Logged(
        tmp_path,
        {
            "MODERATION_PROCESSES": "2",
            "MODERATION_INSTANCE_HEARTBEAT_S": "0.2",
            "MODERATION_LOG_FORMAT": "text",
        }
        | extra,
    )


def test_two_processes_serve_one_port_and_stop_together(tmp_path: Path) -> None:
    service = supervised(tmp_path)
    try:
        ready = service.wait_for(f"ready on {service.url}: 2 processes")
        assert "instance=" not in service.lines[ready]  # the supervisor's own line
        # Both processes started one after the other, each saying it is ready first.
        assert service.wait_for("process 0 ready") < service.wait_for("process 1 ready") < ready
        pids = children(service.process.pid)
        assert len(pids) == 2
        # Both beat on the shared database: each process counts two live processes.
        wait_until(lambda: health(service.url)["instances"] == 2, what="two heartbeats")
        # Every comment is stored, whichever process takes it; both take some.
        key = create_key(cli_env(tmp_path), "site", "web")
        assert {submit(service.url, key, n) for n in range(40)} == {201}
        served = {
            match.group(1)
            for line in list(service.lines)
            if " request " in f" {line} " and "/v1/comments" in line
            for match in [re.search(r"instance=(\d)", line)]
            if match
        }
        assert served == {"0", "1"}
        # The database was brought up to date once, by the supervisor, not per process.
        migrated = [line for line in service.lines if "database migrated from revision" in line]
        assert len(migrated) == 1 and "instance=" not in migrated[0]
    finally:
        code = service.stop()
    assert code == 0
    assert service.lines[-1].endswith("moderation: stopped")
    assert not any(alive(pid) for pid in pids)
    # Each process drained and stopped on its own before the supervisor did.
    assert sum("stopped" in line and "instance=" in line for line in service.lines) == 2


def test_a_process_that_dies_is_started_again_while_the_other_serves(tmp_path: Path) -> None:
    service = supervised(tmp_path)
    try:
        service.wait_for(f"ready on {service.url}: 2 processes")
        first, second = (
            int(re.findall(r"pid=(\d+)", service.lines[service.wait_for(f"process {n} ready")])[0])
            for n in (0, 1)
        )
        assert sorted((first, second)) == children(service.process.pid)
        os.kill(first, signal.SIGKILL)
        # Once it is gone (a connection queued on its socket as it died is lost: that
        # is SO_REUSEPORT's one gap), the other process answers, on the same port.
        wait_until(lambda: not alive(first), what="the killed process to die")
        service.wait_for("process 0 exited with status -9")
        # While it starts again, it answers nothing: no 503 "loading" from its port.
        answers: list[object] = []
        deadline = time.monotonic() + 60
        while sum("process 0 ready" in line for line in list(service.lines)) < 2:
            assert time.monotonic() < deadline, "process 0 was not started again"
            answers.append(health(service.url)["status"])
        assert answers and set(answers) == {"ok"}
        assert len(children(service.process.pid)) == 2
        now = children(service.process.pid)
        assert second in now and first not in now
        wait_until(lambda: health(service.url)["instances"] == 2, what="two heartbeats")
    finally:
        assert service.stop() == 0


def test_the_processes_outlive_neither_the_supervisor_nor_share_its_signals(
    tmp_path: Path,
) -> None:
    """Each process has a session of its own (a terminal's Ctrl-C reaches it once,
    through the supervisor), and drains and stops if the supervisor is killed."""
    service = supervised(tmp_path)
    try:
        service.wait_for(f"ready on {service.url}: 2 processes")
        pids = children(service.process.pid)
        assert len(pids) == 2
        for pid in pids:
            assert os.getsid(pid) == pid != os.getsid(service.process.pid), pid
        service.process.kill()
        service.process.wait(timeout=10)
        wait_until(lambda: not any(alive(pid) for pid in pids), timeout=30, what="orphans")
        service._reader.join(timeout=5)
        # The children inherited the pipe: their last words are in the same log.
        stopped = [line for line in service.lines if "stopped" in line and "instance=" in line]
        assert len(stopped) == 2, "\n".join(service.lines)
    finally:
        if service.process.poll() is None:
            service.stop()


def test_a_process_that_cannot_start_stops_the_supervisor(tmp_path: Path) -> None:
    """A configuration only the processes find wrong (here a Detoxify checkpoint that is
    not there, with no fallback) fails the start at once: no endless restarts."""
    service = supervised(
        tmp_path,
        MODERATION_CLASSIFIER="detoxify:original",
        MODERATION_DETOXIFY_CHECKPOINT=str(tmp_path / "missing.ckpt"),
    )
    code = service.process.wait(timeout=120)
    service._reader.join(timeout=5)
    assert code == supervisor.START_FAILED, "\n".join(service.lines)
    assert any(
        "could not start the processes: process 0 exited with status" in line
        for line in service.lines
    )
    assert not any("process 1" in line for line in service.lines)


def test_one_process_is_the_service_itself(tmp_path: Path) -> None:
    """The default: no supervisor, no second process, the port not shared."""
    service = Logged(tmp_path, {"MODERATION_LOG_FORMAT": "text"})
    try:
        service.wait_for("ready on ")
        assert children(service.process.pid) == []
        with socket.socket() as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            with pytest.raises(OSError):
                other.bind(("127.0.0.1", service.port))
    finally:
        assert service.stop() == 0
