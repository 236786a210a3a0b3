"""Operations endpoints (no key): health."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from moderation.http.context import CLASSIFIER_REPORT, DATABASE, INSTANCES, METRICS, SCORER
from moderation.services import operations

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """``{"status", "classifier", "database"}``; 503 with the same fields when degraded."""
    database_ok = await request.app[DATABASE].ping()
    backlog = (
        (await operations.snapshot(request.app[DATABASE])).webhook_backlog if database_ok else None
    )
    scorer = request.app[SCORER]
    report = request.app[CLASSIFIER_REPORT]
    body: dict[str, object] = {
        "status": "ok" if database_ok else "degraded",
        "classifier": scorer.name,
        "database": "ok" if database_ok else "unavailable",
        "database_backend": request.app[DATABASE].backend,
        "classifier_fallbacks": [{"classifier": n, "error": why} for n, why in report.failures],
        "classifier_queue": scorer.queued,
        "instances": request.app[INSTANCES].count,
        "outbox": {"undelivered": backlog},
    }
    if not database_ok:
        body["error"] = {"code": "database_unavailable", "message": "the database does not answer"}
        return web.json_response(body, status=503, headers={"Retry-After": "1"})
    return web.json_response(body)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format: requests, decisions, queue, classifier, webhooks."""
    snapshot = await operations.snapshot(request.app[DATABASE])
    scorer = request.app[SCORER]
    body = request.app[METRICS].render(
        queue=snapshot.queue_depth,
        oldest=snapshot.oldest_pending,
        now=snapshot.at,
        backlog=snapshot.webhook_backlog,
        classifier_queue=scorer.queued,
        failures=scorer.stats.failures,
        timeouts=scorer.stats.timeouts,
    )
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
