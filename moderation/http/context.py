"""Typed keys for what the application and each request share."""

from __future__ import annotations

from aiohttp import web

from classifiers.loader import LoadReport
from moderation.domain.models import ApiKey
from moderation.domain.ratelimit import RateLimiter
from moderation.http.metrics import Metrics
from moderation.services.appeals import Appeals
from moderation.services.audit import Audit
from moderation.services.comments import Moderation
from moderation.services.coral import Coral
from moderation.services.guidelines import GuidelinesAdmin
from moderation.services.identity_audit import IdentityAudit
from moderation.services.keys import Keys
from moderation.services.learning import Learning
from moderation.services.live import Live
from moderation.services.perspective import Perspective
from moderation.services.policies import PolicyCache
from moderation.services.review import Review
from moderation.services.shadow import ShadowRuns
from moderation.services.transparency import Transparency
from moderation.services.webhooks import Webhooks
from moderation.settings import Settings
from moderation.storage.database import Database
from moderation.workers.bulk import BulkWork
from moderation.workers.heartbeat import InstanceRegistry
from moderation.workers.live_feed import LiveFeed
from moderation.workers.scorer import Scorer
from moderation.workers.webhook_sender import WebhookSender

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
SCORER = web.AppKey("scorer", Scorer)
SHADOW_SCORER = web.AppKey("shadow_scorer", Scorer)  # only set when a shadow classifier runs
CLASSIFIER_REPORT = web.AppKey("classifier_report", LoadReport)
POLICIES = web.AppKey("policies", PolicyCache)
MODERATION = web.AppKey("moderation", Moderation)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
INSTANCES = web.AppKey("instances", InstanceRegistry)
REVIEW = web.AppKey("review", Review)
APPEALS = web.AppKey("appeals", Appeals)
TRANSPARENCY = web.AppKey("transparency", Transparency)
GUIDELINES_ADMIN = web.AppKey("guidelines_admin", GuidelinesAdmin)
WEBHOOK_SENDER = web.AppKey("webhook_sender", WebhookSender)
METRICS = web.AppKey("metrics", Metrics)
WEBHOOKS = web.AppKey("webhooks", Webhooks)
KEYS = web.AppKey("keys", Keys)
AUDIT = web.AppKey("audit", Audit)
SHADOW_RUNS = web.AppKey("shadow_runs", ShadowRuns)
IDENTITY_AUDIT = web.AppKey("identity_audit", IdentityAudit)
LEARNING = web.AppKey("learning", Learning)
PERSPECTIVE = web.AppKey("perspective", Perspective)
CORAL = web.AppKey("coral", Coral)
LIVE_FEED = web.AppKey("live_feed", LiveFeed)  # the live queue (workers/live_feed.py)
LIVE = web.AppKey("live", Live)
BULK = web.AppKey("bulk", BulkWork)  # admins' work over the whole store (workers/bulk.py)

API_KEY = web.RequestKey("api_key", ApiKey)
REQUEST_ID = web.RequestKey("request_id", str)
