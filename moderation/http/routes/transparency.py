"""Handlers for transparency reports (role ``admin``; EU DSA Art. 15, 24)."""

from __future__ import annotations

import json

from aiohttp import web

from moderation.domain.models import Role
from moderation.http.access import requires
from moderation.http.api import Api
from moderation.http.context import API_KEY, TRANSPARENCY
from moderation.http.parsing import parse_query
from moderation.http.responses import TransparencyReportOut
from moderation.http.schemas import PeriodQuery

api = Api()
routes = api.routes

NDJSON = "application/x-ndjson"


@api.get(
    "/v1/transparency/report",
    "The EU DSA Art. 15 figures of a period: notices, decisions, appeals, automation",
    role="admin",
    response=TransparencyReportOut,
    query=PeriodQuery,
)
@requires(Role.admin)
async def transparency_report(request: web.Request) -> web.Response:
    query = parse_query(request, PeriodQuery)
    figures = await request.app[TRANSPARENCY].report(
        query.start, query.end, scope=request[API_KEY].scope
    )
    return web.json_response(figures)


@api.get(
    "/v1/transparency/statements",
    "The statements of reasons of a period, one JSON object per line (NDJSON), streamed",
    role="admin",
    query=PeriodQuery,
    raw=(NDJSON, {"type": "string"}),
)
@requires(Role.admin)
async def transparency_statements(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, PeriodQuery)
    pages = request.app[TRANSPARENCY].statements(
        query.start, query.end, scope=request[API_KEY].scope
    )
    response = web.StreamResponse(headers={"Content-Type": f"{NDJSON}; charset=utf-8"})
    await response.prepare(request)
    async for page in pages:
        if page:
            lines = "".join(
                json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in page
            )
            await response.write(lines.encode("utf-8"))
    await response.write_eof()
    return response
