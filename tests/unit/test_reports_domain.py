"""The arithmetic of the reports: a day's figures from its quarter hours, local hours in
any zone (half-hour offsets included), averages and margins rounded once, half up."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from hub.domain.reports import DaySums, ProductFigures, margin_percent, rank_products

D = Decimal


def test_a_day_from_its_quarter_hours() -> None:
    slots = [
        (datetime(2026, 11, 24, 10, 45, tzinfo=UTC), 2, D("30.00"), D("1.00")),
        (datetime(2026, 11, 24, 11, 0, tzinfo=UTC), 1, D("10.01"), D("0.00")),
    ]
    day = DaySums(
        tuple(slots),
        1,
        D("5.00"),
        D("20.00"),
        D("2.00"),
        {"cash": D("40.01")},
        {"cash": D("5.00")},
    ).figures(ZoneInfo("Asia/Kolkata"))  # UTC+5:30: 10:45 UTC is 16:15, 11:00 is 16:30
    assert (day.receipts, day.revenue, day.discounts) == (3, D("40.01"), D("1.00"))
    assert day.hours[16].receipts == 3
    assert day.hours[16].revenue == D("40.01")
    assert sum(h.receipts for h in day.hours) == 3
    assert (day.returns, day.net_revenue, day.cost, day.gross_margin) == (
        1,
        D("35.01"),
        D("18.00"),
        D("17.01"),
    )
    assert day.average_ticket == D("13.34")  # 40.01 / 3 = 13.336…, half up


def test_no_receipts_no_average_and_no_margin_percent() -> None:
    day = DaySums().figures(ZoneInfo("UTC"))
    assert day.average_ticket is None
    assert margin_percent(day.gross_margin, day.net_revenue) is None


def test_products_rank_by_revenue_units_or_margin() -> None:
    a = ProductFigures(uuid.uuid4(), "Tea", D("10"), D("100.00"), D("40.00"))
    b = ProductFigures(uuid.uuid4(), "Coffee", D("2"), D("150.00"), D("120.00"))
    assert [p.name for p in rank_products([a, b], "revenue")] == ["Coffee", "Tea"]
    assert [p.name for p in rank_products([a, b], "units")] == ["Tea", "Coffee"]
    assert [p.name for p in rank_products([a, b], "margin")] == ["Tea", "Coffee"]
    assert a.margin_percent == D("60.00")
    with pytest.raises(ValueError, match="rank by"):
        rank_products([a], "luck")
