"""The outbox relay: events reach the broker only after their transaction commits, and a
crash between commit and publish loses none.

Fast path: `relay(tenant, events)` right after commit publishes and deletes them. Safety
net: `sweep()` every few seconds publishes what is older than STALE_AFTER (its process
died, or the broker was down) under `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several
hub processes never relay one row together. Publishing carries the outbox id, which the
broker de-duplicates, so a relay that published but could not delete never duplicates.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from sqlalchemy import delete, select

from hub.adapters.broker.base import Broker
from hub.adapters.db.database import Database
from hub.adapters.db.migrate import tenant_ids
from hub.adapters.db.tables import OutboxEvent
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork

log = logging.getLogger("hub.outbox")

STALE_AFTER = timedelta(seconds=3)
SWEEP_BATCH = 500


class OutboxRelay:
    def __init__(self, db: Database, broker: Broker, *, sweep_seconds: float) -> None:
        self._db = db
        self._broker = broker
        self._sweep_seconds = sweep_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._db.after_commit = self.relay
        self._task = asyncio.create_task(self._run(), name="outbox-sweep")

    async def stop(self) -> None:
        self._db.after_commit = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _publish(self, events: list[OutboxEvent]) -> list[uuid.UUID]:
        done = []
        for event in events:
            await self._broker.publish(
                event.channel, event.type, event.payload, event_id=str(event.id)
            )
            done.append(event.id)
        return done

    async def relay(self, tenant_id: uuid.UUID, events: list[OutboxEvent]) -> None:
        """After commit: publish, then delete. A failure leaves the rows for the sweep."""
        try:
            done = await self._publish(events)
            async with UnitOfWork(self._db, tenant_id, write=True) as uow:
                await uow.session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(done)))
                await uow.session.commit()
        except Exception as exc:
            log.warning("outbox relay for tenant %s deferred to the sweep: %s", tenant_id, exc)

    async def sweep_tenant(
        self, tenant_id: uuid.UUID, *, stale_after: timedelta = STALE_AFTER
    ) -> int:
        async with UnitOfWork(self._db, tenant_id, write=True) as uow:
            query = (
                select(OutboxEvent)
                .where(OutboxEvent.created_at < utcnow() - stale_after)
                .order_by(OutboxEvent.created_at, OutboxEvent.id)
                .limit(SWEEP_BATCH)
            )
            if not self._db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            events = list(await uow.session.scalars(query))
            if not events:
                return 0
            done = await self._publish(events)
            await uow.session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(done)))
            await uow.session.commit()
            return len(done)

    async def sweep(self, *, stale_after: timedelta = STALE_AFTER) -> int:
        relayed = 0
        for tenant_id in await tenant_ids(self._db):
            try:
                relayed += await self.sweep_tenant(tenant_id, stale_after=stale_after)
            except Exception as exc:
                log.warning("outbox sweep of tenant %s failed: %s", tenant_id, exc)
        if relayed:
            log.info("outbox sweep relayed %d events", relayed)
        return relayed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            await self.sweep()
