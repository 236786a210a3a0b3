"""Shadow mode: proposed guidelines decide every new comment beside the live ones.

An admin starts a run with a guidelines document (``PUT /v1/guidelines/shadow``).
While it runs, every automatic decision is also taken under the proposal, from the
same scores and context, and stored in ``shadow_decisions`` — in the same
transaction, and without touching anything about the live decision.
``GET /v1/guidelines/shadow`` reports the live → shadow matrix, the disagreement
count and the latest disagreements; ``DELETE`` stops the run. One run at a time:
starting a new one stops the previous.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moderation.domain.engine import Context, Policy
from moderation.domain.errors import NotFound
from moderation.domain.guidelines import from_document
from moderation.domain.models import ACTIONS, Action, ApiKey, utcnow
from moderation.domain.records import ShadowRun
from moderation.services.policies import PolicyCache, decide_text
from moderation.storage.database import Database
from moderation.storage.store import Store


class ShadowCache:
    """The active run's compiled policy, cached per run."""

    def __init__(self) -> None:
        self._compiled: tuple[int, Policy] | None = None

    async def active(self, store: Store, policies: PolicyCache) -> tuple[int, Policy] | None:
        run = await store.active_shadow_run()
        if run is None:
            return None
        if self._compiled is None or self._compiled[0] != run.id:
            # Compiled once, off the loop, as the live guidelines are (negative versions
            # name shadow runs, so they never pass for the guidelines in force).
            policy = await policies.compile(from_document(run.document, -run.id))
            self._compiled = (run.id, policy)
        return self._compiled


async def decide_in_shadow(
    store: Store,
    cache: ShadowCache,
    policies: PolicyCache,
    comment_id: str,
    text: str,
    scores: Mapping[str, float] | None,
    classifier: str,
    context: Context,
    live: Action,
) -> None:
    """Record what the active shadow run would decide; a no-op when none runs."""
    active = await cache.active(store, policies)
    if active is None:
        return
    run_id, policy = active
    verdict = await decide_text(policy, text, scores, classifier, context)
    await store.add_shadow_decision(
        run_id, comment_id, live, verdict.action, verdict.reasons, classifier, utcnow()
    )


@dataclass(frozen=True, slots=True)
class ShadowReport:
    run: ShadowRun
    matrix: dict[str, dict[str, int]]
    total: int
    disagreements: int
    samples: list[dict[str, Any]]


@dataclass(slots=True)
class ShadowRuns:
    """Proposed guidelines run beside the live ones: started, stopped, reported."""

    db: Database

    async def start(self, key: ApiKey, document: Mapping[str, Any], note: str | None) -> ShadowRun:
        async with self.db.transaction() as store:
            run = await store.start_shadow_run(dict(document), note, key.name, utcnow())
            await store.audit(
                key, "shadow.start", str(run.id), {"note": note}, utcnow(), shared=True
            )
        return run

    async def stop(self, key: ApiKey) -> None:
        async with self.db.transaction() as store:
            if not await store.stop_shadow_runs(utcnow()):
                raise NotFound("no shadow run is active", code="no_shadow_run")
            await store.audit(key, "shadow.stop", None, {}, utcnow(), shared=True)

    async def report(self, samples: int) -> ShadowReport:
        async with self.db.transaction(write=False) as store:
            run = await store.latest_shadow_run()
            if run is None:
                raise NotFound("no shadow run has been started", code="no_shadow_run")
            counts = await store.shadow_counts(run.id)
            latest = await store.shadow_disagreements(run.id, samples)
        matrix = {
            live: {shadow: counts.get((live, shadow), 0) for shadow in ACTIONS} for live in ACTIONS
        }
        total = sum(counts.values())
        agree = sum(counts.get((a, a), 0) for a in ACTIONS)
        return ShadowReport(
            run=run, matrix=matrix, total=total, disagreements=total - agree, samples=latest
        )
