"""Authentication, role checks and rate limits, declared per handler."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from moderation.domain.models import Role
from moderation.http.context import API_KEY, DATABASE, RATE_LIMITER
from moderation.services.keys import authenticate, require

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def requires(role: Role) -> Callable[[Handler], Handler]:
    """The handler needs a valid key of ``role`` or higher (401/403), within its rate (429)."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            key = await authenticate(request.app[DATABASE], request.headers.get("Authorization"))
            require(key, role)
            request.app[RATE_LIMITER].check(key)
            request[API_KEY] = key
            return await handler(request)

        checked.required_role = role  # type: ignore[attr-defined]
        return checked

    return wrap
