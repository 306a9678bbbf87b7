"""The arithmetic of the sales reports, in plain Python: a day's figures from its sales
and returns, and a product's performance net of what came back.

Money is exact: sums are of two-decimal amounts; an average or a percentage is rounded
half up to the cent (or to 0.01 %) once, at the end."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def ratio(part: Decimal, whole: Decimal, scale: int = 1) -> Decimal | None:
    """part / whole * scale to two decimals, half up; None when whole is zero."""
    if not whole:
        return None
    return (part * scale / whole).quantize(CENT, rounding=ROUND_HALF_UP)


def margin_percent(margin: Decimal, revenue: Decimal) -> Decimal | None:
    return ratio(margin, revenue, 100)


@dataclass
class HourFigures:
    receipts: int = 0
    revenue: Decimal = ZERO


@dataclass
class DayFigures:
    """A shop's day: what was sold, what came back, at what cost, paid how."""

    receipts: int = 0
    revenue: Decimal = ZERO  # the receipts' totals, after discounts
    discounts: Decimal = ZERO
    returns: int = 0
    refunds: Decimal = ZERO
    cost_of_sales: Decimal = ZERO
    cost_returned: Decimal = ZERO
    paid: dict[str, Decimal] = field(default_factory=dict)
    refunded: dict[str, Decimal] = field(default_factory=dict)
    hours: list[HourFigures] = field(default_factory=lambda: [HourFigures() for _ in range(24)])

    @property
    def net_revenue(self) -> Decimal:
        return self.revenue - self.refunds

    @property
    def cost(self) -> Decimal:
        return self.cost_of_sales - self.cost_returned

    @property
    def gross_margin(self) -> Decimal:
        return self.net_revenue - self.cost

    @property
    def average_ticket(self) -> Decimal | None:
        return ratio(self.revenue, Decimal(self.receipts)) if self.receipts else None


@dataclass(frozen=True)
class DaySums:
    """What a day's report is made of, for any stretch of the day; the sums of two
    stretches that follow each other add up to the sums of both."""

    slots: tuple[tuple[datetime, int, Decimal, Decimal], ...] = ()
    returns: int = 0
    refunds: Decimal = ZERO
    cost_of_sales: Decimal = ZERO
    cost_returned: Decimal = ZERO
    paid: Mapping[str, Decimal] = field(default_factory=dict)
    refunded: Mapping[str, Decimal] = field(default_factory=dict)

    def __add__(self, other: DaySums) -> DaySums:
        return DaySums(
            self.slots + other.slots,
            self.returns + other.returns,
            self.refunds + other.refunds,
            self.cost_of_sales + other.cost_of_sales,
            self.cost_returned + other.cost_returned,
            _added(self.paid, other.paid),
            _added(self.refunded, other.refunded),
        )

    def figures(self, zone: ZoneInfo) -> DayFigures:
        """The day's report: `slots` are (start, receipts, totals, discounts) of each
        quarter hour that had sales, counted in the local hour of `zone` they start in."""
        day = DayFigures(
            returns=self.returns,
            refunds=self.refunds,
            cost_of_sales=self.cost_of_sales,
            cost_returned=self.cost_returned,
            paid=dict(self.paid),
            refunded=dict(self.refunded),
        )
        for start, receipts, total, discount in self.slots:
            day.receipts += receipts
            day.revenue += total
            day.discounts += discount
            hour = day.hours[start.astimezone(zone).hour]
            hour.receipts += receipts
            hour.revenue += total
        return day


def _added(a: Mapping[str, Decimal], b: Mapping[str, Decimal]) -> dict[str, Decimal]:
    return {key: a.get(key, ZERO) + b.get(key, ZERO) for key in a.keys() | b.keys()}


@dataclass(frozen=True)
class ProductFigures:
    product_id: uuid.UUID
    name: str
    units: Decimal
    revenue: Decimal
    cost: Decimal

    @property
    def margin(self) -> Decimal:
        return self.revenue - self.cost

    @property
    def margin_percent(self) -> Decimal | None:
        return margin_percent(self.margin, self.revenue)


RANKINGS = ("revenue", "units", "margin")


def rank_products(products: Iterable[ProductFigures], by: str) -> list[ProductFigures]:
    """Best first by `by` (revenue, units or margin); ties by name, then id."""
    if by not in RANKINGS:
        raise ValueError(f"rank by one of {', '.join(RANKINGS)}")

    def key(p: ProductFigures) -> tuple[Decimal, str, str]:
        value = {"revenue": p.revenue, "units": p.units, "margin": p.margin}[by]
        return (-value, p.name, str(p.product_id))

    return sorted(products, key=key)
