"""The lifecycle every long-lived task of the service shares.

Each worker is created by ``create_app`` (no I/O), started inside a ``cleanup_ctx``
once the loop runs, and closed by the same context on shutdown. :meth:`Worker.close`
first lets the worker finish what it owes (:meth:`Worker._drain`), then cancels its
task and waits for it, then releases what it holds (:meth:`Worker._release`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar


class Worker:
    """One background task: ``start()`` in the running loop, ``await close()`` to stop."""

    #: The asyncio task's name (shown in task dumps and debuggers).
    task_name: ClassVar[str] = "worker"

    _task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the task in the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.task_name)

    async def close(self) -> None:
        """Drain, stop the task and wait for it, then release resources. Idempotent."""
        if self.running:
            await self._drain()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._release()

    async def _run(self) -> None:
        raise NotImplementedError

    async def _drain(self) -> None:
        """Finish work already accepted; the task still runs meanwhile."""

    async def _release(self) -> None:
        """Give back what the worker holds, once its task has stopped."""
