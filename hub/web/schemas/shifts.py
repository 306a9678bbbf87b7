"""Cash registers and shifts (Appendix A: register, open shift, close shift)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from hub.adapters.db.sales_tables import CashMovement, CashRegister
from hub.domain.shifts import CashMovementKind, MethodTotals, PaymentMethod, ShiftStatus
from hub.services.shifts import ShiftView
from hub.web.export import ExportQuery
from hub.web.schemas.common import In, Instant, PageQuery

Money = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2)]


class RegisterOut(BaseModel):
    id: uuid.UUID
    shop: uuid.UUID
    name: str
    is_active: bool
    next_receipt_number: int
    created_at: datetime

    @classmethod
    def of(cls, register: CashRegister) -> RegisterOut:
        return cls(
            id=register.id,
            shop=register.shop_id,
            name=register.name,
            is_active=register.is_active,
            next_receipt_number=register.next_receipt_number,
            created_at=register.created_at,
        )


class RegisterCreateIn(In):
    name: str = Field(min_length=1, max_length=100)
    shop: uuid.UUID


class RegisterUpdateIn(In):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    is_active: bool | None = None


class RegisterQuery(PageQuery):
    shop: uuid.UUID | None = None
    is_active: bool | None = None


class MethodTotalsOut(BaseModel):
    sales: Decimal
    refunds: Decimal
    net: Decimal
    count: int


class ShiftOut(BaseModel):
    """A shift with its report: an X-report while open, the Z-report once closed."""

    id: uuid.UUID
    cash_register: uuid.UUID
    shop: uuid.UUID
    number: int
    cashier: uuid.UUID
    status: ShiftStatus
    report: str = Field(description="`x` while the shift is open, `z` once closed")
    opened_at: datetime
    closed_at: datetime | None
    opening_cash: Decimal
    cash_in: Decimal
    cash_out: Decimal
    expected_cash: Decimal
    closing_cash: Decimal | None
    difference: Decimal | None = Field(description="counted less expected: + over, - short")
    receipts: int
    returns: int
    sales_total: Decimal
    returns_total: Decimal
    discounts_total: Decimal
    net_total: Decimal
    first_receipt: int | None
    last_receipt: int | None
    payments: dict[PaymentMethod, MethodTotalsOut]

    @classmethod
    def of(cls, found: ShiftView) -> ShiftOut:
        shift, report = found.shift, found.report
        totals = report.totals
        payments = {}
        for method in PaymentMethod:
            line = totals.by_method.get(method, MethodTotals())
            payments[method] = MethodTotalsOut(
                sales=line.sales, refunds=line.refunds, net=line.net, count=line.count
            )
        return cls(
            id=shift.id,
            cash_register=shift.register_id,
            shop=shift.shop_id,
            number=shift.number,
            cashier=shift.cashier_id,
            status=ShiftStatus(shift.status),
            report=report.kind,
            opened_at=shift.opened_at,
            closed_at=shift.closed_at,
            opening_cash=shift.opening_cash,
            cash_in=totals.cash_in,
            cash_out=totals.cash_out,
            expected_cash=report.expected_cash,
            closing_cash=report.closing_cash,
            difference=report.difference,
            receipts=totals.receipts,
            returns=totals.returns,
            sales_total=totals.sales_total,
            returns_total=totals.returns_total,
            discounts_total=totals.discounts_total,
            net_total=report.net_total,
            first_receipt=totals.first_receipt,
            last_receipt=totals.last_receipt,
            payments=payments,
        )


class ShiftOpenIn(In):
    cash_register: uuid.UUID
    opening_cash: Money = Decimal("0.00")


class CashMovementIn(In):
    kind: CashMovementKind
    amount: Money
    reason: str = Field(min_length=1, max_length=500)


class CashMovementOut(BaseModel):
    id: uuid.UUID
    kind: CashMovementKind
    amount: Decimal
    reason: str = Field(description="as given; a desk operation's: its kind and the customer")
    user: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, m: CashMovement) -> CashMovementOut:
        return cls(
            id=m.id,
            kind=CashMovementKind(m.kind),
            amount=m.amount,
            reason=m.reason,
            user=m.user_id,
            created_at=m.created_at,
        )


class CashMovementsOut(BaseModel):
    results: list[CashMovementOut]


class ShiftCloseIn(In):
    closing_cash: Money


class ShiftQuery(PageQuery, ExportQuery):
    shop: uuid.UUID | None = None
    cash_register: uuid.UUID | None = None
    cashier: uuid.UUID | None = None
    status: ShiftStatus | None = None
    date_from: Instant | None = Field(default=None, description="opened from, inclusive")
    date_to: Instant | None = Field(default=None, description="opened before, exclusive")
