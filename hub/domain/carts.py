"""A live cart's rules, in plain Python: its lines, how they change, and its life.

A cart has one line per product: scanning a product again adds to its line. Lines are
named by product. A line keeps the unit price of when it was first scanned: a price
changed while the customer is at the till applies to the lines scanned after it.
Quantities are exact decimals checked against the product's unit by the caller;
discounts are `pricing.Discount`s. The functions return new line tuples and never
mutate, so a refused change leaves the cart as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from hub.domain.errors import Conflict, NotFound, ValidationFailed
from hub.domain.pricing import NO_DISCOUNT, Discount
from protocol.errors import ErrorCode

MAX_LINES = 200
MAX_QUANTITY = Decimal("99999")


class CartStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class CartClosed(Conflict):
    code = ErrorCode.CART_CLOSED


class StaleVersion(Conflict):
    """The change was made against an older version; `current` is the cart as it is."""

    code = ErrorCode.STALE_VERSION

    def __init__(self, expected: int, current: dict[str, Any]) -> None:
        super().__init__(
            f"the cart is at version {current.get('version')}, not {expected}",
            fields={"version": f"current is {current.get('version')}"},
        )
        self.data = {"cart": current}


@dataclass(frozen=True)
class CartLine:
    product_id: uuid.UUID
    quantity: Decimal
    discount: Discount = NO_DISCOUNT
    # The unit price when the line was first scanned; None on lines stored before
    # carts kept prices (they take the product's price of the moment).
    price: Decimal | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "product": str(self.product_id),
            "quantity": str(self.quantity),
            "discount_percent": _text(self.discount.percent),
            "discount_amount": _text(self.discount.amount),
            "price": _text(self.price),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> CartLine:
        return cls(
            uuid.UUID(doc["product"]),
            Decimal(doc["quantity"]),
            Discount(
                percent=_decimal(doc.get("discount_percent")),
                amount=_decimal(doc.get("discount_amount")),
            ),
            _decimal(doc.get("price")),
        )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def lines_from_json(doc: Sequence[dict[str, Any]]) -> tuple[CartLine, ...]:
    return tuple(CartLine.from_json(line) for line in doc)


def lines_to_json(lines: Sequence[CartLine]) -> list[dict[str, str | None]]:
    return [line.to_json() for line in lines]


def check_open(status: str) -> None:
    if status != CartStatus.OPEN:
        raise CartClosed(f"the cart is {status}", fields={"cart": status})


def _index(lines: Sequence[CartLine], product_id: uuid.UUID) -> int:
    for index, line in enumerate(lines):
        if line.product_id == product_id:
            return index
    raise NotFound("no such line in the cart", fields={"product": "not in the cart"})


def _checked_quantity(quantity: Decimal) -> Decimal:
    if quantity <= 0:
        raise ValidationFailed("bad quantity", fields={"quantity": "more than 0"})
    if quantity > MAX_QUANTITY:
        raise ValidationFailed("bad quantity", fields={"quantity": f"at most {MAX_QUANTITY}"})
    return quantity


def quantity_of(lines: Sequence[CartLine], product_id: uuid.UUID) -> Decimal:
    return sum((line.quantity for line in lines if line.product_id == product_id), Decimal(0))


def add(
    lines: Sequence[CartLine], product_id: uuid.UUID, quantity: Decimal, price: Decimal
) -> tuple[CartLine, ...]:
    """One more of a product: onto its line (at the line's price), or a new line at the
    end at `price`, the product's price now."""
    _checked_quantity(quantity)
    for index, line in enumerate(lines):
        if line.product_id == product_id:
            grown = replace(line, quantity=_checked_quantity(line.quantity + quantity))
            return (*lines[:index], grown, *lines[index + 1 :])
    if len(lines) >= MAX_LINES:
        raise ValidationFailed("the cart is full", fields={"lines": f"at most {MAX_LINES}"})
    return (*lines, CartLine(product_id, quantity, price=price))


def set_quantity(
    lines: Sequence[CartLine], product_id: uuid.UUID, quantity: Decimal
) -> tuple[CartLine, ...]:
    """A line's new quantity; zero removes the line."""
    index = _index(lines, product_id)
    if quantity == 0:
        return (*lines[:index], *lines[index + 1 :])
    changed = replace(lines[index], quantity=_checked_quantity(quantity))
    return (*lines[:index], changed, *lines[index + 1 :])


def remove(lines: Sequence[CartLine], product_id: uuid.UUID) -> tuple[CartLine, ...]:
    return set_quantity(lines, product_id, Decimal(0))


def discount_line(
    lines: Sequence[CartLine], product_id: uuid.UUID, discount: Discount
) -> tuple[CartLine, ...]:
    index = _index(lines, product_id)
    changed = replace(lines[index], discount=discount)
    return (*lines[:index], changed, *lines[index + 1 :])
