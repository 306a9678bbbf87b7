"""Jobs for a shop's edge agent (tenant schema): print a receipt, open the drawer…

A job is written in the transaction of the sale (or return) that causes it and stays
until an agent reports it done or failed, so an agent that was offline finds it later."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, text
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
        # The expiry sweep's pending jobs of every shop, few among many done.
        Index(
            "ix_device_jobs_pending",
            "created_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
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
    # When its agent said it is starting the job (before fiscalising): a started job is
    # never given to another agent, since the register may hold its receipt.
    started_at: Mapped[datetime | None] = mapped_column(default=None)


class AgentLink(TenantBase):
    """Where an edge agent's event stream stands: the hub has applied every event of
    `epoch` up to `acked_seq`, in order; and what the agent last said of its devices."""

    __tablename__ = "agent_links"

    device_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id, ondelete="RESTRICT"))
    epoch: Mapped[str] = mapped_column(String(64))
    acked_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[str] = mapped_column(String(32), default="")
    devices: Mapped[Any] = mapped_column(JsonDocument, default=list)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentEvent(TenantBase):
    """Each event an agent sent, applied once: the id refuses a second delivery, and the
    row is the record of what the shop's devices reported."""

    __tablename__ = "agent_events"
    __table_args__ = (Index(None, "device_id", "received_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[uuid.UUID]
    epoch: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[Any] = mapped_column(JsonDocument)
    outcome: Mapped[str] = mapped_column(String(200), default="applied")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
