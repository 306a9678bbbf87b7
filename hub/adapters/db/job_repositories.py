"""Queries over edge-agent jobs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.adapters.db.job_tables import DeviceJob
from hub.adapters.db.repositories import PageRequest, _page


class DeviceJobs:
    def __init__(self, session: AsyncSession, *, skip_locked: bool) -> None:
        self._session = session
        self._skip_locked = skip_locked

    def add(self, job: DeviceJob) -> None:
        self._session.add(job)

    async def get(self, job_id: uuid.UUID, *, for_update: bool = False) -> DeviceJob | None:
        """With for_update the row is locked until the transaction ends and re-read, so
        two reports on one job (or a report and a retry) are serialised."""
        return await self._session.get(
            DeviceJob, job_id, with_for_update=for_update, populate_existing=for_update
        )

    async def pending_of(self, agent_id: uuid.UUID) -> list[DeviceJob]:
        """The pending jobs given to one agent, oldest first, locked and re-read."""
        return list(
            await self._session.scalars(
                select(DeviceJob)
                .where(DeviceJob.device_id == agent_id, DeviceJob.status == "pending")
                .order_by(DeviceJob.created_at, DeviceJob.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )

    async def pending_asked_before(
        self, kinds: Sequence[str], before: datetime, limit: int
    ) -> list[DeviceJob]:
        """Pending jobs of `kinds` made before `before`, oldest first, locked; those
        another transaction holds (an agent reporting one) are skipped."""
        return list(
            await self._session.scalars(
                select(DeviceJob)
                .where(
                    DeviceJob.status == "pending",
                    DeviceJob.kind.in_(kinds),
                    DeviceJob.created_at < before,
                )
                .order_by(DeviceJob.created_at, DeviceJob.id)
                .limit(limit)
                .with_for_update(skip_locked=self._skip_locked)
            )
        )

    async def by_ref(self, kind: str, ref_id: uuid.UUID) -> DeviceJob | None:
        return await self._session.scalar(
            select(DeviceJob).where(DeviceJob.kind == kind, DeviceJob.ref_id == ref_id)
        )

    async def find(
        self,
        page: PageRequest,
        *,
        shops: frozenset[uuid.UUID] | None,
        agent: uuid.UUID | None = None,
        shop: uuid.UUID | None = None,
        status: str | None = None,
        kind: str | None = None,
        ref: uuid.UUID | None = None,
    ) -> tuple[list[DeviceJob], int]:
        """Oldest first: the order an agent works through its queue. With `agent`, the
        jobs given to it and those given to no agent."""
        query = select(DeviceJob).order_by(DeviceJob.created_at, DeviceJob.id)
        if shops is not None:
            query = query.where(DeviceJob.shop_id.in_(shops))
        if agent is not None:
            query = query.where(or_(DeviceJob.device_id.is_(None), DeviceJob.device_id == agent))
        for column, value in (
            (DeviceJob.shop_id, shop),
            (DeviceJob.status, status),
            (DeviceJob.kind, kind),
            (DeviceJob.ref_id, ref),
        ):
            if value is not None:
                query = query.where(column == value)
        return await _page(self._session, query, page)
