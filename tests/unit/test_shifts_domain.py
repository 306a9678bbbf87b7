"""A drawer's expected cash and a report's difference."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hub.domain.errors import ValidationFailed
from hub.domain.shifts import (
    MethodTotals,
    PaymentMethod,
    ShiftReport,
    ShiftTotals,
    check_cash_out,
)

D = Decimal


def test_expected_cash_counts_only_cash() -> None:
    totals = ShiftTotals(
        opening_cash=D("1000.00"),
        cash_in=D("200.00"),
        cash_out=D("500.00"),
        by_method={
            PaymentMethod.CASH: MethodTotals(sales=D("3120.50"), refunds=D("120.50"), count=9),
            PaymentMethod.CARD: MethodTotals(sales=D("9999.99"), count=4),
            PaymentMethod.CREDIT: MethodTotals(sales=D("500.00"), count=1),
        },
    )
    assert totals.expected_cash == D("3700.00")  # 1000 + 3000 + 200 - 500


def test_difference_is_counted_less_expected() -> None:
    totals = ShiftTotals(opening_cash=D("100.00"))
    assert ShiftReport("x", totals).difference is None
    assert ShiftReport("z", totals, closing_cash=D("95.00")).difference == D("-5.00")
    assert ShiftReport("z", totals, closing_cash=D("100.10")).difference == D("0.10")


def test_cannot_take_out_more_than_the_drawer_holds() -> None:
    totals = ShiftTotals(opening_cash=D("50.00"), cash_in=D("10.00"))
    check_cash_out(totals, D("60.00"))
    with pytest.raises(ValidationFailed) as caught:
        check_cash_out(totals, D("60.01"))
    assert "60.00" in caught.value.fields["amount"]
