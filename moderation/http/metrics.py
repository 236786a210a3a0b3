"""Prometheus metrics, one registry per application (so several apps can share a process)."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from moderation.domain.models import Action
from moderation.services.decisions import ModeratorDecided


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "moderation_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "moderation_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.decisions = Counter(
            "moderation_decisions",
            "Committed decisions by action, decider and reason",
            ["action", "by", "reason"],
            registry=self.registry,
        )
        # The EU DSA figures (docs/dsa.md), from moderators' decisions as they commit.
        self.time_to_decision = Histogram(
            "moderation_time_to_decision_seconds",
            "Seconds from a comment entering the review queue to the moderator's decision "
            "that took it out, by the queue's main reason",
            ["reason"],
            buckets=(60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400, 172800, 604800),
            registry=self.registry,
        )
        self.moderator_decisions = Counter(
            "moderation_moderator_decisions",
            "Moderators' decisions (on comments and appeals) by moderator key name",
            ["moderator"],
            registry=self.registry,
        )
        self.moderator_agreement = Counter(
            "moderation_moderator_agreement",
            "Moderators' decisions after an automatic one, by whether they agreed with it",
            ["agreed"],
            registry=self.registry,
        )
        self.classifier_seconds = Histogram(
            "moderation_classifier_batch_seconds",
            "Time the classifier took per batch",
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.batch_sizes = Histogram(
            "moderation_classifier_batch_size",
            "Texts per classifier batch",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.commit_groups = Histogram(
            "moderation_commit_group_size",
            "Submissions per shared SQLite commit (group commit)",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.classifier_queue = Gauge(
            "moderation_classifier_queue",
            "Texts waiting for the classifier",
            registry=self.registry,
        )
        self.classifier_failures = Gauge(
            "moderation_classifier_failures",
            "Classifier batches that failed (since start)",
            registry=self.registry,
        )
        self.classifier_timeouts = Gauge(
            "moderation_classifier_timeouts",
            "Texts not scored in time (since start)",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "moderation_queue_depth", "Comments waiting for a moderator", registry=self.registry
        )
        self.oldest_pending = Gauge(
            "moderation_queue_oldest_seconds",
            "Age of the oldest waiting comment",
            registry=self.registry,
        )
        self.webhook_backlog = Gauge(
            "moderation_webhook_backlog", "Webhook events not yet delivered", registry=self.registry
        )

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.request_seconds.labels(route).observe(seconds)

    def decided(self, action: Action, by: str, codes: tuple[str, ...]) -> None:
        for code in codes or ("none",):
            self.decisions.labels(action.value, by, code).inc()

    def moderated(self, decided: ModeratorDecided) -> None:
        self.moderator_decisions.labels(decided.moderator).inc()
        if decided.queue_reason is not None and decided.waited_seconds is not None:
            self.time_to_decision.labels(decided.queue_reason).observe(decided.waited_seconds)
        if decided.agreed is not None:
            self.moderator_agreement.labels(str(decided.agreed).lower()).inc()

    def commit_group(self, size: int) -> None:
        self.commit_groups.observe(size)

    def batch(self, size: int, seconds: float) -> None:
        self.batch_sizes.observe(size)
        self.classifier_seconds.observe(seconds)

    def render(
        self,
        *,
        queue: int,
        oldest: datetime | None,
        now: datetime,
        backlog: int,
        classifier_queue: int,
        failures: int,
        timeouts: int,
    ) -> bytes:
        self.queue_depth.set(queue)
        self.oldest_pending.set((now - oldest).total_seconds() if oldest else 0)
        self.webhook_backlog.set(backlog)
        self.classifier_queue.set(classifier_queue)
        self.classifier_failures.set(failures)
        self.classifier_timeouts.set(timeouts)
        return generate_latest(self.registry)
