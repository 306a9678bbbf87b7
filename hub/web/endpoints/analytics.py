from __future__ import annotations

from starlette.responses import Response

from hub.domain.permissions import Permission
from hub.services import analytics
from hub.services.analytics import ProductQuery
from hub.web.api import Api, Ctx
from hub.web.export import ExportQuery, table_response
from hub.web.schemas.analytics import (
    RFM_HEADERS,
    DailyQuery,
    DailyRangeQuery,
    DailyReportList,
    DailyReportOut,
    ProductList,
    ProductOut,
    ProductsQuery,
    RfmOut,
    RfmQuery,
    SlowMoverList,
    SlowMoverOut,
    SlowQuery,
    SnapshotList,
    SnapshotQuery,
    SnapshotRowOut,
    daily_table,
    rfm_rows,
)

api = Api()
TAG = "analytics"
REPORTS = Permission.REPORTS_VIEW


@api.get("/api/analytics/daily/", tag=TAG, permission=REPORTS)
async def daily_report(ctx: Ctx, query: DailyQuery) -> DailyReportOut | Response:
    """A shop's day: receipts, revenue, average ticket, returns, cost and gross margin,
    by payment method and by hour. Current to the last sale until the day is closed."""
    report = DailyReportOut.of(
        await analytics.daily_report(
            ctx.uow, ctx.principal, query.shop, query.date, ctx.deps.report_sums
        )
    )
    if query.table_format is not None:
        headers, rows = daily_table([report])
        return table_response(query.table_format, f"daily-{report.date}", headers, rows)
    return report


@api.get("/api/analytics/daily/range/", tag=TAG, permission=REPORTS)
async def daily_reports(ctx: Ctx, query: DailyRangeQuery) -> DailyReportList | Response:
    """One daily report per day of a period (at most a year)."""
    reports = [
        DailyReportOut.of(r)
        for r in await analytics.daily_reports(
            ctx.uow, ctx.principal, query.shop, query.date_from, query.date_to
        )
    ]
    if query.table_format is not None:
        headers, rows = daily_table(reports)
        return table_response(query.table_format, "daily", headers, rows)
    return DailyReportList(results=reports)


@api.get("/api/analytics/top-products/", tag=TAG, permission=REPORTS)
async def top_products(ctx: Ctx, query: ProductsQuery) -> ProductList | Response:
    """Product performance over a period, net of returns: units, revenue, cost, margin;
    the best first by `order_by`."""
    found = await analytics.product_performance(
        ctx.uow,
        ctx.principal,
        ProductQuery(query.shop, query.date_from, query.date_to, query.order_by, query.limit),
    )
    results = [ProductOut.of(p) for p in found]
    if query.table_format is not None:
        return table_response(
            query.table_format,
            "top-products",
            ("product", "name", "units", "revenue", "cost", "margin", "margin_percent"),
            (
                [str(p.product), p.name, p.units, p.revenue, p.cost, p.margin, p.margin_percent]
                for p in results
            ),
        )
    return ProductList(results=results)


@api.get("/api/analytics/slow-movers/", tag=TAG, permission=REPORTS)
async def slow_movers(ctx: Ctx, query: SlowQuery) -> SlowMoverList | Response:
    """Products in stock that sold nothing for `days` days; never sold first."""
    found = await analytics.slow_movers(ctx.uow, ctx.principal, query.shop, query.days, query.limit)
    results = [SlowMoverOut.of(s) for s in found]
    if query.table_format is not None:
        return table_response(
            query.table_format,
            "slow-movers",
            ("product", "name", "on_hand", "last_sold_at"),
            ([str(s.product), s.name, s.on_hand, s.last_sold_at] for s in results),
        )
    return SlowMoverList(results=results)


def _rfm_response(query: ExportQuery, out: RfmOut, name: str) -> RfmOut | Response:
    if query.table_format is not None:
        return table_response(query.table_format, name, RFM_HEADERS, rfm_rows(out))
    return out


# Write units of work: the first read of a tenant that has no scores yet scores it.
@api.get("/api/analytics/rfm/", tag=TAG, permission=REPORTS, write=True)
async def rfm(ctx: Ctx, query: RfmQuery) -> RfmOut | Response:
    """RFM scores (1-5) and the eleven segments of every customer who bought in the last
    year, refreshed daily; `segment` filters the rows."""
    segments = (query.segment,) if query.segment else ()
    out = RfmOut.of(await analytics.rfm(ctx.uow, ctx.principal, segments))
    return _rfm_response(query, out, "rfm")


@api.get("/api/analytics/at-risk/", tag=TAG, permission=REPORTS, write=True)
async def at_risk_customers(ctx: Ctx, query: ExportQuery) -> RfmOut | Response:
    """Customers slipping away (Can't Lose Them, At Risk, About to Sleep), the most
    valuable first."""
    out = RfmOut.of(await analytics.at_risk_customers(ctx.uow, ctx.principal))
    return _rfm_response(query, out, "at-risk")


@api.get("/api/analytics/stock-snapshots/", tag=TAG, permission=REPORTS)
async def stock_snapshot(ctx: Ctx, query: SnapshotQuery) -> SnapshotList | Response:
    """The shop's stock as the worker recorded it on a day (quantity and value)."""
    snapshot = await analytics.stock_snapshot(ctx.uow, ctx.principal, query.shop, query.date)
    results = [
        SnapshotRowOut(
            product=snap.product_id,
            name=name,
            on_hand=snap.on_hand,
            reserved=snap.reserved,
            value=snap.value,
            taken_at=snap.taken_at,
        )
        for snap, name in snapshot.rows
    ]
    if query.table_format is not None:
        return table_response(
            query.table_format,
            f"stock-{query.date}",
            ("product", "name", "on_hand", "reserved", "value", "taken_at"),
            ([str(r.product), r.name, r.on_hand, r.reserved, r.value, r.taken_at] for r in results),
        )
    header = snapshot.day
    return SnapshotList(
        date=header.day,
        taken_at=header.taken_at,
        products=header.products,
        value=header.value,
        results=results,
    )
