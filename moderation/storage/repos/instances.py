"""The heartbeats of the service processes sharing the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update

from moderation.storage.core import UnitOfWork
from moderation.storage.tables import InstanceRow


class InstancesRepo(UnitOfWork):
    async def heartbeat(self, instance_id: str, at: datetime) -> None:
        """Record that this process is alive (inserting it on its first beat)."""
        if not await self._insert_ignore(
            InstanceRow, {"id": instance_id, "started_at": at, "heartbeat_at": at}
        ):
            await self._session.execute(
                update(InstanceRow).where(InstanceRow.id == instance_id).values(heartbeat_at=at)
            )

    async def live_instances(self, since: datetime) -> int:
        """How many processes beat since ``since``; older rows are removed."""
        await self._session.execute(delete(InstanceRow).where(InstanceRow.heartbeat_at < since))
        value = await self._session.scalar(select(func.count()).select_from(InstanceRow))
        return int(value or 0)

    async def remove_instance(self, instance_id: str) -> None:
        await self._session.execute(delete(InstanceRow).where(InstanceRow.id == instance_id))
