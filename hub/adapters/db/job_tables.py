"""Jobs for a shop's edge agent (tenant schema): print a receipt, open the drawer…

A job is written in the transaction of the sale (or return) that causes it and stays
until an agent reports it done or failed, so an agent that was offline finds it later."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.adapters.db.tables import Shop, TenantBase
from hub.adapters.db.types import JsonDocument, utcnow
from hub.domain.ids import new_id


class DeviceJob(TenantBase):
    __tablename__ = "device_jobs"
    __table_args__ = (
        # One job of a kind per document: a replayed sale never prints twice.
        UniqueConstraint("kind", "ref_id"),
        Index(None, "shop_id", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id, ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(32))
    ref_id: Mapped[uuid.UUID]
    payload: Mapped[Any] = mapped_column(JsonDocument)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    device_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    result: Mapped[Any | None] = mapped_column(JsonDocument, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
