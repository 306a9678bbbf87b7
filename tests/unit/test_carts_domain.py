"""A cart's lines: one per product, changed without mutating, refused with a field."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from hub.domain import carts
from hub.domain.carts import CartLine, CartStatus
from hub.domain.errors import DomainError, NotFound, ValidationFailed
from hub.domain.pricing import Discount
from protocol.errors import ErrorCode

D = Decimal
MILK, BREAD = uuid.uuid4(), uuid.uuid4()


def test_a_second_scan_adds_to_the_products_line() -> None:
    lines = carts.add((), MILK, D(1), D("89.90"))
    lines = carts.add(lines, BREAD, D("0.5"), D("40.00"))
    lines = carts.add(lines, MILK, D(2), D("99.90"))
    assert [(x.product_id, x.quantity) for x in lines] == [(MILK, D(3)), (BREAD, D("0.5"))]
    assert carts.quantity_of(lines, MILK) == D(3)
    # The line keeps the price of its first scan, whatever the product costs by the next.
    assert [x.price for x in lines] == [D("89.90"), D("40.00")]


def test_changes_return_new_lines_and_keep_the_old() -> None:
    before = carts.add((), MILK, D(1), D("89.90"))
    after = carts.set_quantity(before, MILK, D(4))
    assert (before[0].quantity, after[0].quantity) == (D(1), D(4))
    assert carts.remove(after, MILK) == ()
    assert carts.set_quantity(after, MILK, D(0)) == ()
    discounted = carts.discount_line(after, MILK, Discount(percent=D(10)))
    assert discounted[0].discount == Discount(percent=D(10))
    assert after[0].discount == Discount()


@pytest.mark.parametrize("quantity", [D(0), D(-1), D(100000)])
def test_bad_quantities(quantity: Decimal) -> None:
    with pytest.raises(ValidationFailed) as refused:
        carts.add((), MILK, quantity, D(1))
    assert "quantity" in refused.value.fields


def test_a_line_not_in_the_cart() -> None:
    for change in (
        lambda: carts.set_quantity((), MILK, D(1)),
        lambda: carts.remove((), MILK),
        lambda: carts.discount_line((), MILK, Discount()),
    ):
        with pytest.raises(NotFound):
            change()


def test_a_cart_has_at_most_max_lines() -> None:
    lines: tuple[CartLine, ...] = ()
    for _ in range(carts.MAX_LINES):
        lines = carts.add(lines, uuid.uuid4(), D(1), D(1))
    with pytest.raises(ValidationFailed):
        carts.add(lines, uuid.uuid4(), D(1), D(1))
    assert len(carts.add(lines, lines[0].product_id, D(1), D(1))) == carts.MAX_LINES


def test_lines_round_trip_through_json_exactly() -> None:
    lines = (
        CartLine(MILK, D("1.250"), Discount(amount=D("0.10")), price=D("89.90")),
        CartLine(BREAD, D(2), Discount(percent=D("12.5"))),
        CartLine(uuid.uuid4(), D(1)),
    )
    assert carts.lines_from_json(carts.lines_to_json(lines)) == lines
    assert carts.lines_to_json(lines)[0] == {
        "product": str(MILK),
        "quantity": "1.250",
        "discount_percent": None,
        "discount_amount": "0.10",
        "price": "89.90",
    }
    # A line stored before carts kept prices reads as one without a price.
    old = {"product": str(MILK), "quantity": "1", "discount_percent": None}
    assert carts.lines_from_json([old]) == (CartLine(MILK, D(1)),)


def test_closed_carts_and_stale_versions_are_conflicts_with_codes() -> None:
    carts.check_open(CartStatus.OPEN)
    with pytest.raises(DomainError) as closed:
        carts.check_open(CartStatus.PAID)
    assert closed.value.code == ErrorCode.CART_CLOSED
    stale = carts.StaleVersion(2, {"version": 3})
    assert stale.code == ErrorCode.STALE_VERSION
    assert stale.data == {"cart": {"version": 3}}
    assert stale.fields == {"version": "current is 3"}
