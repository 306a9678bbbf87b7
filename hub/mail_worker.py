"""The loop that sends queued e-mail, in every hub process that has `POS_SMTP_URL`.

Each mail is locked while it is sent (skipped by other processes on PostgreSQL), so
several processes share the work without sending a mail twice."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

from hub.adapters.db.database import Database
from hub.adapters.db.migrate import tenant_ids
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.services import mail
from hub.services.mail import Mailer

log = logging.getLogger("hub.mail")


class MailWorker:
    def __init__(self, db: Database, mailer: Mailer, *, every_seconds: float) -> None:
        self._db = db
        self._mailer = mailer
        self._every_seconds = every_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mail-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def send_due(self, now: datetime | None = None) -> tuple[int, int]:
        """One pass over every tenant: (sent, failed attempts)."""
        sent = failed = 0
        for tenant_id in await tenant_ids(self._db):
            try:
                done, refused = await self.send_tenant(tenant_id, now)
            except Exception as exc:
                log.warning("mail of tenant %s failed: %s", tenant_id, exc)
                continue
            sent, failed = sent + done, failed + refused
        if sent or failed:
            log.info("mail: %d sent, %d attempts failed", sent, failed)
        return sent, failed

    async def send_tenant(
        self, tenant_id: uuid.UUID, now: datetime | None = None
    ) -> tuple[int, int]:
        """Send one tenant's due mail, a batch per transaction: (sent, failed attempts)."""
        sent = failed = 0
        while True:
            async with UnitOfWork(self._db, tenant_id, write=True) as uow:
                done, refused = await mail.send_due(uow, self._mailer, now or utcnow())
            sent, failed = sent + done, failed + refused
            if done + refused < mail.SEND_BATCH:
                return sent, failed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every_seconds)
            await self.send_due()
