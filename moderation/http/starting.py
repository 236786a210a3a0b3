"""While the service starts: a stand-in on its port that says so.

The app serves nothing until every cleanup context has run (migrations, the classifier,
the workers), and loading a classifier can take minutes when a Detoxify checkpoint of
hundreds of megabytes is downloaded first. Meanwhile this stand-in listens on the
service's address: ``GET /healthz`` answers 503 with ``"status": "loading"`` and each
download's progress (``loading.downloads``), and every other request 503 with the
contract's error body (code ``starting``, ``Retry-After``). A load balancer thus sees a
process that is starting, not a dead one, and keeps it out of rotation until the real
``/healthz`` answers 200. ``moderation/http/server.py`` closes it just before the app
takes the port over.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from aiohttp import web

from classifiers import downloads
from moderation.http.middleware import error_body

RETRY_AFTER_S = 5
_MESSAGE = "the service is starting (loading its classifier); try again shortly"


def health(
    preference: str,
    since: datetime,
    in_progress: Callable[[], list[dict[str, object]]] = downloads.in_progress,
) -> dict[str, object]:
    """The start-up ``/healthz`` body: the shape of the ready one, ``status: loading``."""
    return {
        "status": "loading",
        "classifier": None,
        "database": "starting",
        "classifier_preference": preference,
        "loading": {
            "since": since.isoformat(timespec="seconds"),
            "downloads": in_progress(),
        },
        **error_body("starting", _MESSAGE),
    }


def app(preference: str, since: datetime | None = None) -> web.Application:
    """The stand-in: ``/healthz`` says loading, everything else 503 ``starting``."""
    started = since or datetime.now(UTC)
    headers = {"Retry-After": str(RETRY_AFTER_S)}

    async def answer(request: web.Request) -> web.Response:
        if request.path == "/healthz":
            body = health(preference, started)
        else:
            body = error_body("starting", _MESSAGE)
        return web.json_response(body, status=503, headers=headers)

    stand_in = web.Application()
    stand_in.router.add_route("*", "/{tail:.*}", answer)
    return stand_in


@contextlib.asynccontextmanager
async def stand_in(
    host: str, port: int, preference: str, *, reuse_port: bool = False
) -> AsyncIterator[None]:
    """Serve :func:`app` on ``host:port`` for as long as the block runs (``reuse_port``:
    beside the other processes on that port, moderation/supervisor.py)."""
    runner = web.AppRunner(
        app(preference), handle_signals=False, access_log=None, shutdown_timeout=1.0
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
        yield
    finally:
        await runner.cleanup()
