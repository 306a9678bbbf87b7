"""Receipt money: the rounding rule, discounts that do not stack, a receipt discount
spread to the cent, and tenders with change; properties over random receipts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.errors import ValidationFailed
from hub.domain.pricing import Discount, LineIn, Tender, price_receipt, settle
from hub.domain.shifts import PaymentMethod

D = Decimal
CASH, CARD, CREDIT, BONUS = (
    PaymentMethod.CASH,
    PaymentMethod.CARD,
    PaymentMethod.CREDIT,
    PaymentMethod.BONUS,
)


def test_weighed_line_rounds_half_up() -> None:
    receipt = price_receipt([LineIn(D("899.00"), D("0.125"))])  # 112.375
    assert receipt.total == D("112.38")
    assert price_receipt([LineIn(D("0.10"), D("0.005"))]).total == D("0.00")  # 0.0005


def test_line_discounts_then_the_larger_receipt_discount() -> None:
    lines = [
        LineIn(D("100.00"), D("2"), Discount(percent=D("10"))),  # 200 - 20
        LineIn(D("50.00"), D("1"), Discount(amount=D("5.00"))),  # 50 - 5
        LineIn(D("19.99"), D("3")),  # 59.97
    ]
    manual = price_receipt(lines, receipt_discount=Discount(percent=D("5")))
    group = price_receipt(lines, group_discount_percent=D("10"))
    both = price_receipt(
        lines, receipt_discount=Discount(percent=D("5")), group_discount_percent=D("10")
    )
    base = D("180.00") + D("45.00") + D("59.97")  # 284.97
    assert manual.receipt_discount == D("14.25")  # 5 % of 284.97 = 14.2485
    assert group.receipt_discount == D("28.50")  # 10 % = 28.497
    assert both == group  # they do not stack: the larger wins
    assert group.total == base - D("28.50")
    assert sum(line.receipt_discount for line in group.lines) == D("28.50")
    assert group.discount_total == D("20.00") + D("5.00") + D("28.50")


def test_receipt_discount_spread_to_the_cent() -> None:
    lines = [LineIn(D("0.01"), D("1")), LineIn(D("0.01"), D("1")), LineIn(D("0.01"), D("1"))]
    receipt = price_receipt(lines, receipt_discount=Discount(amount=D("0.02")))
    assert [line.receipt_discount for line in receipt.lines] == [D("0.01"), D("0.01"), D("0")]
    assert receipt.total == D("0.01")


def test_bad_discounts() -> None:
    with pytest.raises(ValidationFailed):
        Discount(percent=D("101"))
    with pytest.raises(ValidationFailed):
        Discount(percent=D("1"), amount=D("1"))
    with pytest.raises(ValidationFailed):
        price_receipt([LineIn(D("5"), D("1"), Discount(amount=D("5.01")))])
    with pytest.raises(ValidationFailed):
        price_receipt([])


def test_tenders_and_change() -> None:
    paid = settle(D("1234.50"), [Tender(CARD, D("1000.00")), Tender(CASH, D("500.00"))])
    assert paid.change == D("265.50")
    assert paid.taken == {CARD: D("1000.00"), CASH: D("234.50")}
    exact = settle(D("10.00"), [Tender(CREDIT, D("7.00")), Tender(BONUS, D("3.00"))])
    assert (exact.change, exact.tendered_cash) == (D("0"), D("0"))
    for tenders, problem in (
        ([Tender(CARD, D("10.01"))], "exceed"),
        ([Tender(CASH, D("9.99"))], "short"),
        ([Tender(CARD, D("10.00")), Tender(CASH, D("1.00"))], "not needed"),
        ([Tender(CASH, D("-1"))], "bad payment"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            settle(D("10.00"), tenders)
        assert problem in (caught.value.message + str(caught.value.fields))


money = st.decimals(min_value=D("0.00"), max_value=D("5000.00"), places=2)
quantities = st.one_of(
    st.integers(1, 20).map(D), st.decimals(min_value=D("0.001"), max_value=D("9.999"), places=3)
)
discounts = st.one_of(
    st.just(Discount()),
    st.decimals(min_value=D("0"), max_value=D("100"), places=2).map(lambda p: Discount(percent=p)),
)
lines_strategy = st.lists(st.builds(LineIn, money, quantities, discounts), min_size=1, max_size=8)


@given(
    lines_strategy,
    st.decimals(min_value=D("0"), max_value=D("100"), places=2),
    st.decimals(min_value=D("0"), max_value=D("50"), places=2),
    st.integers(0, 3),
    st.decimals(min_value=D("0"), max_value=D("1"), places=2),
    st.decimals(min_value=D("0"), max_value=D("500"), places=2),
)
def test_lines_less_discounts_is_total_is_payments_less_change(
    lines: list[LineIn],
    receipt_percent: Decimal,
    group_percent: Decimal,
    non_cash_kinds: int,
    non_cash_share: Decimal,
    extra_cash: Decimal,
) -> None:
    receipt = price_receipt(
        lines,
        receipt_discount=Discount(percent=receipt_percent),
        group_discount_percent=group_percent,
    )
    assert receipt.subtotal - receipt.discount_total == receipt.total
    assert all(line.total >= 0 for line in receipt.lines)
    assert all(line.total == line.amount - line.discount for line in receipt.lines)
    assert sum(line.receipt_discount for line in receipt.lines) == receipt.receipt_discount

    # Some of it by card/credit/bonus, the rest in cash with some change.
    non_cash = (receipt.total * non_cash_share).quantize(D("0.01"), rounding="ROUND_DOWN")
    methods = [CARD, CREDIT, BONUS][:non_cash_kinds]
    tenders = []
    if methods and non_cash > 0:
        each = (non_cash / len(methods)).quantize(D("0.01"), rounding="ROUND_DOWN")
        for method in methods:
            if each > 0:
                tenders.append(Tender(method, each))
    paid_other = sum((t.amount for t in tenders), D("0"))
    due = receipt.total - paid_other
    if due > 0:
        tenders.append(Tender(CASH, due + extra_cash))
    if not tenders:
        return  # a free receipt: nothing to pay
    paid = settle(receipt.total, tenders)
    assert sum(t.amount for t in tenders) - paid.change == receipt.total
    assert sum(paid.taken.values()) == receipt.total
    assert paid.change == (extra_cash if due > 0 else 0)
