"""A receipt's money, in plain Python: line amounts, discounts, total, tenders, change.

The rounding rule, one for the whole product: every amount is rounded to the currency's
cent, half up (0.005 → 0.01), at the line (price x quantity, then each discount); a
receipt-wide discount is spread over the lines in proportion to their amounts, cents by
the largest remainder, so the lines' discounts add up to it exactly. Hence, for every
receipt:

    Σ line amounts - Σ discounts = total = Σ tenders - change

Discounts do not stack: a line's own discount comes first; then the receipt gets the
larger of the manual receipt discount and the customer's group discount. Bonus points pay
like a tender (1 point = 1 currency unit), they are not a discount. Change is given only
from cash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from hub.domain.errors import ValidationFailed
from hub.domain.shifts import PaymentMethod

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def included_vat(total: Decimal, rate_percent: Decimal) -> Decimal:
    """The VAT contained in a price that includes it (as shelf prices do):
    total x rate / (100 + rate), in cents, half up. 20 % of 120.00 holds 20.00."""
    if rate_percent < 0:
        raise ValueError("a VAT rate is 0 or more")
    return cents(total * rate_percent / (HUNDRED + rate_percent))


@dataclass(frozen=True)
class Discount:
    """A percent (0-100) or a fixed amount; at most one of them."""

    percent: Decimal | None = None
    amount: Decimal | None = None

    def __post_init__(self) -> None:
        if self.percent is not None and self.amount is not None:
            raise ValidationFailed("percent or amount, not both", fields={"discount": "one"})
        if self.percent is not None and not ZERO <= self.percent <= HUNDRED:
            raise ValidationFailed("bad discount", fields={"discount_percent": "0 to 100"})
        if self.amount is not None and self.amount < 0:
            raise ValidationFailed("bad discount", fields={"discount_amount": "0 or more"})

    def of(self, base: Decimal, *, field: str = "discount_amount") -> Decimal:
        """The discount on `base`, rounded, never more than `base`; an amount larger
        than `base` is refused, naming `field`."""
        if self.percent is not None:
            return min(base, cents(base * self.percent / HUNDRED))
        if self.amount is not None:
            if self.amount > base:
                raise ValidationFailed(
                    "discount larger than the amount", fields={field: f"at most {base}"}
                )
            return cents(self.amount)
        return ZERO


NO_DISCOUNT = Discount()


@dataclass(frozen=True)
class LineIn:
    price: Decimal
    quantity: Decimal
    discount: Discount = NO_DISCOUNT


@dataclass(frozen=True)
class PricedLine:
    amount: Decimal  # price x quantity
    line_discount: Decimal  # the line's own discount
    receipt_discount: Decimal  # its share of the receipt's discount
    total: Decimal  # what the customer pays for the line

    @property
    def discount(self) -> Decimal:
        return self.line_discount + self.receipt_discount


@dataclass(frozen=True)
class PricedReceipt:
    lines: tuple[PricedLine, ...]
    receipt_discount: Decimal
    receipt_discount_percent: Decimal | None

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def discount_total(self) -> Decimal:
        return sum((line.discount for line in self.lines), ZERO)

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), ZERO)


def _spread(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """`total` split over `weights` in proportion, in cents, adding up exactly (largest
    remainder; ties to the earlier line)."""
    whole = sum(weights, ZERO)
    if total == 0 or whole == 0:
        return [ZERO for _ in weights]
    units = int(total / CENT)
    raw = [Decimal(units) * w / whole for w in weights]
    floors = [int(r) for r in raw]
    left = units - sum(floors)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [Decimal(f) * CENT for f in floors]


def price_receipt(
    lines: Sequence[LineIn],
    *,
    receipt_discount: Discount = NO_DISCOUNT,
    group_discount_percent: Decimal = ZERO,
) -> PricedReceipt:
    """Price a receipt by the rule in this module's docstring."""
    if not lines:
        raise ValidationFailed("an empty receipt", fields={"items": "at least one line"})
    amounts = []
    own = []
    for index, line in enumerate(lines):
        if line.price < 0 or line.quantity <= 0:
            raise ValidationFailed("bad line", fields={"items": "price >= 0 and quantity > 0"})
        amount = cents(line.price * line.quantity)
        amounts.append(amount)
        own.append(line.discount.of(amount, field=f"items.{index}.discount_amount"))
    after_own = [a - d for a, d in zip(amounts, own, strict=True)]
    base = sum(after_own, ZERO)
    manual = receipt_discount.of(base)
    group = Discount(percent=group_discount_percent).of(base)
    percent: Decimal | None
    if group > manual:
        whole, percent = group, group_discount_percent
    else:
        whole, percent = manual, receipt_discount.percent
    shares = _spread(whole, after_own)
    priced = tuple(
        PricedLine(amount=a, line_discount=d, receipt_discount=s, total=a - d - s)
        for a, d, s in zip(amounts, own, shares, strict=True)
    )
    return PricedReceipt(priced, whole, percent)


@dataclass(frozen=True)
class Tender:
    method: PaymentMethod
    amount: Decimal


@dataclass(frozen=True)
class Settlement:
    """How a total is paid: what each method takes (cash net of change) and the change."""

    taken: dict[PaymentMethod, Decimal]
    tendered_cash: Decimal
    change: Decimal


def settle(total: Decimal, tenders: Sequence[Tender]) -> Settlement:
    """Check that the tenders cover `total` exactly, change coming only from cash."""
    taken: dict[PaymentMethod, Decimal] = {}
    for tender in tenders:
        if tender.amount <= 0 or tender.amount != cents(tender.amount):
            raise ValidationFailed("bad payment", fields={"payments": "amounts > 0, in cents"})
        taken[tender.method] = taken.get(tender.method, ZERO) + tender.amount
    cash = taken.pop(PaymentMethod.CASH, ZERO)
    other = sum(taken.values(), ZERO)
    if other > total:
        raise ValidationFailed(
            "non-cash payments exceed the total",
            fields={"payments": f"card, credit, bonus and balance at most {total}"},
        )
    due_in_cash = total - other
    if cash < due_in_cash:
        raise ValidationFailed(
            "payments do not cover the total",
            fields={"payments": f"{due_in_cash - cash} short of {total}"},
        )
    if due_in_cash == 0 and cash > 0:
        raise ValidationFailed("cash not needed", fields={"payments": "nothing left to pay"})
    change = cash - due_in_cash
    if due_in_cash > 0:
        taken[PaymentMethod.CASH] = due_in_cash
    return Settlement(taken, cash, change)
