"""Queries behind the reports: sales, returns and stock read in bulk, per shop and period.

Sums of money and quantities are done in SQL only where the column's own type comes back
(a SUM of one column); anything multiplied (a returned line's share of its cost, stock
at batch cost) is computed in Python from the rows, exactly."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import ColumnElement, Integer, delete, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from hub.adapters.db.analytics_tables import (
    CustomerRfm,
    DailyReport,
    StockSnapshot,
    StockSnapshotDay,
)
from hub.adapters.db.catalogue_tables import Batch, Product, StockLevel
from hub.adapters.db.customer_tables import Customer
from hub.adapters.db.sales_tables import (
    ReturnLine,
    ReturnPayment,
    Sale,
    SaleLine,
    SalePayment,
    SaleReturn,
)

ZERO = Decimal("0")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC, and the shops (None: all)."""

    start: datetime
    end: datetime
    shops: frozenset[uuid.UUID] | None


@dataclass(frozen=True)
class SalesSlot:
    """The receipts of one quarter hour, from `start` (UTC)."""

    start: datetime
    receipts: int
    total: Decimal
    discount: Decimal


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ReturnedLine:
    """A returned quantity with the unit cost its sale line recorded."""

    product_id: uuid.UUID
    name: str
    quantity: Decimal
    refund: Decimal
    unit_cost: Decimal

    @property
    def cost(self) -> Decimal:
        return _cents(self.unit_cost * self.quantity)


@dataclass(frozen=True)
class ProductSales:
    product_id: uuid.UUID
    name: str
    units: Decimal
    revenue: Decimal
    cost: Decimal


def _among(
    column: InstrumentedAttribute[uuid.UUID], shops: frozenset[uuid.UUID] | None
) -> ColumnElement[bool]:
    return true() if shops is None else column.in_(list(shops))


def _sales_in(period: Period) -> tuple[ColumnElement[bool], ...]:
    return (
        Sale.created_at >= period.start,
        Sale.created_at < period.end,
        _among(Sale.shop_id, period.shops),
    )


def _returns_in(period: Period) -> tuple[ColumnElement[bool], ...]:
    return (
        SaleReturn.created_at >= period.start,
        SaleReturn.created_at < period.end,
        _among(SaleReturn.shop_id, period.shops),
    )


QUARTER_HOUR = 900  # seconds: every time zone's offset is a whole number of them


class Analytics:
    def __init__(self, session: AsyncSession, *, postgres: bool) -> None:
        self._session = session
        self._postgres = postgres

    async def try_lock(self, name: str) -> bool:
        """Whether this transaction got the lock called `name` (held until it ends).
        PostgreSQL: an advisory lock, not waited for. SQLite: a writing transaction holds
        the database already, so it always has it."""
        if not self._postgres:
            return True
        key = int.from_bytes(
            hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
        )
        got = await self._session.scalar(select(func.pg_try_advisory_xact_lock(key)))
        return bool(got)

    # --- sales and returns of a period ----------------------------------------------------

    async def sales_by_quarter_hour(self, period: Period) -> list[SalesSlot]:
        """Receipts, totals and discounts per UTC quarter hour, summed in the database:
        a day is at most a hundred rows however many receipts it had, and any time
        zone's local hours are made of whole quarter hours."""
        epoch = (
            func.extract("epoch", Sale.created_at)
            if self._postgres
            else func.cast(func.strftime("%s", Sale.created_at), Integer)
        )
        slot = func.floor(epoch / QUARTER_HOUR).label("slot")
        rows = await self._session.execute(
            select(slot, func.count(), func.sum(Sale.total), func.sum(Sale.discount_total))
            .where(*_sales_in(period))
            .group_by(slot)
        )
        return [
            SalesSlot(datetime.fromtimestamp(int(n) * QUARTER_HOUR, UTC), count, total, discount)
            for n, count, total, discount in rows
        ]

    async def cost_of_sales(self, period: Period) -> Decimal:
        """Each line's quantity at the unit cost it recorded (the product's, when sold)."""
        rows = await self._session.execute(
            select(SaleLine.cost, func.sum(SaleLine.quantity))
            .join(Sale, Sale.id == SaleLine.sale_id)
            .where(*_sales_in(period))
            .group_by(SaleLine.cost)
        )
        return _cents(sum((cost * (units or ZERO) for cost, units in rows), ZERO))

    async def payments_by_method(self, period: Period) -> dict[str, Decimal]:
        rows = await self._session.execute(
            select(SalePayment.method, func.sum(SalePayment.amount))
            .join(Sale, Sale.id == SalePayment.sale_id)
            .where(
                *_sales_in(period),
            )
            .group_by(SalePayment.method)
        )
        return {method: amount or ZERO for method, amount in rows}

    async def returns(self, period: Period) -> tuple[int, Decimal]:
        """How many returns, and their refunds."""
        count, refunds = (
            await self._session.execute(
                select(func.count(), func.sum(SaleReturn.refund_total)).where(*_returns_in(period))
            )
        ).one()
        return int(count), refunds or ZERO

    async def refunds_by_method(self, period: Period) -> dict[str, Decimal]:
        rows = await self._session.execute(
            select(ReturnPayment.method, func.sum(ReturnPayment.amount))
            .join(SaleReturn, SaleReturn.id == ReturnPayment.return_id)
            .where(
                *_returns_in(period),
            )
            .group_by(ReturnPayment.method)
        )
        return {method: amount or ZERO for method, amount in rows}

    async def returned_lines(self, period: Period) -> list[ReturnedLine]:
        rows = await self._session.execute(
            select(
                ReturnLine.product_id,
                SaleLine.name,
                ReturnLine.quantity,
                ReturnLine.refund,
                SaleLine.cost,
            )
            .join(SaleReturn, SaleReturn.id == ReturnLine.return_id)
            .join(SaleLine, SaleLine.id == ReturnLine.sale_line_id)
            .where(
                *_returns_in(period),
            )
        )
        return [ReturnedLine(*row) for row in rows]

    async def sales_by_product(self, period: Period) -> list[ProductSales]:
        """Per product: units, revenue and cost (each line at the unit cost it recorded)."""
        rows = await self._session.execute(
            select(
                SaleLine.product_id,
                SaleLine.cost,
                func.max(SaleLine.name),
                func.sum(SaleLine.quantity),
                func.sum(SaleLine.total),
            )
            .join(Sale, Sale.id == SaleLine.sale_id)
            .where(*_sales_in(period))
            .group_by(SaleLine.product_id, SaleLine.cost)
        )
        merged: dict[uuid.UUID, ProductSales] = {}
        for product_id, unit_cost, name, units, revenue in rows:
            units, revenue = units or ZERO, revenue or ZERO
            was = merged.get(product_id)
            merged[product_id] = ProductSales(
                product_id,
                name,
                units + (was.units if was else ZERO),
                revenue + (was.revenue if was else ZERO),
                _cents(unit_cost * units) + (was.cost if was else ZERO),
            )
        return list(merged.values())

    # --- stock ----------------------------------------------------------------------------

    async def slow_movers(
        self, shop_id: uuid.UUID, since: datetime, limit: int
    ) -> list[tuple[uuid.UUID, str, Decimal, datetime | None]]:
        """(product, name, on hand, last sold) of products in stock in the shop that sold
        nothing since `since`; never sold first, then the longest unsold."""
        last_sold = (
            select(SaleLine.product_id, func.max(Sale.created_at).label("at"))
            .join(Sale, Sale.id == SaleLine.sale_id)
            .where(Sale.shop_id == shop_id)
            .group_by(SaleLine.product_id)
            .subquery()
        )
        query = (
            select(StockLevel.product_id, Product.name, StockLevel.on_hand, last_sold.c.at)
            .join(Product, Product.id == StockLevel.product_id)
            .outerjoin(last_sold, last_sold.c.product_id == StockLevel.product_id)
            .where(
                StockLevel.shop_id == shop_id,
                StockLevel.on_hand > 0,
                (last_sold.c.at.is_(None)) | (last_sold.c.at < since),
            )
            .order_by(last_sold.c.at.is_not(None), last_sold.c.at, Product.name)
            .limit(limit)
        )
        return [(p, n, q, at) for p, n, q, at in await self._session.execute(query)]

    async def stock_levels(self, shop_id: uuid.UUID) -> list[tuple[uuid.UUID, Decimal, Decimal]]:
        rows = await self._session.execute(
            select(StockLevel.product_id, StockLevel.on_hand, StockLevel.reserved).where(
                StockLevel.shop_id == shop_id,
                (StockLevel.on_hand != 0) | (StockLevel.reserved != 0),
            )
        )
        return [(p, on_hand, reserved) for p, on_hand, reserved in rows]

    async def stock_value(self, shop_id: uuid.UUID) -> dict[uuid.UUID, Decimal]:
        rows = await self._session.execute(
            select(Batch.product_id, Batch.remaining, Batch.cost).where(
                Batch.shop_id == shop_id, Batch.remaining > 0
            )
        )
        value: dict[uuid.UUID, Decimal] = {}
        for product_id, remaining, cost in rows:
            value[product_id] = value.get(product_id, ZERO) + remaining * cost
        return {p: v.quantize(Decimal("0.01")) for p, v in value.items()}

    # --- customers ------------------------------------------------------------------------

    async def customer_purchases(
        self, since: datetime
    ) -> list[tuple[uuid.UUID, datetime, int, Decimal]]:
        """(customer, last purchase, receipts, spent) of customers who bought since."""
        rows = await self._session.execute(
            select(Sale.customer_id, func.max(Sale.created_at), func.count(), func.sum(Sale.total))
            .where(Sale.customer_id.is_not(None), Sale.created_at >= since)
            .group_by(Sale.customer_id)
        )
        return [(c, at, n, spent or ZERO) for c, at, n, spent in rows if c is not None]

    async def has_customer_sales(self) -> bool:
        found = await self._session.scalar(
            select(Sale.id).where(Sale.customer_id.is_not(None)).limit(1)
        )
        return found is not None

    async def customer_refunds(self, since: datetime) -> dict[uuid.UUID, Decimal]:
        rows = await self._session.execute(
            select(Sale.customer_id, func.sum(SaleReturn.refund_total))
            .join(Sale, Sale.id == SaleReturn.sale_id)
            .where(Sale.customer_id.is_not(None), Sale.created_at >= since)
            .group_by(Sale.customer_id)
        )
        return {c: refund or ZERO for c, refund in rows if c is not None}

    async def customers(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Customer]:
        wanted = list(ids)
        if not wanted:
            return {}
        found = await self._session.scalars(select(Customer).where(Customer.id.in_(wanted)))
        return {c.id: c for c in found}

    # --- what the worker keeps ------------------------------------------------------------

    async def daily_report(self, shop_id: uuid.UUID, day: date) -> DailyReport | None:
        return await self._session.get(DailyReport, (shop_id, day))

    def add_daily_report(self, report: DailyReport) -> None:
        self._session.add(report)

    async def snapshot_day(self, shop_id: uuid.UUID, day: date) -> StockSnapshotDay | None:
        return await self._session.get(StockSnapshotDay, (shop_id, day))

    def add_snapshot(self, header: StockSnapshotDay, rows: Sequence[StockSnapshot]) -> None:
        self._session.add(header)
        self._session.add_all(rows)

    async def snapshot(self, shop_id: uuid.UUID, day: date) -> list[tuple[StockSnapshot, str]]:
        rows = await self._session.execute(
            select(StockSnapshot, Product.name)
            .join(Product, Product.id == StockSnapshot.product_id)
            .where(StockSnapshot.shop_id == shop_id, StockSnapshot.day == day)
            .order_by(Product.name, StockSnapshot.product_id)
        )
        return [(snap, name) for snap, name in rows]

    async def rfm(self, segment: str | None = None) -> list[CustomerRfm]:
        query = select(CustomerRfm)
        if segment is not None:
            query = query.where(CustomerRfm.segment == segment)
        return list(await self._session.scalars(query))

    async def rfm_computed_at(self) -> datetime | None:
        return await self._session.scalar(select(func.max(CustomerRfm.computed_at)))

    async def replace_rfm(self, rows: Sequence[CustomerRfm]) -> None:
        await self._session.execute(delete(CustomerRfm))
        self._session.add_all(rows)
