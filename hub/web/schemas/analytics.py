from __future__ import annotations

import datetime as dt
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from hub.domain.reports import ProductFigures
from hub.domain.rfm import LABELS, Segment
from hub.services.analytics import RfmResult, RfmRow, SlowMover
from hub.web.export import ExportQuery
from hub.web.schemas.common import Day

# --- daily reports ------------------------------------------------------------------------


class DailyQuery(ExportQuery):
    shop: uuid.UUID
    date: Day | None = Field(default=None, description="default: today in the shop")


class DailyRangeQuery(ExportQuery):
    shop: uuid.UUID
    date_from: Day
    date_to: Day


class MethodTotals(BaseModel):
    sales: Decimal
    refunds: Decimal
    net: Decimal


class ReturnsTotals(BaseModel):
    count: int
    total: Decimal


class HourTotals(BaseModel):
    hour: int = Field(description="the shop's local hour, 0-23")
    receipts: int
    revenue: Decimal


class DailyReportOut(BaseModel):
    shop: uuid.UUID
    date: dt.date
    timezone: str
    status: Literal["open", "closed"] = Field(
        description="open: computed now from the sales; closed: stored after the day ended"
    )
    closed_at: datetime | None
    receipts: int
    revenue: Decimal = Field(description="the receipts' totals, after discounts")
    discounts: Decimal
    average_ticket: Decimal | None
    returns: ReturnsTotals
    net_revenue: Decimal = Field(description="revenue - returns")
    cost: Decimal = Field(description="cost of the goods sold, less those returned")
    gross_margin: Decimal
    margin_percent: Decimal | None
    payments: dict[str, MethodTotals]
    by_hour: list[HourTotals]

    @classmethod
    def of(cls, document: dict[str, Any]) -> DailyReportOut:
        return cls.model_validate(document)


class DailyReportList(BaseModel):
    results: list[DailyReportOut]


DAILY_HEADERS = (
    "date",
    "status",
    "receipts",
    "revenue",
    "discounts",
    "average_ticket",
    "returns",
    "returns_total",
    "net_revenue",
    "cost",
    "gross_margin",
    "margin_percent",
)


def daily_table(reports: list[DailyReportOut]) -> tuple[list[str], list[list[Any]]]:
    """One row per day; a net column per payment method that any of the days used."""
    methods = sorted({m for r in reports for m in r.payments})
    headers = [*DAILY_HEADERS, *(f"net_{m}" for m in methods)]
    rows = [
        [
            r.date,
            r.status,
            r.receipts,
            r.revenue,
            r.discounts,
            r.average_ticket,
            r.returns.count,
            r.returns.total,
            r.net_revenue,
            r.cost,
            r.gross_margin,
            r.margin_percent,
            *(r.payments[m].net if m in r.payments else Decimal("0.00") for m in methods),
        ]
        for r in reports
    ]
    return headers, rows


# --- products -----------------------------------------------------------------------------


class ProductsQuery(ExportQuery):
    shop: uuid.UUID | None = Field(default=None, description="default: every shop you see")
    date_from: Day | None = Field(default=None, description="default: 29 days before date_to")
    date_to: Day | None = Field(default=None, description="default: today")
    order_by: Literal["revenue", "units", "margin"] = "revenue"
    limit: int = Field(default=10, ge=1, le=1000)


class ProductOut(BaseModel):
    product: uuid.UUID
    name: str
    units: Decimal = Field(description="sold less returned")
    revenue: Decimal
    cost: Decimal
    margin: Decimal
    margin_percent: Decimal | None

    @classmethod
    def of(cls, p: ProductFigures) -> ProductOut:
        return cls(
            product=p.product_id,
            name=p.name,
            units=p.units,
            revenue=p.revenue,
            cost=p.cost,
            margin=p.margin,
            margin_percent=p.margin_percent,
        )


class ProductList(BaseModel):
    results: list[ProductOut]


class SlowQuery(ExportQuery):
    shop: uuid.UUID
    days: int = Field(default=30, ge=1, le=3650, description="no sale for this many days")
    limit: int = Field(default=100, ge=1, le=1000)


class SlowMoverOut(BaseModel):
    product: uuid.UUID
    name: str
    on_hand: Decimal
    last_sold_at: datetime | None = Field(description="null: never sold in this shop")

    @classmethod
    def of(cls, s: SlowMover) -> SlowMoverOut:
        return cls(
            product=s.product_id, name=s.name, on_hand=s.on_hand, last_sold_at=s.last_sold_at
        )


class SlowMoverList(BaseModel):
    results: list[SlowMoverOut]


# --- customers ----------------------------------------------------------------------------


class RfmQuery(ExportQuery):
    segment: Segment | None = None


class RfmCustomerOut(BaseModel):
    customer: uuid.UUID
    name: str
    phone: str | None
    days_since_last: int
    orders: int
    spent: Decimal = Field(description="paid less refunded, over the last year")
    r: int
    f: int
    m: int
    segment: Segment
    segment_label: str

    @classmethod
    def of(cls, row: RfmRow) -> RfmCustomerOut:
        s = row.scores
        return cls(
            customer=row.customer.id,
            name=row.customer.name,
            phone=row.customer.phone,
            days_since_last=s.days_since_last,
            orders=s.orders,
            spent=s.spent,
            r=s.r,
            f=s.f,
            m=s.m,
            segment=Segment(s.segment),
            segment_label=LABELS[Segment(s.segment)],
        )


class RfmOut(BaseModel):
    computed_at: datetime | None
    segments: dict[str, int] = Field(description="every segment and its customer count")
    results: list[RfmCustomerOut]

    @classmethod
    def of(cls, result: RfmResult) -> RfmOut:
        return cls(
            computed_at=result.computed_at,
            segments=result.segments,
            results=[RfmCustomerOut.of(r) for r in result.rows],
        )


RFM_HEADERS = (
    "customer",
    "name",
    "phone",
    "days_since_last",
    "orders",
    "spent",
    "r",
    "f",
    "m",
    "segment",
)


def rfm_rows(out: RfmOut) -> list[list[Any]]:
    return [
        [
            str(c.customer),
            c.name,
            c.phone or "",
            c.days_since_last,
            c.orders,
            c.spent,
            c.r,
            c.f,
            c.m,
            c.segment_label,
        ]
        for c in out.results
    ]


# --- stock snapshots ----------------------------------------------------------------------


class SnapshotQuery(ExportQuery):
    shop: uuid.UUID
    date: Day


class SnapshotRowOut(BaseModel):
    product: uuid.UUID
    name: str
    on_hand: Decimal
    reserved: Decimal
    value: Decimal = Field(description="on hand at the cost of the batches holding it")
    taken_at: datetime


class SnapshotList(BaseModel):
    date: dt.date
    taken_at: datetime
    products: int
    value: Decimal = Field(description="the whole stock at batch cost")
    results: list[SnapshotRowOut]
