"""E-mail waiting to be sent: written in the transaction of the change it tells about, so
a mail exists if and only if the change committed; sent afterwards by the mail worker."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.adapters.db.tables import TenantBase
from hub.adapters.db.types import utcnow
from hub.domain.ids import new_id


class OutgoingMail(TenantBase):
    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    to_address: Mapped[str] = mapped_column(String(254))
    to_user: Mapped[uuid.UUID | None] = mapped_column(default=None)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # What it is about (a task's id), for finding a user's mails.
    ref: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
