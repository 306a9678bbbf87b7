"""The sweep that expires what nobody will finish, in every hub process.

Each pass takes, per tenant, with `FOR UPDATE SKIP LOCKED` (processes sweeping at once
take different rows, and a row in use right now is not abandoned):
- the open carts idle past the tenant's `cart_idle_minutes`, or left on a closed shift;
- the till's requests to its agent (open the drawer, show lines) still pending when no
  agent would do them any more (`device_jobs.expire_unclaimed`)."""

from __future__ import annotations

import asyncio
import logging

from hub.adapters.db.database import Database
from hub.adapters.db.migrate import tenant_ids
from hub.adapters.db.uow import UnitOfWork
from hub.services import carts, device_jobs

log = logging.getLogger("hub.expiry")


class Expiry:
    def __init__(self, db: Database, *, sweep_seconds: float) -> None:
        self._db = db
        self._sweep_seconds = sweep_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="expiry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def sweep(self) -> int:
        """Returns how many carts and requests expired."""
        expired = 0
        for tenant_id in await tenant_ids(self._db):
            try:
                for expire, batch in (
                    (carts.expire_abandoned, carts.EXPIRY_BATCH),
                    (device_jobs.expire_unclaimed, device_jobs.EXPIRY_BATCH),
                ):
                    while True:
                        async with UnitOfWork(self._db, tenant_id, write=True) as uow:
                            done = await expire(uow)
                        expired += done
                        if done < batch:
                            break
            except Exception as exc:
                log.warning("expiry for tenant %s failed: %s", tenant_id, exc)
        if expired:
            log.info("expired %d abandoned carts and unclaimed requests", expired)
        return expired

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            await self.sweep()
