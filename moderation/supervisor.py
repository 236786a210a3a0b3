"""Several service processes on one port (``MODERATION_PROCESSES``), kept running.

One process runs its HTTP handling, its decision and its storage on one event loop, so
it uses about one core however many the machine has: that, not the database, is what
limits the ``linear`` path (docs/inference.md, "The linear path"). ``serve`` with
``MODERATION_PROCESSES=N`` (N > 1) becomes this supervisor, which

* brings the database up to date once (migrations and the guidelines file), so the
  processes never race to do it;
* starts N copies of ``service.py serve``, one after another: each binds the same
  address with ``SO_REUSEPORT``, so the kernel spreads new connections over them, and
  the next starts only once the last is ready (a first start that measures model
  recipes, ``MODERATION_DETOXIFY_RUNTIME=auto``, then measures once, on a quiet machine,
  and the others read its cached choice);
* gives each process its share of the cores for its model's threads, unless
  ``MODERATION_TORCH_THREADS`` says otherwise;
* starts a process again when it dies (after 1 s, doubling to 30 s while it keeps
  dying young), the others serving meanwhile;
* on SIGINT or SIGTERM passes the signal on and waits for every process to drain and
  stop; a second signal is passed on too (a process then stops at once). The processes
  run in sessions of their own, so a terminal's Ctrl-C reaches them through the
  supervisor only, and each asks the kernel for :data:`PARENT_DEATH_SIGNAL` should the
  supervisor die, on which it drains and stops.

Only the first process answers 503 ``loading`` while it starts (moderation/http/
starting.py), before any serves; a process started later, or again, binds the port only
once ready, so the others take every connection meanwhile.

A process that fails while the supervisor starts them stops everything: the
configuration is wrong, and starting it again would not help. Everything the contract
promises holds across processes on one database (docs/deploy.md); on the SQLite default
they share one file, whose writes queue for its one write lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("moderation.supervisor")

#: Exit status of a process that the supervisor could not start.
START_FAILED = 1
#: Restart delays: the first, the cap, and how long a process must live to reset them.
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0
#: How long stopping may take before what is left is killed: a process drains for up to
#: 30 s (moderation/cli.py), then closes its resources.
STOP_GRACE_S = 60.0
#: What a process receives when its supervisor dies: not SIGTERM, whose second arrival
#: means "stop now" (the kernel may send it more than once, as the dying supervisor's
#: threads exit); a process keeps draining however often this one comes.
PARENT_DEATH_SIGNAL = signal.SIGHUP


class SupervisorError(RuntimeError):
    """The processes could not be started; the message says which and why."""


def reuse_port_supported() -> bool:
    """Whether this platform spreads connections over sockets bound with ``SO_REUSEPORT``
    (Linux does; elsewhere the option is missing or means something else)."""
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def threads_per_process(cpus: int, processes: int, configured: int) -> int:
    """The model threads of each process: the configured count, else an equal share of
    the cores (at least one), so N processes do not each start a thread per core."""
    if configured > 0:
        return configured
    return max(1, cpus // processes)


@dataclass(slots=True)
class Backoff:
    """Restart delays for one process slot: doubling while it dies young."""

    first_s: float = BACKOFF_FIRST_S
    max_s: float = BACKOFF_MAX_S
    healthy_after_s: float = HEALTHY_AFTER_S
    _next_s: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._next_s = self.first_s

    def delay(self, lived_s: float) -> float:
        """The wait before starting again a process that lived ``lived_s`` seconds."""
        if lived_s >= self.healthy_after_s:
            self._next_s = self.first_s
        delay = self._next_s
        self._next_s = min(self.max_s, self._next_s * 2)
        return delay


def reserve_port(host: str, port: int) -> tuple[int, socket.socket | None]:
    """The port the processes share. Port 0 asks for a free one: it is bound here with
    ``SO_REUSEPORT`` and held, not listening (so it takes no connections), until the
    supervisor stops, so that nothing else takes it meanwhile."""
    if port != 0:
        return port, None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, 0))
    return int(holder.getsockname()[1]), holder


@dataclass(slots=True)
class _Slot:
    index: int
    backoff: Backoff = field(default_factory=Backoff)
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0


class Supervisor:
    """Runs ``count`` copies of ``command`` (a list of arguments; the supervisor appends
    ``--child INDEX --ready-fd FD --parent PID``, and ``--stand-in`` for the first
    process's first start) with ``env``, as the module's docstring says."""

    def __init__(
        self,
        command: Sequence[str],
        count: int,
        env: dict[str, str],
        *,
        on_ready: Callable[[], None] | None = None,
        start_timeout_s: float = 3600.0,
    ) -> None:
        self.command = list(command)
        self.slots = [_Slot(index) for index in range(count)]
        self.env = env
        self.on_ready = on_ready
        self.start_timeout_s = start_timeout_s
        self._stopping = asyncio.Event()
        self._signals = 0

    def pids(self) -> list[int]:
        """The running processes' ids, in slot order."""
        return [s.process.pid for s in self.slots if s.process and s.process.returncode is None]

    async def run(self) -> int:
        """Start every process, keep them running until a signal, then stop them: 0 once
        they all drained and stopped, :data:`START_FAILED` when one failed to start, 1
        when one did not stop cleanly (killed after :data:`STOP_GRACE_S`, or failed)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._signal, signum)
        try:
            for slot in self.slots:
                if self._stopping.is_set():
                    break
                try:
                    await self._start(slot, stand_in=slot.index == 0)
                except SupervisorError as exc:
                    log.error("could not start the processes: %s", exc)
                    await self._stop_all(signal.SIGTERM)
                    return START_FAILED
            if not self._stopping.is_set():
                if self.on_ready is not None:
                    self.on_ready()
                watchers = [asyncio.create_task(self._watch(slot)) for slot in self.slots]
                await self._stopping.wait()
                for watcher in watchers:
                    watcher.cancel()
                await asyncio.gather(*watchers, return_exceptions=True)
            return await self._wait_all()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    def _signal(self, signum: int) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("stopping: passing the signal on to %d processes", len(self.pids()))
        self._stopping.set()
        self._send(signum)

    def _send(self, signum: int) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(signum)

    async def _start(self, slot: _Slot, *, stand_in: bool = False) -> None:
        """Start the slot's process and wait until it says it is ready."""
        slot.started = time.monotonic()
        try:
            read_fd, write_fd = os.pipe()
        except OSError as exc:
            raise SupervisorError(f"process {slot.index}: no pipe: {exc.strerror}") from None
        arguments = ["--child", str(slot.index), "--ready-fd", str(write_fd)]
        arguments += ["--parent", str(os.getpid())] + (["--stand-in"] if stand_in else [])
        try:
            slot.process = await asyncio.create_subprocess_exec(
                *self.command,
                *arguments,
                env=self.env,
                pass_fds=(write_fd,),
                # Its own session: Ctrl-C in a terminal signals the supervisor alone,
                # which passes it on once (two would make a process skip draining).
                start_new_session=True,
            )
        except OSError as exc:
            os.close(read_fd)
            raise SupervisorError(
                f"process {slot.index} could not be started: {exc.strerror}"
            ) from None
        finally:
            os.close(write_fd)
        if self._stopping.is_set():
            # A signal came while it was being created: _send could not reach it.
            with contextlib.suppress(ProcessLookupError):
                slot.process.send_signal(signal.SIGTERM)
        timed_out = False
        try:
            ready = await asyncio.wait_for(self._ready(read_fd), self.start_timeout_s)
        except TimeoutError:
            ready, timed_out = False, True
        finally:
            os.close(read_fd)
        if self._stopping.is_set():
            return
        if timed_out:
            with contextlib.suppress(ProcessLookupError):
                slot.process.kill()
            await slot.process.wait()
            raise SupervisorError(
                f"process {slot.index} was not ready within {self.start_timeout_s:g} s"
            )
        if not ready:  # it closed the pipe unwritten: it is exiting
            status = await slot.process.wait()
            raise SupervisorError(
                f"process {slot.index} exited with status {status} before it was ready"
            )
        log.info("process %d ready", slot.index, extra={"pid": slot.process.pid})

    async def _ready(self, read_fd: int) -> bool:
        """True once the child writes to its ready pipe; False if it closes it unwritten
        (it exited) or the supervisor is asked to stop."""
        loop = asyncio.get_running_loop()
        got: asyncio.Future[bytes] = loop.create_future()

        def readable() -> None:
            if not got.done():
                try:
                    got.set_result(os.read(read_fd, 1))
                except OSError:
                    got.set_result(b"")

        loop.add_reader(read_fd, readable)
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            waiters: list[asyncio.Future[Any]] = [got, stopping]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(read_fd)
            stopping.cancel()
        return got.done() and bool(got.result())

    async def _watch(self, slot: _Slot) -> None:
        """Start the slot's process again whenever it dies, until the supervisor stops."""
        running = True
        while not self._stopping.is_set():
            if running:
                assert slot.process is not None
                status = await slot.process.wait()
                if self._stopping.is_set():
                    return
                log.error(
                    "process %d exited with status %s after %.0f s",
                    slot.index,
                    status,
                    time.monotonic() - slot.started,
                    extra={"pid": slot.process.pid},
                )
            delay = slot.backoff.delay(time.monotonic() - slot.started)
            log.info("starting process %d again in %.0f s", slot.index, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            try:
                await self._start(slot)
                running = True
            except SupervisorError as exc:
                # A process that started once and then fails to start again (a full disk,
                # a database gone) is tried again after the next delay; the rest serve.
                log.error("could not start process %d again: %s", slot.index, exc)
                running = False

    async def _stop_all(self, signum: int) -> None:
        self._stopping.set()
        self._send(signum)
        await self._wait_all()

    async def _wait_all(self) -> int:
        """Wait for every process to exit, killing what is left after
        :data:`STOP_GRACE_S`: 0 when each stopped cleanly, else 1."""
        started = [(s.index, s.process) for s in self.slots if s.process is not None]
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for _, p in started)), STOP_GRACE_S)
        except TimeoutError:
            for index, process in started:
                if process.returncode is None:
                    log.error("process %d did not stop in time: killed", index)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.gather(*(p.wait() for _, p in started))
        # Ended by the signal itself: one that came before its handlers were in place,
        # while it was still starting (nothing served, nothing to drain).
        clean = (0, -signal.SIGTERM, -signal.SIGINT)
        failed = [(i, p.returncode) for i, p in started if p.returncode not in clean]
        for index, status in failed:
            log.error("process %d stopped with status %s", index, status)
        return 1 if failed else 0


def die_with_parent(parent: int) -> None:
    """In a supervised process: receive :data:`PARENT_DEATH_SIGNAL` (drain, then stop)
    when the supervisor, process ``parent``, dies, even by SIGKILL, rather than serve on
    unsupervised (Linux ``prctl``)."""
    import ctypes

    # Started under nohup, a process inherits SIGHUP ignored: it would then serve on,
    # unsupervised. Until the server handles it (moderation/http/server.py), it ends it.
    signal.signal(PARENT_DEATH_SIGNAL, signal.SIG_DFL)
    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        failed = libc.prctl(pr_set_pdeathsig, PARENT_DEATH_SIGNAL, 0, 0, 0) != 0
        reason = os.strerror(ctypes.get_errno())
    except (OSError, AttributeError) as exc:
        failed, reason = True, type(exc).__name__
    if failed:
        log.warning("this process will not stop by itself if its supervisor dies: %s", reason)
    if os.getppid() != parent:  # the supervisor died before the call above
        os.kill(os.getpid(), PARENT_DEATH_SIGNAL)


def child_command() -> list[str]:
    """How the supervisor starts one process: this interpreter running ``serve``."""
    return [sys.executable, "-m", "moderation.cli", "serve"]


def available_cpus() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def child_env(environ: dict[str, str], *, port: int, threads: int) -> dict[str, str]:
    """A process's environment: the supervisor's, one process, the shared port, and its
    share of the model threads. The environment outranks ``.env`` and the TOML file, so
    these win over what those say."""
    return environ | {
        "MODERATION_PROCESSES": "1",
        "MODERATION_PORT": str(port),
        "MODERATION_TORCH_THREADS": str(threads),
    }
