"""Admins' CPU work over the whole store, in a thread of its own.

Backtests, suggestions, the identity audit and learning decide every stored comment (or
every label) again: seconds of CPU for a large store. In asyncio's default executor they
would share its few threads (``min(32, cores + 4)``) with the work every comment needs on
its way to a decision (the rule engine, language identification, Coral's HTML), so a
handful of admins' backtests would hold every reader's comment until they finished.
Here they queue for :attr:`BulkWork.threads` threads of their own, and a
:meth:`BulkWork.turn` also bounds how many read their cases into memory at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class BulkWork:
    """A small thread pool for CPU work whose size grows with the store.

    Created without I/O; :meth:`close` (in the app's ``cleanup_ctx``) waits for the work
    that is running and drops what is queued."""

    def __init__(self, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError("BulkWork needs at least one thread")
        self.threads = threads
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="bulk")
        self._turns: asyncio.Semaphore | None = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold one of the pool's turns: load what the work needs inside it, so no more
        jobs' data sit in memory than there are threads to work on them."""
        if self._turns is None:
            self._turns = asyncio.Semaphore(self.threads)
        async with self._turns:
            yield

    async def call(self, function: Callable[[], T]) -> T:
        """``function()`` in the pool's thread, awaited from the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function)

    def close(self) -> None:
        """Wait for the running work; queued work is cancelled."""
        self._executor.shutdown(wait=True, cancel_futures=True)
