"""Analytics: daily sales reports per shop, product performance, slow movers, RFM and
at-risk customers, daily stock snapshots.

A day that has not ended in the shop's time zone (or that the worker has not closed yet)
is computed from the sales tables when asked, so it is current to the last sale. The
worker (`hub/analytics_worker.py`) closes each ended day into `daily_reports`, takes the
day's stock snapshot and refreshes the RFM scores; see `close_days`, `take_snapshots`
and `refresh_rfm`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hub.adapters.db.analytics_repositories import Period, ReturnedLine
from hub.adapters.db.analytics_tables import (
    CustomerRfm,
    DailyReport,
    StockSnapshot,
    StockSnapshotDay,
)
from hub.adapters.db.customer_tables import Customer
from hub.adapters.db.tables import Shop
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.domain.customers import period_bounds
from hub.domain.errors import NotFound, ValidationFailed
from hub.domain.permissions import Permission
from hub.domain.reports import (
    ZERO,
    DayFigures,
    DaySums,
    ProductFigures,
    margin_percent,
    rank_products,
)
from hub.domain.rfm import AT_RISK_SEGMENTS, LABELS, Purchases, Segment, score
from hub.services.customer_accounts import settings_of
from hub.services.principal import Principal
from hub.services.settled_sums import SETTLE, Settled, SettledSums, settled_until
from hub.services.shops import get_shop

MAX_PERIOD_DAYS = 366
# Days a missed close reaches back (a hub down longer closes the last week only).
CLOSE_BACK_DAYS = 7
# A day is closed this long after it ended: a sale stamped 23:59:59 may still be
# committing at midnight, and a closed day never changes.
CLOSE_GRACE = SETTLE
RFM_WINDOW_DAYS = 365


def _zone(shop: Shop) -> ZoneInfo:
    return ZoneInfo(shop.timezone)


def local_today(shop: Shop, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(_zone(shop)).date()


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


# --- daily report --------------------------------------------------------------------------


def _returned_cost(lines: Sequence[ReturnedLine]) -> Decimal:
    return sum((line.cost for line in lines), ZERO)


async def _sums(uow: UnitOfWork, shop: Shop, start: datetime, end: datetime) -> DaySums:
    """What the shop's report needs of [start, end), summed in the database."""
    if start >= end:
        return DaySums()
    period = Period(start, end, frozenset({shop.id}))
    reads = uow.analytics
    returns, refunds = await reads.returns(period)
    return DaySums(
        tuple(
            (s.start, s.receipts, s.total, s.discount)
            for s in await reads.sales_by_quarter_hour(period)
        ),
        returns,
        refunds,
        await reads.cost_of_sales(period),
        _returned_cost(await reads.returned_lines(period)),
        await reads.payments_by_method(period),
        await reads.refunds_by_method(period),
    )


async def _figures(
    uow: UnitOfWork, shop: Shop, day: date, settled: SettledSums | None = None
) -> DayFigures:
    """The day's figures, summed from its sales and returns. With `settled`, what was
    summed of the day's settled part before is reused, and only the rest is read."""
    start, end = day_bounds(day, _zone(shop))
    if settled is None:
        return (await _sums(uow, shop, start, end)).figures(_zone(shop))
    until = settled_until(start, end, utcnow())
    kept = settled.get(uow.tenant_id, shop.id, day)
    if kept is None or kept.until > until:
        kept = Settled(day, start, DaySums())
    if kept.until < until:
        kept = Settled(day, until, kept.sums + await _sums(uow, shop, kept.until, until))
        settled.keep(uow.tenant_id, shop.id, kept)
    return (kept.sums + await _sums(uow, shop, until, end)).figures(_zone(shop))


def report_document(
    shop: Shop, day: date, figures: DayFigures, closed_at: datetime | None
) -> dict[str, Any]:
    methods = sorted(set(figures.paid) | set(figures.refunded))
    return {
        "shop": str(shop.id),
        "date": day.isoformat(),
        "timezone": shop.timezone,
        "status": "closed" if closed_at else "open",
        "closed_at": closed_at.isoformat() if closed_at else None,
        "receipts": figures.receipts,
        "revenue": _money(figures.revenue),
        "discounts": _money(figures.discounts),
        "average_ticket": _money(figures.average_ticket),
        "returns": {"count": figures.returns, "total": _money(figures.refunds)},
        "net_revenue": _money(figures.net_revenue),
        "cost": _money(figures.cost),
        "gross_margin": _money(figures.gross_margin),
        "margin_percent": _money(margin_percent(figures.gross_margin, figures.net_revenue)),
        "payments": {
            method: {
                "sales": _money(figures.paid.get(method, ZERO)),
                "refunds": _money(figures.refunded.get(method, ZERO)),
                "net": _money(figures.paid.get(method, ZERO) - figures.refunded.get(method, ZERO)),
            }
            for method in methods
        },
        "by_hour": [
            {"hour": hour, "receipts": h.receipts, "revenue": _money(h.revenue)}
            for hour, h in enumerate(figures.hours)
        ],
    }


async def daily_report(
    uow: UnitOfWork,
    principal: Principal,
    shop_id: uuid.UUID,
    day: date | None,
    settled: SettledSums | None = None,
) -> dict[str, Any]:
    """The shop's report for `day` (default: today in the shop): closed days as the
    worker stored them, any other day computed now (from `settled` sums where given)."""
    principal.require(Permission.REPORTS_VIEW)
    shop = await get_shop(uow, principal, shop_id)
    day = day or local_today(shop)
    if day > local_today(shop):
        raise ValidationFailed("that day has not come yet", fields={"date": "in the future"})
    return await _report(uow, shop, day, settled)


async def _report(
    uow: UnitOfWork, shop: Shop, day: date, settled: SettledSums | None = None
) -> dict[str, Any]:
    stored = await uow.analytics.daily_report(shop.id, day)
    if stored is not None:
        document: dict[str, Any] = stored.report
        return document
    return report_document(shop, day, await _figures(uow, shop, day, settled), None)


async def daily_reports(
    uow: UnitOfWork, principal: Principal, shop_id: uuid.UUID, first: date, last: date
) -> list[dict[str, Any]]:
    """One report per day of [first, last] (at most a year)."""
    principal.require(Permission.REPORTS_VIEW)
    if first > last:
        raise ValidationFailed("empty period", fields={"date_from": "after date_to"})
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise ValidationFailed("a year at most", fields={"date_to": "within 366 days"})
    shop = await get_shop(uow, principal, shop_id)
    last = min(last, local_today(shop))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [await _report(uow, shop, d) for d in days]


# --- products ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductQuery:
    shop: uuid.UUID | None
    date_from: date | None
    date_to: date | None
    rank_by: str = "revenue"
    limit: int = 10


async def _period(
    uow: UnitOfWork,
    principal: Principal,
    shop_id: uuid.UUID | None,
    first: date | None,
    last: date | None,
) -> Period:
    """Whole days in the shop's zone (or the tenant's, for every shop one sees); by
    default the 30 days up to today there."""
    shops: frozenset[uuid.UUID] | None
    if shop_id is not None:
        shop = await get_shop(uow, principal, shop_id)
        zone_name, shops = shop.timezone, frozenset({shop.id})
    else:
        zone_name, shops = (await settings_of(uow)).timezone, principal.visible_shops()
    last = last or utcnow().astimezone(ZoneInfo(zone_name)).date()
    first = first or last - timedelta(days=29)
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise ValidationFailed("a year at most", fields={"date_to": "within 366 days"})
    start, end = period_bounds(first, last, zone_name)
    assert start is not None
    assert end is not None
    return Period(start, end, shops)


async def product_performance(
    uow: UnitOfWork, principal: Principal, query: ProductQuery
) -> list[ProductFigures]:
    """Units, revenue, cost and margin per product over the period, net of returns made
    in it; best first by `rank_by`. Default period: the last 30 days."""
    principal.require(Permission.REPORTS_VIEW)
    period = await _period(uow, principal, query.shop, query.date_from, query.date_to)
    figures: dict[uuid.UUID, ProductFigures] = {
        p.product_id: ProductFigures(p.product_id, p.name, p.units, p.revenue, p.cost)
        for p in await uow.analytics.sales_by_product(period)
    }
    for line in await uow.analytics.returned_lines(period):
        was = figures.get(line.product_id) or ProductFigures(
            line.product_id, line.name, ZERO, ZERO, ZERO
        )
        figures[line.product_id] = ProductFigures(
            was.product_id,
            was.name,
            was.units - line.quantity,
            was.revenue - line.refund,
            was.cost - line.cost,
        )
    try:
        ranked = rank_products(figures.values(), query.rank_by)
    except ValueError as exc:
        raise ValidationFailed(str(exc), fields={"order_by": str(exc)}) from None
    return ranked[: query.limit]


@dataclass(frozen=True)
class SlowMover:
    product_id: uuid.UUID
    name: str
    on_hand: Decimal
    last_sold_at: datetime | None


async def slow_movers(
    uow: UnitOfWork, principal: Principal, shop_id: uuid.UUID, days: int, limit: int
) -> list[SlowMover]:
    """Products in stock in the shop with no sale for `days` days (never sold first)."""
    principal.require(Permission.REPORTS_VIEW)
    shop = await get_shop(uow, principal, shop_id)
    since = utcnow() - timedelta(days=days)
    rows = await uow.analytics.slow_movers(shop.id, since, limit)
    return [SlowMover(*row) for row in rows]


# --- customers: RFM ---------------------------------------------------------------------


@dataclass(frozen=True)
class RfmRow:
    customer: Customer
    scores: CustomerRfm


@dataclass(frozen=True)
class RfmResult:
    computed_at: datetime | None
    segments: dict[str, int]  # every segment, with how many customers are in it
    rows: list[RfmRow]


async def refresh_rfm(uow: UnitOfWork, now: datetime | None = None) -> int:
    """Score every customer who bought in the last year against each other and store the
    scores (replacing the last ones) in this transaction. Returns how many."""
    now = now or utcnow()
    since = now - timedelta(days=RFM_WINDOW_DAYS)
    refunds = await uow.analytics.customer_refunds(since)
    purchases = [
        Purchases(
            customer_id,
            max(0, (now - last).days),
            receipts,
            spent - refunds.get(customer_id, ZERO),
        )
        for customer_id, last, receipts, spent in await uow.analytics.customer_purchases(since)
    ]
    rows = [
        CustomerRfm(
            customer_id=s.purchases.customer,
            days_since_last=s.purchases.days_since_last,
            orders=s.purchases.orders,
            spent=s.purchases.spent,
            r=s.r,
            f=s.f,
            m=s.m,
            segment=s.segment.value,
            computed_at=now,
        )
        for s in score(purchases)
    ]
    await uow.analytics.replace_rfm(rows)
    return len(rows)


async def rfm(uow: UnitOfWork, principal: Principal, segments: Sequence[Segment] = ()) -> RfmResult:
    """The stored scores (refreshed daily by the worker; computed now when there are
    none yet), best customers first; `segments` filters the rows, not the counts."""
    principal.require(Permission.REPORTS_VIEW)
    if await uow.analytics.rfm_computed_at() is None:
        await refresh_rfm(uow)
        await uow.commit()
    scores = await uow.analytics.rfm()
    counts = {s.value: 0 for s in Segment}
    for row in scores:
        counts[row.segment] += 1
    wanted = {s.value for s in segments}
    chosen = [s for s in scores if not wanted or s.segment in wanted]
    customers = await uow.analytics.customers(s.customer_id for s in chosen)
    rows = [RfmRow(customers[s.customer_id], s) for s in chosen if s.customer_id in customers]
    rows.sort(
        key=lambda row: (
            -(row.scores.r + row.scores.f + row.scores.m),
            -row.scores.spent,
            row.customer.name,
        )
    )
    return RfmResult(await uow.analytics.rfm_computed_at(), counts, rows)


async def at_risk_customers(uow: UnitOfWork, principal: Principal) -> RfmResult:
    """Customers who were worth a lot and are slipping away: Can't Lose Them, At Risk,
    About to Sleep; the most valuable first."""
    result = await rfm(uow, principal, AT_RISK_SEGMENTS)
    rows = sorted(result.rows, key=lambda row: (-row.scores.spent, row.scores.days_since_last))
    return RfmResult(result.computed_at, result.segments, rows)


def segment_label(segment: str) -> str:
    return LABELS[Segment(segment)]


# --- stock snapshots --------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    day: StockSnapshotDay
    rows: list[tuple[StockSnapshot, str]]  # with the product's name


async def stock_snapshot(
    uow: UnitOfWork, principal: Principal, shop_id: uuid.UUID, day: date
) -> Snapshot:
    """The shop's stock as the worker recorded it that day (404 when it did not)."""
    principal.require(Permission.REPORTS_VIEW)
    shop = await get_shop(uow, principal, shop_id)
    header = await uow.analytics.snapshot_day(shop.id, day)
    if header is None:
        raise NotFound("no stock snapshot of that day")
    return Snapshot(header, await uow.analytics.snapshot(shop.id, day))


# --- the worker's jobs ------------------------------------------------------------------


async def close_days(uow: UnitOfWork, shop: Shop, now: datetime) -> int:
    """Store the report of each ended day (the last week) the shop has not closed."""
    today = local_today(shop, now - CLOSE_GRACE)
    opened = shop.created_at.astimezone(_zone(shop)).date()
    closed = 0
    for back in range(CLOSE_BACK_DAYS, 0, -1):
        day = today - timedelta(days=back)
        if day < opened or await uow.analytics.daily_report(shop.id, day) is not None:
            continue
        document = report_document(shop, day, await _figures(uow, shop, day), now)
        uow.analytics.add_daily_report(
            DailyReport(shop_id=shop.id, day=day, report=document, closed_at=now)
        )
        closed += 1
    return closed


async def take_snapshot(uow: UnitOfWork, shop: Shop, now: datetime) -> bool:
    """The shop's stock as it is now, as today's snapshot, unless today has one."""
    today = local_today(shop, now)
    if await uow.analytics.snapshot_day(shop.id, today) is not None:
        return False
    value = await uow.analytics.stock_value(shop.id)
    rows = [
        StockSnapshot(
            shop_id=shop.id,
            day=today,
            product_id=product_id,
            on_hand=on_hand,
            reserved=reserved,
            value=value.get(product_id, ZERO),
            taken_at=now,
        )
        for product_id, on_hand, reserved in await uow.analytics.stock_levels(shop.id)
    ]
    header = StockSnapshotDay(
        shop_id=shop.id,
        day=today,
        products=len(rows),
        value=sum((r.value for r in rows), ZERO),
        taken_at=now,
    )
    uow.analytics.add_snapshot(header, rows)
    return True


async def rfm_is_stale(uow: UnitOfWork, now: datetime) -> bool:
    """Scores from an earlier day; or none yet, while some customer has bought (without
    this, a tenant with no customer sales would be rescored on every pass)."""
    computed = await uow.analytics.rfm_computed_at()
    if computed is not None:
        return computed.date() < now.date()
    return await uow.analytics.has_customer_sales()
