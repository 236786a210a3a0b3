"""The guidelines in force: bootstrapped from TOML once, then read from the database.

Every decision asks the database for the latest version number inside its own
transaction, so a new version is in force for every comment decided after the
``PUT`` that created it, in every process sharing the database. The compiled
form (term matchers) is cached per version, so that check costs one indexed
``max()`` query.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from moderation.domain.engine import Policy, compile_policy
from moderation.domain.errors import NotReady
from moderation.domain.guidelines import from_document
from moderation.domain.models import utcnow
from moderation.storage.database import Database
from moderation.storage.store import Store

log = logging.getLogger(__name__)


class PolicyCache:
    """Compiled guidelines, one version at a time."""

    def __init__(self) -> None:
        self._policy: Policy | None = None

    async def current(self, store: Store) -> Policy:
        version = await store.latest_guidelines_version()
        cached = self._policy
        if cached is not None and cached.version == version:
            return cached
        return await self.version(store, version)

    async def version(self, store: Store, version: int) -> Policy:
        found = await store.guidelines(version)
        if found is None:
            raise NotReady("no guidelines are loaded yet", code="no_guidelines")
        policy = compile_policy(from_document(found[0], version))
        if self._policy is None or version >= self._policy.version:
            self._policy = policy
        return policy


async def ensure_guidelines(
    db: Database, load: Callable[[], Mapping[str, Any]], source: str
) -> int:
    """Store ``load()`` (a validated document) as version 1 when the database has no
    guidelines yet; the version in force. ``source`` names where it came from."""
    async with db.transaction() as store:
        version = await store.latest_guidelines_version()
        if version:
            return version
        await store.add_guidelines(1, dict(load()), "system", utcnow(), f"loaded from {source}")
    log.info("loaded guidelines version 1 from %s", source)
    return 1
