"""Operations endpoints (no key): health."""

from __future__ import annotations

from aiohttp import web

from moderation.http.context import CLASSIFIER_REPORT, DATABASE, SCORER

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """``{"status", "classifier", "database"}``; 503 with the same fields when degraded."""
    database_ok = await request.app[DATABASE].ping()
    scorer = request.app[SCORER]
    report = request.app[CLASSIFIER_REPORT]
    body: dict[str, object] = {
        "status": "ok" if database_ok else "degraded",
        "classifier": scorer.name,
        "database": "ok" if database_ok else "unavailable",
        "database_backend": request.app[DATABASE].backend,
        "classifier_fallbacks": [{"classifier": n, "error": why} for n, why in report.failures],
        "classifier_queue": scorer.queued,
    }
    if not database_ok:
        body["error"] = {"code": "database_unavailable", "message": "the database does not answer"}
        return web.json_response(body, status=503, headers={"Retry-After": "1"})
    return web.json_response(body)
