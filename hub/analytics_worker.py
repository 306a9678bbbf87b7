"""The analytics worker: closes each shop's ended days, takes the day's stock snapshot
and refreshes the RFM scores once a day, for every tenant.

Every hub process runs the loop, but for each tenant one process at a time does the
work: the pass runs in one transaction that first takes the tenant's advisory lock
(PostgreSQL; not waited for, a process that does not get it skips the tenant) or the
database's write lock (SQLite). What it stores has the day in its key, so a pass
repeated by another process later finds the work done."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

from hub.adapters.db.database import Database
from hub.adapters.db.migrate import tenant_ids
from hub.adapters.db.repositories import PageRequest
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.services import analytics

log = logging.getLogger("hub.analytics")
_SHOPS_PER_PASS = 10_000


class AnalyticsWorker:
    def __init__(self, db: Database, *, every_seconds: float) -> None:
        self._db = db
        self._every_seconds = every_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="analytics-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def run_once(self, now: datetime | None = None) -> dict[str, int]:
        """One pass over every tenant; what it did, summed."""
        done = dict.fromkeys(("days_closed", "snapshots", "rfm_scored", "tenants_skipped"), 0)
        for tenant_id in await tenant_ids(self._db):
            try:
                for key, count in (await self.run_tenant(tenant_id, now)).items():
                    done[key] += count
            except Exception as exc:
                log.warning("analytics for tenant %s failed: %s", tenant_id, exc)
        if done["days_closed"] or done["snapshots"]:
            log.info("analytics: %s", done)
        return done

    async def run_tenant(self, tenant_id: uuid.UUID, now: datetime | None = None) -> dict[str, int]:
        """One tenant's pass, in one transaction, unless another process holds it."""
        now = now or utcnow()
        done = dict.fromkeys(("days_closed", "snapshots", "rfm_scored", "tenants_skipped"), 0)
        async with UnitOfWork(self._db, tenant_id, write=True) as uow:
            if not await uow.analytics.try_lock(f"analytics:{tenant_id}"):
                done["tenants_skipped"] = 1
                return done
            shops, _ = await uow.shops.find(
                PageRequest(0, _SHOPS_PER_PASS), only=None, is_active=True
            )
            for shop in shops:
                done["days_closed"] += await analytics.close_days(uow, shop, now)
                done["snapshots"] += await analytics.take_snapshot(uow, shop, now)
            if await analytics.rfm_is_stale(uow, now):
                done["rfm_scored"] += await analytics.refresh_rfm(uow, now)
            await uow.commit()
        return done

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every_seconds)
            await self.run_once()
