"""Group commit: many small write jobs share one transaction, and one commit.

On SQLite every commit is a journal sync and writers take turns, so one comment
per transaction caps throughput at the commit rate. Submissions that arrive
together instead queue here; a single writer task runs whatever is queued (up
to ``max_batch``) inside one write transaction and commits once. Each job still
sees the effects of the jobs before it, answers for itself (a domain error
fails only its own job, whose writes are rolled back to a savepoint), and
its caller resumes only after the commit — so an acknowledgement still means
"on disk". An unexpected error rolls the whole group back and is raised to
every job in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from moderation.domain.errors import ServiceError
from moderation.storage.database import Database
from moderation.storage.store import Store
from moderation.workers.base import Worker

T = TypeVar("T")
Job = Callable[[Store], Awaitable[Any]]


class GroupCommit(Worker):
    task_name = "group-commit"

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 64,
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        self._db = db
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._queue: asyncio.Queue[tuple[Job, asyncio.Future[Any]]] = asyncio.Queue()
        self.groups = 0
        self.jobs = 0

    async def _drain(self) -> None:
        """Finish what is queued before stopping."""
        await self._queue.join()

    async def run(self, job: Callable[[Store], Awaitable[T]]) -> T:
        """Run ``job`` in the next group's transaction; returns once that has committed."""
        if self._task is None:  # not started (tools, tests): a transaction of its own
            async with self._db.transaction() as store:
                return await job(store)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((job, future))
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < self._max_batch and not self._queue.empty():
                group.append(self._queue.get_nowait())
            outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            try:
                async with self._db.transaction() as store:
                    for job, future in group:
                        try:
                            async with store.savepoint():
                                outcomes.append((future, await job(store), None))
                        except ServiceError as refused:  # its own writes are undone
                            outcomes.append((future, None, refused))
            except BaseException as exc:
                # Every job of the group hears of it; the writer itself goes on (a job's
                # stray CancelledError or other BaseException must not strand later jobs),
                # unless it is the writer that is being cancelled.
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                    self._queue.task_done()
                task = asyncio.current_task()
                if isinstance(exc, asyncio.CancelledError) and task and task.cancelling():
                    raise
                if not isinstance(exc, Exception | asyncio.CancelledError):
                    raise  # KeyboardInterrupt, SystemExit
                continue
            self.groups += 1
            self.jobs += len(group)
            if self._on_commit is not None:
                self._on_commit(len(group))
            for future, value, failure in outcomes:
                self._queue.task_done()
                if future.done():
                    continue
                if failure is not None:
                    future.set_exception(failure)
                else:
                    future.set_result(value)
