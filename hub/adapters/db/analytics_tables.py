"""Analytics tables: what the periodic worker keeps. A closed day's sales report per shop,
a daily stock snapshot per shop and product, and the latest RFM scores per customer.

Open days are computed from the sales tables when asked; a day is closed (stored here)
by the worker after it ends in the shop's time zone, and read from here from then on."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.adapters.db.tables import Shop, TenantBase
from hub.adapters.db.types import JsonDocument, Money, Quantity, utcnow


class DailyReport(TenantBase):
    __tablename__ = "daily_reports"

    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # The whole report as the API shows it (money as decimal strings): a closed day
    # never changes, so it is kept as one document.
    report: Mapped[Any] = mapped_column(JsonDocument)
    closed_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockSnapshotDay(TenantBase):
    """That a shop's stock was recorded on a day (even with nothing in stock), and its
    totals; the rows are in `stock_snapshots`."""

    __tablename__ = "stock_snapshot_days"

    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    products: Mapped[int] = mapped_column(Integer)
    value: Mapped[Decimal] = mapped_column(Money())
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockSnapshot(TenantBase):
    __tablename__ = "stock_snapshots"

    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    on_hand: Mapped[Decimal] = mapped_column(Quantity())
    reserved: Mapped[Decimal] = mapped_column(Quantity())
    # on hand at the cost of the batches holding it
    value: Mapped[Decimal] = mapped_column(Money())
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerRfm(TenantBase):
    __tablename__ = "customer_rfm"

    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    days_since_last: Mapped[int] = mapped_column(Integer)
    orders: Mapped[int] = mapped_column(Integer)
    spent: Mapped[Decimal] = mapped_column(Money())
    r: Mapped[int] = mapped_column(Integer)
    f: Mapped[int] = mapped_column(Integer)
    m: Mapped[int] = mapped_column(Integer)
    segment: Mapped[str] = mapped_column(String(32), index=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
