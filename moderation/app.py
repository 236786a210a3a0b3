"""``create_app(settings)``: builds the aiohttp application without doing any I/O.

Every resource lives in a ``cleanup_ctx``, started in order and closed in
reverse: the database (migrations and first guidelines on start), the
classifier (loaded in a thread, first of the preference list that loads),
the scorer's worker thread, the webhook sender, and the service objects (with the
thread for admins' work over the whole store, ``workers/bulk.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from aiohttp import web

from classifiers.base import CATEGORIES, Classifier
from classifiers.cascade import Cascade
from classifiers.language import detect
from classifiers.loader import LoadReport, load_one, load_preferred, one_blas_thread
from moderation.domain.ratelimit import RateLimiter
from moderation.http import openapi
from moderation.http.api import Api
from moderation.http.context import (
    APPEALS,
    AUDIT,
    BULK,
    CLASSIFIER_REPORT,
    CORAL,
    DATABASE,
    GUIDELINES_ADMIN,
    IDENTITY_AUDIT,
    INSTANCES,
    KEYS,
    LEARNING,
    LIVE,
    LIVE_FEED,
    METRICS,
    MODERATION,
    PERSPECTIVE,
    POLICIES,
    RATE_LIMITER,
    REVIEW,
    SCORER,
    SETTINGS,
    SHADOW_RUNS,
    SHADOW_SCORER,
    TRANSPARENCY,
    WEBHOOK_SENDER,
    WEBHOOKS,
)
from moderation.http.guidelines_document import read_toml
from moderation.http.metrics import Metrics
from moderation.http.middleware import errors_middleware, hide_server
from moderation.http.routes import (
    admin,
    comments,
    coral,
    live,
    moderators,
    operations,
    perspective,
    transparency,
    ui,
)
from moderation.services.appeals import Appeals
from moderation.services.audit import Audit
from moderation.services.comments import Moderation
from moderation.services.coral import Coral
from moderation.services.decisions import Observers
from moderation.services.guidelines import GuidelinesAdmin
from moderation.services.identity_audit import IdentityAudit
from moderation.services.keys import Keys
from moderation.services.learning import Learning
from moderation.services.live import Live
from moderation.services.perspective import Perspective
from moderation.services.policies import PolicyCache, ensure_guidelines
from moderation.services.review import Review
from moderation.services.shadow import ShadowRuns
from moderation.services.transparency import Transparency
from moderation.services.webhooks import Webhooks
from moderation.settings import Settings
from moderation.storage.database import Database
from moderation.workers.bulk import BulkWork
from moderation.workers.group_commit import GroupCommit
from moderation.workers.heartbeat import InstanceRegistry
from moderation.workers.live_feed import LiveFeed
from moderation.workers.scorer import Embedder, Scorer
from moderation.workers.webhook_sender import WebhookSender

log = logging.getLogger(__name__)


#: Every route module's declarations: what the app serves and ``/openapi.json`` describes.
APIS: tuple[Api, ...] = (
    operations.api,
    openapi.api,
    comments.api,
    moderators.api,
    live.api,
    admin.api,
    transparency.api,
    perspective.api,
    coral.api,
)


def openapi_spec() -> dict[str, Any]:
    """The service's OpenAPI description, without building an app (tools, fuzzing)."""
    return openapi.build(op for declared in (*APIS, ui.api) for op in declared.operations)


def create_app(
    settings: Settings,
    *,
    classifier: Classifier | None = None,
    shadow_classifier: Classifier | None = None,
    embedder: Embedder | None = None,
) -> web.Application:
    """The service as an aiohttp app. ``classifier`` (and ``shadow_classifier``,
    ``embedder``) replace loading them from settings (tests, tools)."""
    app = web.Application(
        middlewares=[errors_middleware, perspective.google_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app.on_response_prepare.append(hide_server)
    app[POLICIES] = PolicyCache()
    app[METRICS] = Metrics()
    app[RATE_LIMITER] = RateLimiter(
        {
            "site": settings.rate_limit_site,
            "moderator": settings.rate_limit_moderator,
            "admin": settings.rate_limit_admin,
        }
    )
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_instances)
    app.cleanup_ctx.append(_classifier(classifier, shadow_classifier, embedder))
    app.cleanup_ctx.append(_webhooks)
    app.cleanup_ctx.append(_live)
    # Open live-queue streams end before the drain waits for in-flight requests.
    app.on_shutdown.append(_end_streams)
    app.cleanup_ctx.append(_services)
    for declared in APIS:
        app.add_routes(declared.routes)
    ui.add_routes(app)
    app[openapi.DESCRIPTION] = openapi.Description([*APIS, ui.api])
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    database = Database(
        settings.effective_database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        pool_size=settings.db_pool_size,
    )
    try:
        await database.upgrade()
        await ensure_guidelines(
            database, partial(read_toml, settings.guidelines), settings.guidelines.name
        )
        app[DATABASE] = database
        yield
    finally:
        await database.dispose()


async def _instances(app: web.Application) -> AsyncIterator[None]:
    limiter = app[RATE_LIMITER]

    def share(count: int) -> None:
        limiter.instances = count

    registry = InstanceRegistry(
        app[DATABASE], interval_s=app[SETTINGS].instance_heartbeat_s, on_count=share
    )
    await registry.begin()
    app[INSTANCES] = registry
    try:
        yield
    finally:
        await registry.close()


def _scorer(app: web.Application, classifier: Classifier, embedder: Embedder | None) -> Scorer:
    settings = app[SETTINGS]
    return Scorer(
        classifier,
        embedder=embedder,
        max_batch=settings.batch_max_size,
        max_wait_s=settings.batch_max_wait_ms / 1000,
        wait_when_busy=settings.batch_wait == "always",
        max_batch_chars=settings.batch_max_chars,
        queue_limit=settings.queue_limit,
        timeout_s=settings.classify_timeout_s,
        observe=app[METRICS].batch,
        lanes=max(0, settings.classifier_lanes) or None,
        lane_wait_s=settings.lane_wait_ms / 1000,
    )


def load_encoder(settings: Settings, classifier: Classifier) -> Embedder | None:
    """The sentence encoder for rules taught by example, beside a classifier that has none
    of its own (``minilm`` embeds as it scores: None then). None, logged loudly, when off
    or when it cannot load: the service still decides, without examples. Blocking: call
    it in a thread."""
    if settings.encoder == "off" or hasattr(classifier, "embed_and_predict"):
        return None
    from classifiers.encoder import SentenceEncoder, default_runtime

    options = settings.classifier_options()
    on_pytorch = str(getattr(classifier, "runtime", "")).startswith("torch")
    try:
        return SentenceEncoder(
            options.encoder_path,
            expected_sha256=options.encoder_sha256,
            runtime=options.encoder_runtime or default_runtime(beside_pytorch=on_pytorch),
            cache_dir=options.onnx_cache_dir,
        )
    except Exception as exc:
        log.error(
            "THE SENTENCE ENCODER DID NOT LOAD (%s): rules taught by example decide nothing",
            type(exc).__name__,
        )
        return None


def _classifier(
    injected: Classifier | None,
    injected_shadow: Classifier | None,
    injected_embedder: Embedder | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        if injected is not None:
            classifier, report = injected, LoadReport(chosen=injected.name)
        else:
            options = settings.classifier_options()
            classifier, report = await asyncio.to_thread(load_preferred, options)
        if settings.cascade and classifier.name != settings.cascade:
            fast = await asyncio.to_thread(
                load_one, settings.cascade, settings.classifier_options(settings.cascade)
            )
            classifier = Cascade(fast, classifier, sure_below=settings.cascade_sure_below)
            log.warning(
                "cascade: %s decides what it is sure of, %s the rest",
                fast.name,
                classifier.slow.name,
            )
        shadow = injected_shadow
        if shadow is None and settings.shadow_classifier:
            options = settings.classifier_options(settings.shadow_classifier)
            shadow, _ = await asyncio.to_thread(load_preferred, options)
        embedder = injected_embedder
        if embedder is None:
            embedder = await asyncio.to_thread(load_encoder, settings, classifier)
        # The language identifier loads on first use (~0.7 s): not inside someone's deadline.
        await asyncio.to_thread(detect, "a sentence to load the language identifier")
        # After every model is loaded, so every BLAS library in the process is (see there).
        # On this thread, not a worker: a count set from a worker thread did not reach a
        # thread that had set its own (tests/test_app.py). Milliseconds: start-up only.
        one_blas_thread()
        scorers = [_scorer(app, classifier, embedder)]
        if shadow is not None:
            scorers.append(_scorer(app, shadow, embedder))
        app[POLICIES].use_encoder(scorers[0].embed)
        missing = sorted(set(CATEGORIES) - set(classifier.categories))
        log.warning(
            "deciding with %s: scores %s%s; reads %s; rules taught by example: %s",
            classifier.name,
            ", ".join(classifier.categories),
            f" (NOT {', '.join(missing)}: rules on those never fire)" if missing else "",
            ", ".join(sorted(scorers[0].languages)),
            "on" if scorers[0].embedder is not None else "OFF (no sentence encoder)",
        )
        for scorer in scorers:
            scorer.start()
        app[SCORER] = scorers[0]
        if len(scorers) > 1:
            app[SHADOW_SCORER] = scorers[1]
        app[CLASSIFIER_REPORT] = report
        try:
            yield
        finally:
            for scorer in scorers:
                await scorer.close()

    return context


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    sender = WebhookSender(
        app[DATABASE],
        timeout_s=settings.webhook_timeout_s,
        poll_s=settings.webhook_poll_s,
        backoff_base_s=settings.webhook_backoff_base_s,
        allow=settings.webhook_allow_list(),
    )
    sender.start()
    app[WEBHOOK_SENDER] = sender
    try:
        yield
    finally:
        await sender.close()


async def _live(app: web.Application) -> AsyncIterator[None]:
    """The live queue (``workers/live_feed.py``, ``services/live.py``)."""
    feed = LiveFeed(app[DATABASE])
    feed.start()
    app[LIVE_FEED] = feed
    app[LIVE] = Live(app[DATABASE], feed)
    try:
        yield
    finally:
        await feed.close()


async def _end_streams(app: web.Application) -> None:
    if LIVE_FEED in app:
        app[LIVE_FEED].close_subscribers("shutdown")


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings, database, policies = app[SETTINGS], app[DATABASE], app[POLICIES]
    observers = Observers(
        events_written=app[WEBHOOK_SENDER].wake,
        decided=app[METRICS].decided,
        moderated=app[METRICS].moderated,
        queue_changed=app[LIVE_FEED].wake,
    )
    # SQLite commits one writer at a time: submissions that arrive together share a commit.
    writer = (
        GroupCommit(database, on_commit=app[METRICS].commit_group)
        if database.is_sqlite and settings.group_commit
        else None
    )
    if writer is not None:
        writer.start()
    app[MODERATION] = Moderation(
        database,
        app[SCORER],
        policies,
        observers=observers,
        writer=writer,
        shadow_scorer=app.get(SHADOW_SCORER),
    )
    app[REVIEW] = Review(database, policies, observers=observers)
    app[APPEALS] = Appeals(database, policies, observers=observers)
    app[TRANSPARENCY] = Transparency(database)
    # Backtests and the like get their own thread, not the default executor's, which
    # every comment's decision needs (workers/bulk.py).
    bulk = app[BULK] = BulkWork()
    app[GUIDELINES_ADMIN] = GuidelinesAdmin(database, policies, bulk)
    app[WEBHOOKS] = Webhooks(database, allow=settings.webhook_allow_list())
    app[KEYS] = Keys(database)
    app[AUDIT] = Audit(database)
    app[SHADOW_RUNS] = ShadowRuns(database)
    app[IDENTITY_AUDIT] = IdentityAudit(database, app[SCORER], policies, bulk)
    app[LEARNING] = Learning(database, app[SCORER], app[GUIDELINES_ADMIN])
    app[PERSPECTIVE] = Perspective(
        database, app[SCORER], policies, deadline_s=settings.perspective_deadline_ms / 1000
    )
    app[CORAL] = Coral(database, app[MODERATION], deadline_s=settings.coral_deadline_ms / 1000)
    try:
        yield
    finally:
        # Off the loop: closing waits for a backtest that is running.
        await asyncio.to_thread(bulk.close)
        if writer is not None:
            await writer.close()
