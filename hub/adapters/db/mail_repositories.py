"""Queries on the mail outbox (a tenant table)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.adapters.db.mail_tables import OutgoingMail


class Mailbox:
    def __init__(self, session: AsyncSession, *, skip_locked: bool) -> None:
        self._session = session
        self._skip_locked = skip_locked

    def add(self, mail: OutgoingMail) -> None:
        self._session.add(mail)

    async def get(self, mail_id: uuid.UUID) -> OutgoingMail | None:
        return await self._session.get(OutgoingMail, mail_id)

    async def due(self, now: datetime, limit: int) -> list[OutgoingMail]:
        """Pending mail whose time has come, oldest first, locked until the transaction
        ends; on PostgreSQL mail another process is sending is skipped, not waited for."""
        query = (
            select(OutgoingMail)
            .where(OutgoingMail.status == "pending", OutgoingMail.next_attempt_at <= now)
            .order_by(OutgoingMail.next_attempt_at, OutgoingMail.id)
            .limit(limit)
            .with_for_update(skip_locked=self._skip_locked)
        )
        return list(await self._session.scalars(query))

    async def about(self, ref: uuid.UUID) -> list[OutgoingMail]:
        query = (
            select(OutgoingMail).where(OutgoingMail.ref == ref).order_by(OutgoingMail.created_at)
        )
        return list(await self._session.scalars(query))
