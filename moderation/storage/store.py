"""The store: every repository over one unit of work (one session, one transaction)."""

from __future__ import annotations

from moderation.storage.repos.appeals import AppealsRepo
from moderation.storage.repos.audit import AuditRepo
from moderation.storage.repos.authors import ArticlesRepo
from moderation.storage.repos.comments import CommentsRepo
from moderation.storage.repos.guidelines import GuidelinesRepo
from moderation.storage.repos.instances import InstancesRepo
from moderation.storage.repos.integrations import IntegrationsRepo
from moderation.storage.repos.keys import KeysRepo, SqliteKeyReader, key_by_hash
from moderation.storage.repos.learning import LearningRepo
from moderation.storage.repos.live import LiveRepo
from moderation.storage.repos.notices import NoticesRepo
from moderation.storage.repos.queue import QueueRepo
from moderation.storage.repos.shadow import ShadowRepo
from moderation.storage.repos.transparency import TransparencyRepo
from moderation.storage.repos.webhooks import WebhooksRepo

__all__ = ["SqliteKeyReader", "Store", "key_by_hash"]


class Store(
    KeysRepo,
    InstancesRepo,
    GuidelinesRepo,
    ArticlesRepo,
    CommentsRepo,
    QueueRepo,
    WebhooksRepo,
    ShadowRepo,
    AuditRepo,
    IntegrationsRepo,
    LearningRepo,
    NoticesRepo,
    AppealsRepo,
    TransparencyRepo,
    LiveRepo,
):
    """All queries and writes of one transaction, in the domain's terms."""
