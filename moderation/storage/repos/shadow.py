"""Shadow runs and the decisions they record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from moderation.domain.models import Action, Reason
from moderation.domain.records import ShadowRun
from moderation.storage.core import UnitOfWork
from moderation.storage.mappers import row_to_shadow_run
from moderation.storage.statements import ACTIVE_SHADOW_RUN
from moderation.storage.tables import ShadowDecisionRow, ShadowRunRow


class ShadowRepo(UnitOfWork):
    async def active_shadow_run(self) -> ShadowRun | None:
        async def load() -> ShadowRun | None:
            row = (await self._run(ACTIVE_SHADOW_RUN, {})).first()
            return None if row is None else row_to_shadow_run(row)

        return await self._memoized("shadow_run", load)

    async def start_shadow_run(
        self, document: Mapping[str, Any], note: str | None, by: str, at: datetime
    ) -> ShadowRun:
        await self.stop_shadow_runs(at)
        row = ShadowRunRow(document=dict(document), note=note, started_by=by, started_at=at)
        self._session.add(row)
        await self._session.flush()
        self._memo.clear()
        return row_to_shadow_run(row)

    async def stop_shadow_runs(self, at: datetime) -> int:
        self._memo.clear()
        result = await self._session.execute(
            update(ShadowRunRow).where(ShadowRunRow.stopped_at.is_(None)).values(stopped_at=at)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def latest_shadow_run(self) -> ShadowRun | None:
        row = await self._session.scalar(
            select(ShadowRunRow).order_by(ShadowRunRow.id.desc()).limit(1)
        )
        return None if row is None else row_to_shadow_run(row)

    async def add_shadow_decision(
        self,
        run_id: int,
        comment_id: str,
        live: Action,
        shadow: Action,
        reasons: Sequence[Reason],
        classifier: str,
        at: datetime,
    ) -> None:
        self._session.add(
            ShadowDecisionRow(
                classifier=classifier,
                run_id=run_id,
                comment_id=comment_id,
                live_action=live.value,
                shadow_action=shadow.value,
                reasons=[r.as_dict() for r in reasons],
                at=at,
            )
        )

    async def shadow_counts(self, run_id: int) -> dict[tuple[str, str], int]:
        rows = await self._session.execute(
            select(ShadowDecisionRow.live_action, ShadowDecisionRow.shadow_action, func.count())
            .where(ShadowDecisionRow.run_id == run_id)
            .group_by(ShadowDecisionRow.live_action, ShadowDecisionRow.shadow_action)
        )
        return {(live, shadow): int(count) for live, shadow, count in rows}

    async def shadow_disagreements(self, run_id: int, limit: int) -> list[dict[str, Any]]:
        rows = await self._session.scalars(
            select(ShadowDecisionRow)
            .where(
                ShadowDecisionRow.run_id == run_id,
                ShadowDecisionRow.live_action != ShadowDecisionRow.shadow_action,
            )
            .order_by(ShadowDecisionRow.id.desc())
            .limit(limit)
        )
        return [
            {
                "comment_id": r.comment_id,
                "live": r.live_action,
                "shadow": r.shadow_action,
                "shadow_reasons": list(r.reasons or ()),
                "shadow_classifier": r.classifier,
                "at": r.at,
            }
            for r in rows
        ]
