"""The live queue over Server-Sent Events (role ``moderator``; docs/review-queue.md).

``POST /v1/queue/events/token`` (with the key in ``Authorization``) gives a stream token:
single-use, valid for a minute. ``GET /v1/queue/events?token=…`` (or with
``Authorization: Bearer``, for clients that can send it) is the stream: ``change``
events with an ``id:`` (``Last-Event-ID``, or ``?last_event_id=`` for a new
``EventSource``, resumes after it), ``count`` events with the exact pending count,
``reset`` when the changes missed cannot be replayed, a comment line as heartbeat every
15 s, and ``end`` before the service closes it (shutdown, a client too slow, the key
revoked).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from moderation.contract import timestamp
from moderation.domain.models import ApiKey, Role
from moderation.domain.scopes import to_api
from moderation.http.access import requires
from moderation.http.api import Api
from moderation.http.context import API_KEY, LIVE, RATE_LIMITER
from moderation.http.middleware import SECURITY_HEADERS
from moderation.http.parsing import parse_query
from moderation.services.live import Stream
from moderation.workers.live_feed import Count, FeedItem

api = Api()

#: Seconds between heartbeat comments (proxies close quiet connections; a revoked key's
#: stream ends at the next one).
HEARTBEAT_S = 15.0
#: How long a client may take to accept one write before its stream is closed.
WRITE_TIMEOUT_S = 10.0
#: The reconnection delay ``EventSource`` is told to use.
RETRY_MS = 3000
#: One event of the stream, as OpenAPI describes a ``text/event-stream`` item: ``event``
#: names it (``change``, ``count``, ``reset``, ``end``), ``data`` is one line of JSON,
#: ``id`` (on ``change``) is what ``Last-Event-ID`` resumes from.
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["change", "count", "reset", "end"]},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "required": ["event", "data"],
}


class StreamTokenOut(BaseModel):
    token: str
    expires_at: str
    url: str


class EventsQuery(BaseModel):
    token: str | None = Field(default=None, max_length=100)
    last_event_id: int | None = Field(default=None, ge=0, le=2**62)


@api.post(
    "/v1/queue/events/token",
    "A single-use token, valid for a minute, that opens one live queue stream",
    role="moderator",
    ok=201,
    response=StreamTokenOut,
)
@requires(Role.moderator)
async def stream_token(request: web.Request) -> web.Response:
    issued = await request.app[LIVE].issue_token(request[API_KEY])
    return web.json_response(
        {
            "token": issued.token,
            "expires_at": timestamp(issued.expires_at),
            "url": f"/v1/queue/events?token={issued.token}",
        },
        status=201,
    )


@api.get(
    "/v1/queue/events",
    "The review queue's changes and pending count, live (Server-Sent Events)",
    role="moderator",
    query=EventsQuery,
    raw=("text/event-stream", SSE_EVENT),
)
async def events(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, EventsQuery)
    live = request.app[LIVE]
    key = await live.authenticate(request.headers.get("Authorization"), query.token)
    request.app[RATE_LIMITER].check(key)
    request[API_KEY] = key
    last = query.last_event_id
    if last is None:
        last = _event_id(request.headers.get("Last-Event-ID"))
    stream = await live.open(key, last)
    try:
        return await _serve(request, stream)
    finally:
        live.close(stream)


async def _serve(request: web.Request, stream: Stream) -> web.StreamResponse:
    live, key = request.app[LIVE], stream.key
    response = web.StreamResponse(
        headers={
            **SECURITY_HEADERS,
            "Content-Type": "text/event-stream; charset=utf-8",
            "X-Accel-Buffering": "no",  # nginx: pass each event on at once
        }
    )
    try:
        await response.prepare(request)
        await _write(response, f"retry: {RETRY_MS}\n\n".encode())
        if stream.reset:
            await _write(response, _event("reset", {}))
        for first in stream.backlog:
            await _write(response, _frame(first, key))
        beat_at = time.monotonic() + HEARTBEAT_S
        while True:
            try:
                async with asyncio.timeout(max(0.0, beat_at - time.monotonic())):
                    item = await stream.subscriber.next()
            except TimeoutError:
                beat_at = time.monotonic() + HEARTBEAT_S
                if not await live.still_valid(key):
                    await _write(response, _event("end", {"reason": "key revoked"}))
                    break
                await _write(response, b": heartbeat\n\n")
                continue
            if item is None:
                await _write(response, _event("end", {"reason": stream.subscriber.closed}))
                break
            await _write(response, _frame(item, key))
    except (ConnectionResetError, TimeoutError):
        pass  # the client went away, or stopped reading: nobody to answer
    return response


async def _write(response: web.StreamResponse, data: bytes) -> None:
    async with asyncio.timeout(WRITE_TIMEOUT_S):
        await response.write(data)


def _event_id(header: str | None) -> int | None:
    """``Last-Event-ID`` as an id of this feed; anything else is ignored (as no header)."""
    if header is None or not (header.isascii() and header.isdigit()) or len(header) > 18:
        return None
    return int(header)


def _event(name: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    # JSON escapes control characters: one data line, whatever a key's name holds.
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _frame(item: FeedItem, key: ApiKey) -> bytes:
    if isinstance(item, Count):
        return _event("count", {"pending": item.pending})
    return _event(
        "change",
        {
            "change": item.kind.value,
            "comment_id": to_api(key.scope, item.comment_id),
            "status": item.status,
            "by": item.actor,
            "mine": item.actor_key_id == key.id,
            "at": timestamp(item.at),
        },
        item.id,
    )
