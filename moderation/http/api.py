"""One route declaration: each handler is registered, and described, in one place.

A route module declares its handlers on an :class:`Api`; the same call adds the aiohttp
route and the :class:`Operation` that ``/openapi.json`` describes (``http/openapi.py``
reads every module's operations, and a test checks that each route of the app has one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Statuses every authenticated operation may answer, whatever it does: a missing or
#: unknown key, a role too low, rate limits and overload, the database down.
AUTH_ERRORS: tuple[int, ...] = (401, 403, 429, 503)
#: ... and every operation that reads a body or query: malformed, too large, invalid.
INPUT_ERRORS: tuple[int, ...] = (400, 408, 413, 422)


@dataclass(frozen=True)
class Operation:
    """What OpenAPI says of one route."""

    method: str
    path: str
    summary: str
    role: str | None
    ok: int
    response: type[BaseModel] | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    #: Error statuses beyond the standard ones (404, 409 …).
    errors: tuple[int, ...] = ()
    #: Other success statuses with the same body (200 for an idempotent replay …).
    also: tuple[int, ...] = ()
    #: For routes that do not answer JSON: (media type, JSON schema) of the 200 answer.
    raw: tuple[str, dict[str, Any]] | None = None
    #: For routes that answer errors in another API's shape (Perspective's): its schema.
    error_schema: dict[str, Any] | None = None

    @property
    def error_statuses(self) -> tuple[int, ...]:
        statuses = set(self.errors)
        if self.role is not None:
            statuses.update(AUTH_ERRORS)
            statuses.update(INPUT_ERRORS)  # even a GET can carry a bad query or body
        return tuple(sorted(statuses))


class Api:
    """A route table whose every entry carries its :class:`Operation`."""

    def __init__(self) -> None:
        self.routes = web.RouteTableDef()
        self.operations: list[Operation] = []

    def route(
        self,
        method: str,
        path: str,
        summary: str,
        *,
        role: str | None,
        ok: int = 200,
        response: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        errors: tuple[int, ...] = (),
        also: tuple[int, ...] = (),
        raw: tuple[str, dict[str, Any]] | None = None,
        error_schema: dict[str, Any] | None = None,
    ) -> Callable[[Handler], Handler]:
        operation = Operation(
            method, path, summary, role, ok, response, body, query, errors, also, raw, error_schema
        )

        def register(handler: Handler) -> Handler:
            self.routes.route(method.upper(), path)(handler)
            self.operations.append(operation)
            return handler

        return register

    def get(self, path: str, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("get", path, summary, **kwargs)

    def post(self, path: str, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("post", path, summary, **kwargs)

    def put(self, path: str, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("put", path, summary, **kwargs)

    def delete(self, path: str, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("delete", path, summary, **kwargs)
