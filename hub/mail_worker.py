"""The loop that sends queued e-mail, in every hub process that has `POS_SMTP_URL`.

Each mail is claimed for a lease before it is sent (a locked claim that other processes
skip on PostgreSQL), so several processes share the work without sending a mail twice,
and no transaction stays open while a mail server answers."""

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
        """Send one tenant's due mail, a batch per claim: (sent, failed attempts)."""
        sent = failed = 0

        def open_uow() -> UnitOfWork:
            return UnitOfWork(self._db, tenant_id, write=True)

        while True:
            done, refused, more = await mail.send_due(open_uow, self._mailer, now or utcnow())
            sent, failed = sent + done, failed + refused
            if not more:
                return sent, failed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every_seconds)
            await self.send_due()
