"""Cash registers, shifts and sales (tenant schema)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from hub.adapters.db.tables import Shop, TenantBase
from hub.adapters.db.types import JsonDocument, Money, Quantity, utcnow
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
    # Return receipts have their own sequence, kept and taken the same way.
    next_return_number: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
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


class Sale(TenantBase):
    """A committed receipt. Its number runs per register without gaps; the idempotency
    key makes a retried commit find this row instead of making a second sale."""

    __tablename__ = "sales"
    __table_args__ = (
        UniqueConstraint("register_id", "number"),
        Index(None, "shop_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    # A digest of the request: a retry with another body under the same key is refused.
    request_digest: Mapped[str] = mapped_column(String(64))
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id, ondelete="RESTRICT"))
    register_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(CashRegister.id, ondelete="RESTRICT"))
    shift_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Shift.id, ondelete="RESTRICT"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    cashier_id: Mapped[uuid.UUID]
    customer_id: Mapped[uuid.UUID | None] = mapped_column(index=True, default=None)
    subtotal: Mapped[Decimal] = mapped_column(Money())
    discount_total: Mapped[Decimal] = mapped_column(Money())
    receipt_discount: Mapped[Decimal] = mapped_column(Money())
    receipt_discount_percent: Mapped[Decimal | None] = mapped_column(Money(), default=None)
    total: Mapped[Decimal] = mapped_column(Money())
    tendered_cash: Mapped[Decimal] = mapped_column(Money())
    change: Mapped[Decimal] = mapped_column(Money())
    bonus_accrued: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the shop's edge agent reported: "pending" until its receipt job ends, then
    # "done" or "failed"; `fiscal` holds the register's document number, fiscal sign,
    # FN number and shift, or the error.
    receipt_status: Mapped[str] = mapped_column(String(10), default="pending")
    fiscal: Mapped[Any | None] = mapped_column(JsonDocument, default=None)


class SaleLine(TenantBase):
    __tablename__ = "sale_lines"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    sale_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Sale.id, ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(300))
    unit: Mapped[str] = mapped_column(String(16))
    vat_rate: Mapped[Decimal | None] = mapped_column(Money(), default=None)
    price: Mapped[Decimal] = mapped_column(Money())
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    amount: Mapped[Decimal] = mapped_column(Money())
    line_discount: Mapped[Decimal] = mapped_column(Money())
    receipt_discount: Mapped[Decimal] = mapped_column(Money())
    total: Mapped[Decimal] = mapped_column(Money())
    cost: Mapped[Decimal] = mapped_column(Money())


class SalePayment(TenantBase):
    __tablename__ = "sale_payments"

    sale_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Sale.id, ondelete="CASCADE"), primary_key=True
    )
    method: Mapped[str] = mapped_column(String(16), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Money())


class SaleReturn(TenantBase):
    """Goods given back against a sale, and the money refunded to its tenders."""

    __tablename__ = "sale_returns"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    sale_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Sale.id, ondelete="RESTRICT"), index=True)
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id, ondelete="RESTRICT"))
    # Where the money went out: the shift open at the till that made the refund.
    shift_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Shift.id, ondelete="RESTRICT"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    # The manager whose PIN approved a cashier's return; None when the user could alone.
    approved_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    refund_total: Mapped[Decimal] = mapped_column(Money())
    # The return receipt's own number, sequential per cash register (the paying shift's).
    number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The return receipt's job, as on a sale: "pending", then "done" or "failed", with
    # what the fiscal register registered; None for returns made before return receipts.
    receipt_status: Mapped[str | None] = mapped_column(String(10), default=None)
    fiscal: Mapped[Any | None] = mapped_column(JsonDocument, default=None)


class ReturnLine(TenantBase):
    __tablename__ = "return_lines"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    return_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(SaleReturn.id, ondelete="CASCADE"), index=True
    )
    sale_line_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(SaleLine.id, ondelete="RESTRICT"), index=True
    )
    product_id: Mapped[uuid.UUID]
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    refund: Mapped[Decimal] = mapped_column(Money())


class ReturnPayment(TenantBase):
    __tablename__ = "return_payments"

    return_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(SaleReturn.id, ondelete="CASCADE"), primary_key=True
    )
    method: Mapped[str] = mapped_column(String(16), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Money())
