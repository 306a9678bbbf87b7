"""The settled part of an open day: where it ends, and sums that add up."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hub.domain.reports import DaySums
from hub.services.settled_sums import Settled, SettledSums, settled_until

D = Decimal
# Kathmandu, UTC+05:45: its day starts at 18:15 UTC, a quarter hour but not an hour.
START = datetime(2026, 11, 23, 18, 15, tzinfo=UTC)
END = START + timedelta(days=1)


def test_the_settled_part_ends_on_a_quarter_hour_ten_minutes_back() -> None:
    at = START + timedelta(hours=5, minutes=37)  # 10 min back: 5:27 -> 5:15
    assert settled_until(START, END, at) == START + timedelta(hours=5, minutes=15)
    at = START + timedelta(hours=5, minutes=25)  # exactly on a boundary
    assert settled_until(START, END, at) == START + timedelta(hours=5, minutes=15)
    assert settled_until(START, END, START + timedelta(minutes=9)) == START  # none yet
    assert settled_until(START, END, END + timedelta(minutes=11)) == END  # the whole day


def test_sums_of_two_stretches_are_the_sums_of_both() -> None:
    zone = ZoneInfo("Asia/Kathmandu")
    morning = DaySums(
        slots=((START + timedelta(hours=8), 2, D("30.00"), D("1.00")),),
        returns=1,
        refunds=D("10.00"),
        cost_of_sales=D("12.00"),
        cost_returned=D("4.00"),
        paid={"cash": D("30.00")},
        refunded={"cash": D("10.00")},
    )
    evening = DaySums(
        slots=((START + timedelta(hours=20), 1, D("25.00"), D("0.00")),),
        cost_of_sales=D("15.00"),
        paid={"card": D("20.00"), "cash": D("5.00")},
    )
    day = (morning + evening).figures(zone)
    assert (day.receipts, day.revenue, day.discounts) == (3, D("55.00"), D("1.00"))
    assert (day.returns, day.refunds, day.cost) == (1, D("10.00"), D("23.00"))
    assert day.paid == {"cash": D("35.00"), "card": D("20.00")}
    assert day.refunded == {"cash": D("10.00")}
    # 18:15 UTC is 00:00 in Kathmandu: the slots land in the local hours 8 and 20.
    assert (day.hours[8].receipts, day.hours[20].revenue) == (2, D("25.00"))
    assert (DaySums() + morning).figures(zone) == morning.figures(zone)


def test_a_shop_keeps_its_latest_settled_part_only() -> None:
    tenant, shop = uuid.uuid4(), uuid.uuid4()
    kept = SettledSums()
    later = Settled(date(2026, 11, 24), START + timedelta(hours=2), DaySums(returns=2))
    kept.keep(tenant, shop, later)
    kept.keep(tenant, shop, Settled(date(2026, 11, 24), START + timedelta(hours=1), DaySums()))
    assert kept.get(tenant, shop, date(2026, 11, 24)) == later  # an older one does not win
    assert kept.get(tenant, shop, date(2026, 11, 23)) is None
    assert kept.get(uuid.uuid4(), shop, date(2026, 11, 24)) is None
