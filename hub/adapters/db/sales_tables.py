"""Cash registers and shifts (tenant schema). Sales and returns join these later."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from hub.adapters.db.tables import Shop, TenantBase
from hub.adapters.db.types import Money, utcnow
from hub.domain.ids import new_id


class CashRegister(TenantBase):
    __tablename__ = "cash_registers"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id, ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Receipt numbers run per register without gaps; the next one is kept here and taken
    # under this row's lock by the sale that uses it.
    next_receipt_number: Mapped[int] = mapped_column(Integer, default=1)
    shifts_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Shift(TenantBase):
    """A cashier's session on a register, with running totals for its reports."""

    __tablename__ = "shifts"
    __table_args__ = (
        # One open shift per register, enforced by the database as well.
        Index(
            "uq_shifts_open_register",
            "register_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index(None, "shop_id", "opened_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    register_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(CashRegister.id, ondelete="RESTRICT"))
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id, ondelete="RESTRICT"))
    number: Mapped[int] = mapped_column(Integer)  # per register: 1, 2, 3…
    cashier_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(10), default="open")
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    opening_cash: Mapped[Decimal] = mapped_column(Money())
    closing_cash: Mapped[Decimal | None] = mapped_column(Money(), default=None)
    expected_cash: Mapped[Decimal | None] = mapped_column(Money(), default=None)
    cash_in: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    cash_out: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    receipts: Mapped[int] = mapped_column(Integer, default=0)
    returns: Mapped[int] = mapped_column(Integer, default=0)
    sales_total: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    returns_total: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    discounts_total: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    first_receipt: Mapped[int | None] = mapped_column(Integer, default=None)
    last_receipt: Mapped[int | None] = mapped_column(Integer, default=None)


class ShiftMethodTotal(TenantBase):
    """Per payment method: what a shift took in and paid back."""

    __tablename__ = "shift_method_totals"

    shift_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Shift.id, ondelete="CASCADE"), primary_key=True
    )
    method: Mapped[str] = mapped_column(String(16), primary_key=True)
    sales: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    refunds: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    count: Mapped[int] = mapped_column(Integer, default=0)


class CashMovement(TenantBase):
    """Cash brought into or taken out of a drawer during a shift, with the reason."""

    __tablename__ = "cash_movements"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    shift_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Shift.id, ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    amount: Mapped[Decimal] = mapped_column(Money())
    reason: Mapped[str] = mapped_column(String(500))
    user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
