"""The guidelines in force: bootstrapped from TOML once, then read from the database.

Every decision asks the database for the latest version number inside its own
transaction, so a new version is in force for every comment decided after the
``PUT`` that created it, in every process sharing the database. The compiled
form (term matchers, example vectors) is cached per version, so that check costs one
indexed ``max()`` query.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import numpy as np

from moderation.domain.engine import Context, Policy, compile_policy, decide
from moderation.domain.errors import NotReady
from moderation.domain.examples import Vectors
from moderation.domain.guidelines import Guidelines, from_document
from moderation.domain.models import Verdict, utcnow
from moderation.storage.database import Database
from moderation.storage.store import Store

log = logging.getLogger(__name__)


class PolicyCache:
    """Compiled guidelines, one version at a time, each compiled once, off the event loop.

    Compiling is CPU work on admin-supplied input (term tries over thousands of terms,
    the examples' embeddings), so it runs in a thread (the embeddings in the model's),
    and concurrent requests that meet a new version wait for the one compilation of it
    (single flight) instead of each compiling it again.
    """

    def __init__(
        self, embed: Callable[[Sequence[str]], Awaitable[Vectors | None]] | None = None
    ) -> None:
        self._policy: Policy | None = None
        self._embed = embed
        self._compiling: dict[int, asyncio.Future[Policy]] = {}
        self._warned = False

    def use_encoder(self, embed: Callable[[Sequence[str]], Awaitable[Vectors | None]]) -> None:
        """Embed examples with ``embed`` from now on (set once the model has loaded)."""
        self._embed = embed
        self._policy = None

    async def current(self, store: Store) -> Policy:
        version = await store.latest_guidelines_version()
        cached = self._policy
        if cached is not None and cached.version == version:
            return cached
        return await self.version(store, version)

    async def version(self, store: Store, version: int) -> Policy:
        cached = self._policy
        if cached is not None and cached.version == version:
            return cached
        pending = self._compiling.get(version)
        if pending is not None:
            return await asyncio.shield(pending)
        found = await store.guidelines(version)
        if found is None:
            raise NotReady("no guidelines are loaded yet", code="no_guidelines")
        return await self.compile(from_document(found[0], version))

    async def compile(self, guidelines: Guidelines) -> Policy:
        """Compile ``guidelines`` once; later callers for the same version share the result."""
        version = guidelines.version
        pending = self._compiling.get(version)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Policy] = asyncio.get_running_loop().create_future()
        self._compiling[version] = future
        try:
            policy = await self.build(guidelines)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must log it
            raise
        finally:
            del self._compiling[version]
        future.set_result(policy)
        if version > 0 and (self._policy is None or version >= self._policy.version):
            self._policy = policy
        return policy

    async def build(self, guidelines: Guidelines) -> Policy:
        """Compile ``guidelines`` off the loop without caching it (proposals, shadow runs)."""
        texts = [text for r in guidelines.rules for text in (*r.examples, *r.counterexamples)]
        vectors = await self._embed(texts) if texts and self._embed is not None else None
        if texts and vectors is None and not self._warned:
            self._warned = True
            log.error(
                "the guidelines teach rules by example, but no sentence encoder is loaded: "
                "examples decide nothing until one is (MODERATION_ENCODER)"
            )
        embed = None if vectors is None else _lookup(texts, vectors)
        return await asyncio.to_thread(compile_policy, guidelines, embed)


def _lookup(texts: Sequence[str], vectors: Vectors) -> Callable[[Sequence[str]], Vectors]:
    """An embed function that answers from vectors already computed for ``texts``."""
    index = {text: row for text, row in zip(texts, vectors, strict=True)}

    def embed(wanted: Sequence[str]) -> Vectors:
        return np.stack([index[text] for text in wanted]) if wanted else vectors[:0]

    return embed


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


DECIDE_ON_LOOP_CHARS = 2_000
"""Longer texts are decided in a worker thread (a thread hop costs more than deciding a
short comment does)."""


async def decide_text(
    policy: Policy,
    text: str,
    scores: Mapping[str, float] | None,
    classifier: str,
    context: Context,
) -> Verdict:
    """:func:`~moderation.domain.engine.decide`, in a worker thread for a long text: term
    and link matching is linear but not free, and on a 20,000-character text, in a batch
    of 100, it would hold the event loop (and /healthz) for seconds."""
    if len(text) > DECIDE_ON_LOOP_CHARS:
        return await asyncio.to_thread(decide, policy, text, scores, classifier, context)
    return decide(policy, text, scores, classifier, context)
