"""Sales (Appendix A: sale)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr

from hub.domain.catalogue import QUANTITY_STEP
from hub.domain.shifts import PaymentMethod
from hub.services.returns import ReturnView
from hub.services.sales import SaleView
from hub.web.export import ExportQuery
from hub.web.schemas.common import In, Instant, PageQuery

Money = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2)]
Percent = Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)]


class SaleItemIn(In):
    product: uuid.UUID
    quantity: Decimal = Field(gt=0, le=Decimal("99999999.999"), decimal_places=3)
    discount_percent: Percent | None = None
    discount_amount: Money | None = None


class PaymentIn(In):
    method: PaymentMethod
    amount: Money


class SaleCreateIn(In):
    session: uuid.UUID = Field(description="the open shift (Appendix A calls it session)")
    items: list[SaleItemIn] = Field(min_length=1, max_length=500)
    payments: list[PaymentIn] = Field(
        max_length=10, description="empty only when the total is 0.00 (a 100 % discount)"
    )
    customer: uuid.UUID | None = None
    discount_percent: Percent | None = None
    discount_amount: Money | None = None


class SaleLineOut(BaseModel):
    product: uuid.UUID
    name: str
    unit: str
    quantity: Decimal
    price: Decimal
    amount: Decimal
    discount: Decimal
    total: Decimal
    vat_rate: Decimal | None


class SalePaymentOut(BaseModel):
    method: PaymentMethod
    amount: Decimal


class SaleOut(BaseModel):
    id: uuid.UUID
    number: int = Field(description="receipt number, sequential per register")
    session: uuid.UUID
    cash_register: uuid.UUID
    shop: uuid.UUID
    cashier: uuid.UUID
    customer: uuid.UUID | None
    subtotal: Decimal
    discount_total: Decimal
    total: Decimal
    tendered_cash: Decimal
    change: Decimal
    bonus_accrued: Decimal
    created_at: datetime
    receipt_status: str = Field(
        description="pending until the shop's agent printed/fiscalised it: done or failed"
    )
    fiscal: dict[str, Any] | None = Field(
        description="the fiscal register's document number, fiscal sign, FN, or the error"
    )
    items: list[SaleLineOut]
    payments: list[SalePaymentOut]

    @classmethod
    def of(cls, found: SaleView) -> SaleOut:
        sale = found.sale
        return cls(
            id=sale.id,
            number=sale.number,
            session=sale.shift_id,
            cash_register=sale.register_id,
            shop=sale.shop_id,
            cashier=sale.cashier_id,
            customer=sale.customer_id,
            subtotal=sale.subtotal,
            discount_total=sale.discount_total,
            total=sale.total,
            tendered_cash=sale.tendered_cash,
            change=sale.change,
            bonus_accrued=sale.bonus_accrued,
            created_at=sale.created_at,
            receipt_status=sale.receipt_status,
            fiscal=sale.fiscal,
            items=[
                SaleLineOut(
                    product=line.product_id,
                    name=line.name,
                    unit=line.unit,
                    quantity=line.quantity.quantize(QUANTITY_STEP),
                    price=line.price,
                    amount=line.amount,
                    discount=line.line_discount + line.receipt_discount,
                    total=line.total,
                    vat_rate=line.vat_rate,
                )
                for line in found.lines
            ],
            payments=[
                SalePaymentOut(method=PaymentMethod(p.method), amount=p.amount)
                for p in found.payments
            ],
        )


class SaleQuery(PageQuery, ExportQuery):
    shop: uuid.UUID | None = None
    cash_register: uuid.UUID | None = None
    session: uuid.UUID | None = None
    cashier: uuid.UUID | None = None
    customer: uuid.UUID | None = None
    payment_method: PaymentMethod | None = Field(
        default=None, description="sales with a payment by this method"
    )
    number: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,  # the column's range
        description="the receipt number (per register: add cash_register)",
    )
    date_from: Instant | None = Field(default=None, description="from this time, inclusive")
    date_to: Instant | None = Field(default=None, description="until this time, exclusive")


class ReturnItemIn(In):
    product: uuid.UUID
    quantity: Decimal = Field(gt=0, le=Decimal("99999999.999"), decimal_places=3)


class ReturnCreateIn(In):
    sale: uuid.UUID
    items: list[ReturnItemIn] = Field(min_length=1, max_length=500)
    session: uuid.UUID | None = Field(
        default=None, description="the open shift that pays out; the sale's own if absent"
    )
    manager_pin: SecretStr | None = Field(
        default=None,
        max_length=100,
        description="a manager's PIN typed at the till: how a cashier returns",
    )
    manager: uuid.UUID | None = Field(
        default=None,
        description="whose PIN it is; if absent, the shop's managers and owners are tried",
    )


class ReturnLineOut(BaseModel):
    product: uuid.UUID
    quantity: Decimal
    refund: Decimal


class ReturnOut(BaseModel):
    id: uuid.UUID
    sale: uuid.UUID
    session: uuid.UUID
    user: uuid.UUID | None = Field(description="who made the return")
    approved_by: uuid.UUID | None = Field(
        description="the manager whose PIN approved it; null when the user needed none"
    )
    refund_total: Decimal
    number: int = Field(description="the return receipt's own number, sequential per cash register")
    created_at: datetime
    items: list[ReturnLineOut]
    refunds: list[SalePaymentOut]
    receipt_status: str | None = Field(
        description="the return receipt: pending until the shop's agent printed and"
        " fiscalised it, then done or failed (null: a return made before return receipts)"
    )
    fiscal: dict[str, Any] | None = Field(
        description="the fiscal register's document number, fiscal sign, FN, or the error"
    )

    @classmethod
    def of(cls, found: ReturnView) -> ReturnOut:
        made = found.sale_return
        return cls(
            id=made.id,
            sale=made.sale_id,
            session=made.shift_id,
            user=made.user_id,
            approved_by=made.approved_by,
            refund_total=made.refund_total,
            number=made.number,
            created_at=made.created_at,
            receipt_status=made.receipt_status,
            fiscal=made.fiscal,
            items=[
                ReturnLineOut(
                    product=line.product_id,
                    quantity=line.quantity.quantize(QUANTITY_STEP),
                    refund=line.refund,
                )
                for line in found.lines
            ],
            refunds=[
                SalePaymentOut(method=PaymentMethod(p.method), amount=p.amount)
                for p in found.payments
            ],
        )
