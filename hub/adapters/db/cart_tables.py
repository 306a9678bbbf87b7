"""Live carts (tenant schema): the till's receipt while it is being built."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from hub.adapters.db.customer_tables import PERCENT, Customer
from hub.adapters.db.sales_tables import CashRegister, Shift
from hub.adapters.db.tables import Shop, TenantBase
from hub.adapters.db.types import JsonDocument, Money, utcnow
from hub.domain.ids import new_id


class Cart(TenantBase):
    """One cart, read and written whole under its row lock; `version` counts changes.

    The lines are a JSON document (product, quantity, discount as decimal strings): a cart
    is always loaded and saved as one piece, and a cart has a few dozen lines at most."""

    __tablename__ = "carts"
    __table_args__ = (
        # One open cart per shift: a till that reloads finds the one it was building.
        Index(
            "uq_carts_open_shift",
            "shift_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index(None, "status", "updated_at"),
        Index(None, "shop_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id, ondelete="RESTRICT"))
    register_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(CashRegister.id, ondelete="RESTRICT"))
    shift_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shift.id, ondelete="RESTRICT"))
    cashier_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(10), default="open")
    version: Mapped[int] = mapped_column(Integer, default=1)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(Customer.id, ondelete="RESTRICT"), default=None
    )
    discount_percent: Mapped[Decimal | None] = mapped_column(PERCENT, default=None)
    discount_amount: Mapped[Decimal | None] = mapped_column(Money(), default=None)
    bonus: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    lines: Mapped[Any] = mapped_column(JsonDocument, default=list)
    sale_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
