"""Operations endpoints: health and metrics (no key), and who a key is (``/v1/me``)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from classifiers.base import CATEGORIES
from classifiers.loader import runtime_description
from moderation.domain.models import Role
from moderation.http.access import requires
from moderation.http.api import Api
from moderation.http.context import (
    API_KEY,
    CLASSIFIER_REPORT,
    DATABASE,
    INSTANCES,
    METRICS,
    REVIEW,
    SCORER,
    SETTINGS,
)
from moderation.http.responses import HealthOut, MeOut
from moderation.services import operations
from moderation.services.keys import authenticate, require

api = Api()
routes = api.routes


@api.get(
    "/healthz", "Health: database and classifier", role=None, response=HealthOut, errors=(503,)
)
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
        "classifier_categories": list(scorer.classifier.categories),
        # what runs the model (recipe, measured or asked for): classifiers/loader.py
        "classifier_runtime": runtime_description(scorer.classifier),
        "classifier_languages": sorted(scorer.languages),
        "examples_encoder": scorer.embedder is not None,
        "classifier_fallbacks": [{"classifier": n, "error": why} for n, why in report.failures],
        "classifier_queue": scorer.queued,
        "instances": request.app[INSTANCES].count,
        "outbox": {"undelivered": backlog},
    }
    if not database_ok:
        body["error"] = {"code": "database_unavailable", "message": "the database does not answer"}
        return web.json_response(body, status=503, headers={"Retry-After": "1"})
    return web.json_response(body)


@api.get(
    "/metrics",
    "Prometheus metrics",
    role=None,
    raw=(CONTENT_TYPE_LATEST.split(";")[0], {"type": "string"}),
)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format: requests, decisions, queue, classifier, webhooks.

    Open by default (scrapers rarely carry keys); ``MODERATION_METRICS_ROLE`` makes it
    need a key of that role or higher, as every ``/v1`` endpoint does."""
    role = request.app[SETTINGS].metrics_role
    if role:
        key = await authenticate(request.app[DATABASE], request.headers.get("Authorization"))
        require(key, Role[role])
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


@api.get(
    "/v1/me",
    "Who this key is, and the categories the service and its classifier score",
    role="site",
    response=MeOut,
)
@requires(Role.site)
async def me(request: web.Request) -> web.Response:
    """What a client (the moderators' page) needs to adapt to the key and the model."""
    key = request[API_KEY]
    classifier = request.app[SCORER].classifier
    body: dict[str, object] = {
        "key_id": key.id,
        "name": key.name,
        "role": key.role.name,
        "scope": key.scope,
        "categories": list(CATEGORIES),
        "classifier": {"name": classifier.name, "categories": list(classifier.categories)},
    }
    if key.role >= Role.moderator:
        # What a moderator may cite when deciding (the decision's ``rule``).
        body["rules"] = [
            {"id": r.id, "title": r.title, "guideline": r.guideline, "category": r.category}
            for r in await request.app[REVIEW].rules()
        ]
    return web.json_response(body)
