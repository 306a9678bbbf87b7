"""The sweep that expires abandoned carts, in every hub process.

Each pass takes, per tenant, the open carts idle past the tenant's `cart_idle_minutes`
(or left on a closed shift) with `FOR UPDATE SKIP LOCKED`: processes sweeping at once
take different carts, and a cart a till is changing right now is not idle."""

from __future__ import annotations

import asyncio
import logging

from hub.adapters.db.database import Database
from hub.adapters.db.migrate import tenant_ids
from hub.adapters.db.uow import UnitOfWork
from hub.services import carts

log = logging.getLogger("hub.carts")


class CartExpiry:
    def __init__(self, db: Database, *, sweep_seconds: float) -> None:
        self._db = db
        self._sweep_seconds = sweep_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cart-expiry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def sweep(self) -> int:
        expired = 0
        for tenant_id in await tenant_ids(self._db):
            try:
                while True:
                    async with UnitOfWork(self._db, tenant_id, write=True) as uow:
                        done = await carts.expire_abandoned(uow)
                    expired += done
                    if done < carts.EXPIRY_BATCH:
                        break
            except Exception as exc:
                log.warning("cart expiry for tenant %s failed: %s", tenant_id, exc)
        if expired:
            log.info("expired %d abandoned carts", expired)
        return expired

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            await self.sweep()
