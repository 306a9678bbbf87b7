"""Cash registers and shifts in plain Python: the cash a drawer should hold, and the X-
and Z-report of a shift from its running totals.

A shift's totals are kept on the shift itself (and per payment method) by every sale,
return and cash movement in the same transaction, so a report is a read, never a sum
over the day's receipts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from hub.domain.errors import Conflict, ValidationFailed

ZERO = Decimal("0.00")


class ShiftStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CashMovementKind(StrEnum):
    IN = "in"  # change brought in, a float top-up
    OUT = "out"  # a cash pick-up to the safe, a paid-out expense


class PaymentMethod(StrEnum):
    CASH = "cash"
    CARD = "card"
    CREDIT = "credit"
    BONUS = "bonus"
    BALANCE = "balance"


class ShiftClosed(Conflict):
    """The shift is closed: nothing more can happen in it."""


@dataclass(frozen=True)
class MethodTotals:
    """What one payment method took in and paid back during a shift."""

    sales: Decimal = ZERO
    refunds: Decimal = ZERO
    count: int = 0

    @property
    def net(self) -> Decimal:
        return self.sales - self.refunds


@dataclass(frozen=True)
class ShiftTotals:
    opening_cash: Decimal
    cash_in: Decimal = ZERO
    cash_out: Decimal = ZERO
    receipts: int = 0
    returns: int = 0
    sales_total: Decimal = ZERO
    returns_total: Decimal = ZERO
    discounts_total: Decimal = ZERO
    first_receipt: int | None = None
    last_receipt: int | None = None
    by_method: Mapping[PaymentMethod, MethodTotals] = field(default_factory=dict)

    @property
    def expected_cash(self) -> Decimal:
        """What the drawer should hold: the float, cash taken less cash refunded (change
        already deducted), plus cash brought in, less cash taken out."""
        cash = self.by_method.get(PaymentMethod.CASH, MethodTotals())
        return self.opening_cash + cash.net + self.cash_in - self.cash_out


def check_cash_out(totals: ShiftTotals, amount: Decimal, *, field: str = "amount") -> None:
    """The drawer cannot give out more than it should hold; refused naming `field`, what
    the request said that takes the cash out (an amount, or the shift a refund is paid
    from)."""
    if amount > totals.expected_cash:
        raise ValidationFailed(
            "not that much cash in the drawer",
            fields={field: f"the drawer should hold {totals.expected_cash}"},
        )


@dataclass(frozen=True)
class ShiftReport:
    """An X-report (during the shift) or a Z-report (at its close)."""

    kind: str  # "x" or "z"
    totals: ShiftTotals
    closing_cash: Decimal | None = None

    @property
    def expected_cash(self) -> Decimal:
        return self.totals.expected_cash

    @property
    def difference(self) -> Decimal | None:
        """Counted less expected: positive is over, negative is short."""
        if self.closing_cash is None:
            return None
        return self.closing_cash - self.totals.expected_cash

    @property
    def net_total(self) -> Decimal:
        return self.totals.sales_total - self.totals.returns_total
