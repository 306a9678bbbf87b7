from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from hub.domain.carts import CartStatus
from hub.services.carts import CartView
from hub.web.schemas.common import In, PageQuery


class CartLineOut(BaseModel):
    product: uuid.UUID
    name: str
    sku: str | None
    unit: str
    price: Decimal
    quantity: Decimal
    discount_percent: Decimal | None
    discount_amount: Decimal | None
    amount: Decimal
    line_discount: Decimal
    receipt_discount: Decimal
    total: Decimal


class CartCustomerOut(BaseModel):
    id: uuid.UUID
    name: str
    phone: str | None
    group_discount_percent: Decimal


class CartOut(BaseModel):
    """A live cart, exactly as `cart.updated` events and `cart.*` replies carry it."""

    id: uuid.UUID
    shop: uuid.UUID
    cash_register: uuid.UUID
    session: uuid.UUID
    cashier: uuid.UUID
    status: CartStatus
    version: int
    customer: CartCustomerOut | None
    lines: list[CartLineOut]
    discount_percent: Decimal | None
    discount_amount: Decimal | None
    subtotal: Decimal
    discount_total: Decimal
    receipt_discount: Decimal
    total: Decimal
    bonus: Decimal
    to_pay: Decimal
    sale: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, view: CartView) -> CartOut:
        return cls.model_validate(view.document())


class CartOpenIn(In):
    session: uuid.UUID = Field(description="the open shift the cart belongs to")


class CartQuery(PageQuery):
    shop: uuid.UUID | None = None
    cash_register: uuid.UUID | None = None
    status: CartStatus | None = None
