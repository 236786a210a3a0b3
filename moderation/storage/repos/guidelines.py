"""Guideline versions, their lock, and the comments a backtest replays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Text, bindparam, func, select, text

from moderation.domain.models import Action, ArticleMode, AuthorStatus
from moderation.domain.records import Case, CaseFilter, Page
from moderation.storage.core import UnitOfWork
from moderation.storage.statements import GUIDELINES_LOCK, LATEST_GUIDELINES, as_utc, json_list
from moderation.storage.tables import ArticleRow, AuthorRow, GuidelinesVersionRow, UTCDateTime


class GuidelinesRepo(UnitOfWork):
    async def latest_guidelines_version(self) -> int:
        async def load() -> int:
            value = (await self._run(LATEST_GUIDELINES, {})).scalar()
            return int(value or 0)

        return await self._memoized("guidelines_version", load)

    async def guidelines(self, version: int) -> tuple[dict[str, Any], str, datetime] | None:
        row = await self._session.get(GuidelinesVersionRow, version)
        return None if row is None else (dict(row.document), row.created_by, row.created_at)

    async def add_guidelines(
        self, version: int, document: Mapping[str, Any], by: str, at: datetime, note: str | None
    ) -> None:
        self._session.add(
            GuidelinesVersionRow(
                version=version, document=dict(document), created_by=by, created_at=at, note=note
            )
        )
        await self._session.flush()
        self._memo.clear()

    async def versions_mentioning(self, text: str) -> list[tuple[int, dict[str, Any]]]:
        """Every stored version whose document contains ``text`` (as JSON), locked."""
        needle = orjson.dumps(text).decode()[1:-1]  # as it appears inside a JSON string
        query = select(GuidelinesVersionRow).where(
            GuidelinesVersionRow.document.cast(Text).contains(needle, autoescape=True)
        )
        rows = await self._session.scalars(query)
        return [(row.version, dict(row.document)) for row in rows]

    async def rewrite_guidelines(self, version: int, document: Mapping[str, Any]) -> None:
        """Replace a stored version's document (only to erase a deleted comment's text)."""
        row = await self._session.get(GuidelinesVersionRow, version)
        if row is not None:
            row.document = dict(document)
            await self._session.flush()
        self._memo.clear()

    async def guidelines_page(
        self, limit: int, after: Sequence[str] | None = None
    ) -> Page[tuple[int, Mapping[str, Any], str, datetime, str | None]]:
        """Versions, oldest first: (version, document, created_by, created_at, note)."""
        order = ((GuidelinesVersionRow.version, False),)
        rows, more = await self._page(select(GuidelinesVersionRow), order, after, limit)
        return Page(
            [(r.version, dict(r.document), r.created_by, r.created_at, r.note) for r in rows],
            more,
        )

    async def guidelines_history(self) -> list[tuple[int, str, datetime, str | None]]:
        rows = await self._session.execute(
            select(
                GuidelinesVersionRow.version,
                GuidelinesVersionRow.created_by,
                GuidelinesVersionRow.created_at,
                GuidelinesVersionRow.note,
            ).order_by(GuidelinesVersionRow.version)
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def lock_guidelines(self) -> None:
        """Serialise guideline writers (SQLite's write transaction already does)."""
        if self._dialect == "postgresql":
            await self._session.execute(select(func.pg_advisory_xact_lock(GUIDELINES_LOCK)))

    async def backtest_cases(self, filters: CaseFilter) -> list[Case]:
        """Every automatically decided comment, as the backtest needs it.

        The hot path of ``POST /v1/guidelines/backtest``: one scan of ``comments``
        read as raw driver values (no ORM or type processing, JSON decoded with
        orjson), with articles and non-active authors looked up from small dicts.
        """
        connection = await self._session.connection()
        articles = {
            row[0]: (ArticleMode(row[1]), json_list(row[2]))
            for row in await connection.execute(
                select(ArticleRow.id, ArticleRow.mode, ArticleRow.tags.cast(Text))
            )
        }
        authors = {
            row[0]: AuthorStatus(row[1])
            for row in await connection.execute(
                select(AuthorRow.id, AuthorRow.status).where(
                    AuthorRow.status != AuthorStatus.active.value
                )
            )
        }
        clauses = ["auto_action IS NOT NULL"]
        params: dict[str, Any] = {}
        if filters.since is not None:
            clauses.append("created_at >= :since")
            params["since"] = filters.since
        if filters.until is not None:
            clauses.append("created_at < :until")
            params["until"] = filters.until
        if filters.article_id is not None:
            clauses.append("article_id = :article_id")
            params["article_id"] = filters.article_id
        statement = text(
            "SELECT id, text, CAST(scores AS TEXT), classifier, CAST(article_tags AS TEXT), "
            "auto_action, moderator_action, created_at, article_id, author_id, embedding "
            f"FROM comments WHERE {' AND '.join(clauses)}"
        ).bindparams(
            *(bindparam(name, type_=UTCDateTime()) for name in ("since", "until") if name in params)
        )
        wanted = frozenset(t.casefold() for t in filters.tags)
        no_article = (ArticleMode.auto, ())
        actions = {action.value: action for action in Action}
        cases: list[Case] = []
        rows = (await connection.execute(statement, params)).all()
        for (
            cid,
            body,
            scores,
            classifier,
            tags,
            auto,
            human,
            created,
            article_id,
            author,
            embedding,
        ) in rows:
            mode, article_tags = articles.get(article_id, no_article)
            own = json_list(tags)
            all_tags = (
                frozenset(t.casefold() for t in (*own, *article_tags))
                if (own or article_tags)
                else frozenset()
            )
            if wanted and not wanted & all_tags:
                continue
            cases.append(
                Case(
                    comment_id=cid,
                    text=body,
                    scores=orjson.loads(scores) if scores and scores != "null" else None,
                    classifier=classifier or "",
                    article_tags=all_tags,
                    article_mode=mode,
                    author_status=authors.get(author, AuthorStatus.active),
                    decided=actions[auto],
                    moderator=actions[human] if human else None,
                    created_at=as_utc(created),
                    embedding=embedding,
                )
            )
        return cases
