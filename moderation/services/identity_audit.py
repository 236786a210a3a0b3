"""The identity-term audit (admins): would the guidelines hold readers for naming a group?

The neutral sentences of ``domain/identity_audit.py`` (the terms' and the baseline's)
are scored by the classifier in force (through the :class:`Scorer`, so in its own
thread), then decided by the guidelines in force or by a proposal, each with its own
embedding and language flag as a comment would be. A sentence's scores do not depend on
the guidelines, so they are computed once per process and reused: after the first audit,
auditing another proposal costs only the decisions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from moderation.domain.engine import Context, Policy, decide
from moderation.domain.errors import NotReady
from moderation.domain.guidelines import from_document
from moderation.domain.identity_audit import (
    AUDITED,
    TEMPLATES,
    AuditResult,
    Outcome,
    Sentence,
    aggregate,
)
from moderation.domain.identity_audit import sentences as all_sentences
from moderation.services.policies import PolicyCache
from moderation.storage.database import Database
from moderation.workers.bulk import BulkWork
from moderation.workers.scorer import Scored, Scorer


@dataclass(frozen=True, slots=True)
class Audited:
    """An audit and what it audited: the classifier and the guidelines version (None for
    a proposal)."""

    result: AuditResult
    classifier: str
    guidelines_version: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "classifier": self.classifier,
            "guidelines_version": self.guidelines_version,
            "proposal": self.guidelines_version is None,
        } | self.result.to_json()


def decide_all(
    policy: Policy, audited: Sequence[Sentence], scored: Sequence[Scored]
) -> AuditResult:
    """Decide every sentence as a new comment on an untagged article (CPU work: run it
    off the event loop), then aggregate per term."""
    outcomes = []
    for sentence, one in zip(audited, scored, strict=True):
        context = Context(
            embedding=one.embedding,
            language_supported=one.language_supported,
            language=one.language,
        )
        verdict = decide(policy, sentence.text, one.scores, one.by, context)
        outcomes.append(Outcome(sentence, verdict.action, verdict.reasons, one.scores))
    return aggregate(outcomes, templates=len(TEMPLATES))


@dataclass(slots=True)
class IdentityAudit:
    db: Database
    scorer: Scorer
    policies: PolicyCache
    #: Every audited sentence decided again: beside backtests, in their thread.
    bulk: BulkWork
    sentences: tuple[Sentence, ...] = field(default_factory=lambda: all_sentences(AUDITED))
    _scored: list[Scored] | None = field(default=None, init=False, repr=False)
    _scoring: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def current(self) -> Audited:
        """The audit of the guidelines in force."""
        async with self.db.transaction(write=False) as store:
            policy = await self.policies.current(store)
        return await self._audit(policy, policy.version)

    async def proposal(self, document: Mapping[str, Any]) -> Audited:
        """The audit of a validated guidelines document, which is not stored. In a turn of
        the admins' bulk thread, as a backtest: compiling a proposed document (thousands of
        examples embedded, terms compiled) is whole-document work too."""
        async with self.bulk.turn():
            async with self.db.transaction(write=False) as store:
                version = await store.latest_guidelines_version()
            policy = await self.policies.build(from_document(document, version + 1))
            return await self._audit(policy, None)

    async def _audit(self, policy: Policy, version: int | None) -> Audited:
        scored = await self._score()
        sentences = self.sentences
        result = await self.bulk.call(lambda: decide_all(policy, sentences, scored))
        return Audited(result, self.scorer.name, version)

    async def _score(self) -> list[Scored]:
        """Every sentence's scores, embedding and language, computed once (single flight).

        Sent in slices of the scorer's batch size, one after the other, so comments that
        arrive meanwhile are scored between two slices rather than after all of them, and
        no slice comes near the scorer's deadline.
        """
        async with self._scoring:
            if self._scored is not None:
                return self._scored
            texts = [sentence.text for sentence in self.sentences]
            size = self.scorer.max_batch
            scored: list[Scored] = []
            for start in range(0, len(texts), size):
                scored.extend(await self.scorer.score_named(texts[start : start + size]))
            if any(one.scores is None for one in scored):
                # Held with classifier_unavailable, every sentence would look unfair.
                raise NotReady(
                    "the classifier did not score the audit sentences in time; try again",
                    code="classifier_unavailable",
                )
            self._scored = scored
            return scored
