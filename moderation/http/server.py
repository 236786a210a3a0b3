"""Serving the app: graceful signals, and the contract's error body for malformed HTTP.

aiohttp answers requests its parser rejects (a request line over 8 KiB, a malformed
header, a broken chunked body) before any middleware runs, as ``text/plain`` that
quotes the offending bytes back, and logs them with a traceback. The contract promises
``{"error": {...}}`` for every 4xx, and hostile input must never be echoed into a
response or a log, so the protocol handler is replaced by one that answers in the
contract's format and logs only the kind of error.

Replacing it means building the server ourselves (``web.run_app`` has no hook for the
protocol class); ``run`` keeps what ``run_app`` gave us: SIGINT/SIGTERM stop accepting,
in-flight requests drain for up to ``shutdown_timeout``, then cleanup contexts close.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from moderation.http.middleware import error_body

log = logging.getLogger("moderation.http")

# Why the parser refused a request, in words that quote nothing from it.
_PARSE_ERRORS: tuple[tuple[type[Exception], str, str], ...] = (
    (http_exceptions.LineTooLong, "line_too_long", "the request line or a header is too long"),
    (http_exceptions.InvalidHeader, "bad_request", "a request header is malformed"),
    (http_exceptions.BadStatusLine, "bad_request", "the request line is malformed"),
    (http_exceptions.InvalidURLError, "bad_request", "the request URL is malformed"),
    (http_exceptions.PayloadEncodingError, "bad_request", "the request body is malformed"),
)


def describe_parse_error(exc: BaseException | None) -> tuple[str, str]:
    """The contract's error code and a fixed message for an HTTP-level parse failure."""
    for kind, code, message in _PARSE_ERRORS:
        if isinstance(exc, kind):
            return code, message
    return "bad_request", "the request is not valid HTTP"


class _ContractRequestHandler(RequestHandler):
    """aiohttp's protocol handler, answering its own errors in the contract's format."""

    on_lost: Callable[[RequestHandler], None] | None = None

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        if self.on_lost is not None:
            self.on_lost(self)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            # Part of a response is already on the wire: the connection is beyond saving.
            raise ConnectionError("response already started; cannot send an error")
        if status >= 500:
            log.error("unhandled error in the HTTP server", exc_info=exc)
            code, text = "internal_error", "unexpected error"
        else:
            code, text = describe_parse_error(exc)
            log.info(
                "refused a malformed HTTP request",
                extra={"status": status, "error": type(exc).__name__ if exc else None},
            )
        response = web.json_response(error_body(code, text), status=status)
        response.force_close()
        return response


_BUSY = json.dumps(
    error_body("too_many_connections", "the service has too many open connections; retry")
).encode()


class _Busy(asyncio.Protocol):
    """A connection over the cap: a 503 in the contract's format, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Retry-After: 1\r\nConnection: close\r\n"
            + f"Content-Length: {len(_BUSY)}\r\n\r\n".encode()
            + _BUSY
        )
        transport.close()


class _ContractServer(web.Server):
    max_connections = 0  # 0: no cap

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Counted from the moment the protocol is made: connections accepted together
        # are made before any of them registers with the server (``connections``).
        self.open: set[RequestHandler] = set()

    def __call__(self) -> RequestHandler:
        if self.max_connections and len(self.open) >= self.max_connections:
            log.warning("refused a connection: %d open", len(self.open))
            return _Busy()  # type: ignore[return-value]
        handler = _ContractRequestHandler(self, loop=self._loop, **self._kwargs)
        handler.on_lost = self.open.discard
        self.open.add(handler)
        return handler


class ContractAppRunner(web.AppRunner):
    """An ``AppRunner`` whose connections use ``_ContractRequestHandler``, at most
    ``max_connections`` of them."""

    def __init__(self, app: web.Application, *, max_connections: int = 0, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._max_connections = max_connections

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # Same handler, request factory and settings; only the protocol class changes.
        replacement = _ContractServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )
        replacement.max_connections = self._max_connections
        return replacement


@dataclass(frozen=True, slots=True)
class Limits:
    """What a slow or greedy client may hold (README "Limits"; docs/deploy.md)."""

    #: A connection that has not sent a whole request's headers within this (and an idle
    #: keep-alive connection) is closed: slowloris clients hold nothing for long.
    keepalive_timeout_s: float = 15.0
    #: Open connections beyond this are answered 503 and closed at once.
    max_connections: int = 1024


def run(
    app: web.Application,
    *,
    host: str,
    port: int,
    shutdown_timeout: float,
    limits: Limits | None = None,
    hooks: Hooks | None = None,
    reuse_port: bool = False,
    also_stop_on: tuple[int, ...] = (),
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then drain and clean up. ``reuse_port``:
    share the port with other processes that bind it so (moderation/supervisor.py).
    ``also_stop_on``: signals that drain and stop too, however often they come."""
    asyncio.run(
        _serve(
            app,
            host=host,
            port=port,
            shutdown_timeout=shutdown_timeout,
            limits=limits,
            hooks=hooks,
            reuse_port=reuse_port,
            also_stop_on=also_stop_on,
        )
    )


@dataclass(frozen=True, slots=True)
class Hooks:
    """What the command line adds around serving (moderation/cli.py)."""

    #: Held open while the app starts (its cleanup contexts run), before it takes the port.
    starting: Callable[[], AbstractAsyncContextManager[None]] | None = None
    #: Called once the port accepts connections, with the listening socket addresses.
    ready: Callable[[list[Any]], None] | None = None


async def _serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    shutdown_timeout: float,
    limits: Limits | None = None,
    hooks: Hooks | None = None,
    reuse_port: bool = False,
    also_stop_on: tuple[int, ...] = (),
) -> None:
    hooks = hooks or Hooks()
    limits = limits or Limits()
    options: dict[str, Any] = {
        "access_log": None,
        "shutdown_timeout": shutdown_timeout,
        # aiohttp's keep-alive timer starts with the connection: it also bounds how long
        # a client may take to send its first request's headers.
        "keepalive_timeout": limits.keepalive_timeout_s,
    }
    runner = ContractAppRunner(
        app, handle_signals=False, max_connections=limits.max_connections, **options
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, *also_stop_on):
        loop.add_signal_handler(signum, stop.set)
    async with hooks.starting() if hooks.starting else contextlib.nullcontext():
        await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
        if hooks.ready is not None:
            hooks.ready(runner.addresses)
        await stop.wait()
        log.info("stopping: draining in-flight requests")
        # A second signal is the operator insisting: stop draining and exit now.
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    finally:
        # Stops listening, waits for in-flight handlers, then runs the cleanup contexts.
        await runner.cleanup()
        for signum in also_stop_on:
            # Stopped already: a repeat (the kernel may send a parent-death signal more
            # than once) must not end the process before it says so.
            loop.remove_signal_handler(signum)
            signal.signal(signum, signal.SIG_IGN)
