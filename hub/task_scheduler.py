"""The loop that makes tasks from templates on their schedule, in every hub process.

Each pass goes through every tenant's active templates; a template's row is locked while
it fires (skipped, not waited for, when another process holds it on PostgreSQL) and its
`last_fired_for` records the instant, so each scheduled instant makes one task however
many processes run this loop."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

from hub.adapters.db.database import Database
from hub.adapters.db.migrate import tenant_ids
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.services import tasks

log = logging.getLogger("hub.tasks")


class TaskScheduler:
    def __init__(self, db: Database, *, every_seconds: float) -> None:
        self._db = db
        self._every_seconds = every_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="task-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def fire_due(self) -> int:
        made = 0
        now = utcnow()
        for tenant_id in await tenant_ids(self._db):
            try:
                made += await self.fire_tenant(tenant_id, now)
            except Exception as exc:
                log.warning("task templates of tenant %s failed: %s", tenant_id, exc)
        if made:
            log.info("made %d tasks from templates", made)
        return made

    async def fire_tenant(self, tenant_id: uuid.UUID, now: datetime | None = None) -> int:
        """Make one tenant's due tasks, a batch of templates per transaction."""
        made = 0
        after = None
        while True:
            async with UnitOfWork(self._db, tenant_id, write=True) as uow:
                done, after = await tasks.fire_due_templates(uow, now or utcnow(), after)
            made += done
            if after is None:
                return made

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every_seconds)
            await self.fire_due()
