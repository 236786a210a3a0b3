"""Admins' work on the guidelines: versions, changes, restore, backtests, suggestions.

Every change is a new version (never an edit in place), made inside one write
transaction that also records an audit entry; the version number is the
previous one plus one (PostgreSQL serialises writers with an advisory
transaction lock, SQLite with its single writer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from moderation.backtest import BacktestResult, Suggestion, backtest, suggest
from moderation.domain.errors import NotFound
from moderation.domain.guidelines import from_document
from moderation.domain.models import ApiKey, utcnow
from moderation.domain.records import Case, CaseFilter, Page
from moderation.domain.scopes import in_scope
from moderation.services.policies import PolicyCache
from moderation.storage.database import Database
from moderation.workers.bulk import BulkWork


@dataclass(frozen=True, slots=True)
class Version:
    version: int
    document: Mapping[str, Any]
    created_by: str
    created_at: datetime
    note: str | None
    changes: list[dict[str, Any]]


def diff(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """Field-level changes between two guideline documents (rules matched by id)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[dict[str, Any]] = []
        for key in sorted(set(before) | set(after), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in before:
                changes.append({"path": sub, "change": "added", "to": after[key]})
            elif key not in after:
                changes.append({"path": sub, "change": "removed", "from": before[key]})
            else:
                changes.extend(diff(before[key], after[key], sub))
        return changes
    if isinstance(before, list) and isinstance(after, list) and _keyed(before) and _keyed(after):
        old = {item["id"]: item for item in before}
        new = {item["id"]: item for item in after}
        return diff(old, new, path)
    if before != after:
        return [{"path": path, "change": "changed", "from": before, "to": after}]
    return []


def _keyed(items: list[Any]) -> bool:
    return all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in items)


def _with_texts(result: BacktestResult, cases: Iterable[Case], scope: str | None) -> BacktestResult:
    """``result`` with the text of each sample stored in ``scope`` (None when deleted)."""
    wanted = {s.comment_id for s in result.samples if in_scope(scope, s.comment_id)}
    if not wanted:
        return result
    texts = {c.comment_id: c.text for c in cases if c.comment_id in wanted}
    return replace(
        result,
        samples=tuple(
            replace(s, text=texts.get(s.comment_id)) if s.comment_id in wanted else s
            for s in result.samples
        ),
    )


@dataclass(slots=True)
class GuidelinesAdmin:
    db: Database
    policies: PolicyCache
    #: Backtests and suggestions decide every stored comment again: in their own thread.
    bulk: BulkWork

    async def current(self) -> Version:
        async with self.db.transaction(write=False) as store:
            version = await store.latest_guidelines_version()
        return await self.version(version)

    async def version(self, number: int) -> Version:
        async with self.db.transaction(write=False) as store:
            found = await store.guidelines(number)
            previous = await store.guidelines(number - 1) if number > 1 else None
            history = {v: note for v, _, _, note in await store.guidelines_history()}
        if found is None:
            raise NotFound("no such guidelines version", code="version_not_found")
        document, by, at = found
        changes = diff(previous[0], document) if previous else []
        return Version(number, document, by, at, history.get(number), changes)

    async def versions(self, limit: int, after: Sequence[str] | None = None) -> Page[Version]:
        """Versions oldest first, each with its changes from the one before."""
        async with self.db.transaction(write=False) as store:
            page = await store.guidelines_page(limit, after)
            first = page.items[0][0] if page.items else 0
            before = await store.guidelines(first - 1) if first > 1 else None
        result = []
        previous: Mapping[str, Any] | None = before[0] if before else None
        for number, document, by, at, note in page.items:
            changes = diff(previous, document) if previous is not None else []
            result.append(Version(number, document, by, at, note, changes))
            previous = document
        return Page(result, page.next_after)

    async def put(self, key: ApiKey, document: Mapping[str, Any], note: str | None) -> Version:
        """A new version from a validated document, in force once this returns."""
        stored = dict(document)
        async with self.db.transaction() as store:
            await store.lock_guidelines()
            number = await store.latest_guidelines_version() + 1
            now = utcnow()
            await store.add_guidelines(number, stored, key.name, now, note)
            await store.audit(
                key, "guidelines.update", str(number), {"note": note}, now, shared=True
            )
        return await self.version(number)

    async def restore(self, key: ApiKey, number: int) -> Version:
        """A new version whose document is an earlier version's."""
        old = await self.version(number)
        return await self.put(key, old.document, f"restored version {number}")

    async def backtest(
        self,
        document: Mapping[str, Any],
        filters: CaseFilter,
        samples: int,
        *,
        scope: str | None = None,
    ) -> BacktestResult:
        """What ``document`` would have decided for the stored comments (stored scores only).

        The samples of ``scope`` (the caller's website) carry their text: the guidelines
        are shared by every scope, another website's comments are not."""
        async with self.bulk.turn():
            async with self.db.transaction(write=False) as store:
                current = await self.policies.current(store)
                cases = await store.backtest_cases(filters)
            proposed = await self.policies.build(from_document(document, current.version + 1))
            # Every stored comment decided again (terms and links matched over texts that
            # readers wrote): CPU work that grows with the store, off the event loop.
            return await self.bulk.call(
                lambda: _with_texts(
                    backtest(proposed, cases, current=current, samples=samples), cases, scope
                )
            )

    async def suggest(
        self, filters: CaseFilter, classifier: str, target_precision: float, min_evidence: int
    ) -> list[Suggestion]:
        async with self.bulk.turn():
            async with self.db.transaction(write=False) as store:
                cases = await store.backtest_cases(filters)
            return await self.bulk.call(
                lambda: suggest(
                    cases,
                    classifier=classifier,
                    target_precision=target_precision,
                    min_evidence=min_evidence,
                )
            )
