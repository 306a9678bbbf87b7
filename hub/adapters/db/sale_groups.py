"""Set-based statements for a group of carts paid together (PostgreSQL only).

The reads and updates of `hub.services.sale_groups`: one statement for the whole group
per kind of row. The rows a sale adds (the sale, its lines and payments, stock
movements, the receipt job) go through the ORM session, whose flush inserts each
table's rows in one statement.

Lock order, every writer's: shifts, carts, registers, stock levels (by product, then
shop), batches.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hub.adapters.db.cart_groups import CartGroupStatements, LockedShift, columns
from hub.adapters.db.catalogue_tables import StockMovement
from hub.adapters.db.job_tables import DeviceJob
from hub.adapters.db.sales_tables import Sale, SaleLine, SalePayment
from hub.domain.stock import BatchView


@dataclass
class LockedBatch:
    """A batch with goods left, locked; `remaining` as the group's sales leave it."""

    id: uuid.UUID
    shop_id: uuid.UUID
    product_id: uuid.UUID
    remaining: Decimal
    expiry_date: date | None
    received_at: datetime
    changed: bool = False

    def view(self) -> BatchView:
        return BatchView(self.id, self.remaining, self.expiry_date, self.received_at)


@dataclass(frozen=True)
class ShiftSales:
    """What a group adds to one shift's running totals (one sale: a shift has one cart)."""

    shift_id: uuid.UUID
    total: Decimal
    discounts: Decimal
    number: int
    tenders: dict[str, Decimal]


class SaleGroupStatements(CartGroupStatements):
    async def lock_shifts_of_carts(
        self, carts: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, LockedShift]:
        """The carts' shifts, locked in id order (a sale's first lock); a shift another
        transaction holds is left out, not waited for."""
        rows = await self._rows(
            f"SELECT id, shop_id, register_id, cashier_id, status FROM {self._shifts}"
            f" WHERE id IN (SELECT shift_id FROM {self._carts} WHERE id = ANY($1::uuid[]))"
            " ORDER BY id FOR UPDATE SKIP LOCKED",
            list(carts),
        )
        return {row[0]: LockedShift(*row) for row in rows}

    async def keys_taken(self, keys: Iterable[str]) -> set[str]:
        rows = await self._rows(
            f"SELECT idempotency_key FROM {self._sales} WHERE idempotency_key = ANY($1::text[])",
            list(keys),
        )
        return {row[0] for row in rows}

    async def lock_registers(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Each register's next receipt number, the row locked in id order; one another
        transaction holds is left out (its sale goes the other way)."""
        rows = await self._rows(
            f"SELECT id, next_receipt_number FROM {self._registers}"
            " WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE SKIP LOCKED",
            sorted(set(ids)),
        )
        return {row[0]: row[1] for row in rows}

    async def lock_batches(
        self, keys: Sequence[tuple[uuid.UUID, uuid.UUID]]
    ) -> dict[tuple[uuid.UUID, uuid.UUID], list[LockedBatch]]:
        """The batches with goods left of each (shop, product), locked: waited for, not
        skipped, for a batch left out would be a wrong allocation; every writer of a
        batch holds its level first, and the group holds those."""
        shops, products = zip(*keys, strict=True) if keys else ((), ())
        rows = await self._rows(
            "SELECT b.id, b.shop_id, b.product_id, b.remaining, b.expiry_date, b.received_at"
            f" FROM {self._batches} b JOIN unnest($1::uuid[], $2::uuid[]) AS k(s, p)"
            " ON b.shop_id = k.s AND b.product_id = k.p WHERE b.remaining > 0"
            " ORDER BY b.product_id, b.id FOR UPDATE OF b",
            list(shops),
            list(products),
        )
        found: dict[tuple[uuid.UUID, uuid.UUID], list[LockedBatch]] = {}
        for row in rows:
            found.setdefault((row[1], row[2]), []).append(LockedBatch(*row))
        return found

    async def save_sold_levels(self, levels: Sequence[Any], now: datetime) -> None:
        await self._execute(
            f"UPDATE {self._levels} l SET on_hand = v.o, reserved = v.r, updated_at = $1"
            " FROM unnest($2::uuid[], $3::uuid[], $4::numeric[], $5::numeric[]) AS v(s, p, o, r)"
            " WHERE l.shop_id = v.s AND l.product_id = v.p",
            now,
            *columns(levels, "shop_id product_id on_hand reserved"),
        )

    async def save_batches(self, batches: Sequence[LockedBatch]) -> None:
        await self._execute(
            f"UPDATE {self._batches} b SET remaining = v.r"
            " FROM unnest($1::uuid[], $2::numeric[]) AS v(i, r) WHERE b.id = v.i",
            [b.id for b in batches],
            [b.remaining for b in batches],
        )

    async def drop_all_holds(self, holders: Sequence[uuid.UUID]) -> None:
        await self._execute(
            f"DELETE FROM {self._holds} WHERE holder_id = ANY($1::uuid[])", list(holders)
        )

    async def save_registers(self, next_numbers: dict[uuid.UUID, int]) -> None:
        ids = sorted(next_numbers)
        await self._execute(
            f"UPDATE {self._registers} r SET next_receipt_number = v.n"
            " FROM unnest($1::uuid[], $2::int[]) AS v(i, n) WHERE r.id = v.i",
            ids,
            [next_numbers[i] for i in ids],
        )

    async def add_to_shifts(self, sales: Sequence[ShiftSales]) -> None:
        """Each shift's running totals and receipt numbers, and its per-method totals
        (a row made when the method is new to the shift)."""
        await self._execute(
            f"UPDATE {self._shifts} s SET receipts = s.receipts + 1,"
            " sales_total = s.sales_total + v.t, discounts_total = s.discounts_total + v.d,"
            " first_receipt = coalesce(s.first_receipt, v.n), last_receipt = v.n"
            " FROM unnest($1::uuid[], $2::numeric[], $3::numeric[], $4::int[]) AS v(i, t, d, n)"
            " WHERE s.id = v.i",
            *columns(sales, "shift_id total discounts number"),
        )
        tenders = sorted(
            (x.shift_id, method, amount) for x in sales for method, amount in x.tenders.items()
        )
        await self._execute(
            f"INSERT INTO {self._method_totals} (shift_id, method, sales, refunds, count)"
            " SELECT i, m, a, 0, 1 FROM unnest($1::uuid[], $2::text[], $3::numeric[])"
            " AS v(i, m, a) ON CONFLICT (shift_id, method) DO UPDATE"
            f" SET sales = {self._method_totals}.sales + excluded.sales,"
            f" count = {self._method_totals}.count + 1",
            [t[0] for t in tenders],
            [t[1] for t in tenders],
            [t[2] for t in tenders],
        )

    async def close_paid_carts(
        self, paid: Sequence[tuple[uuid.UUID, uuid.UUID, int, datetime]]
    ) -> None:
        """(cart, its sale, its new version, when): paid and closed."""
        result = await self._conn.exec_driver_sql(
            f"UPDATE {self._carts} c SET status = 'paid', sale_id = v.s, version = v.n,"
            " updated_at = v.t, closed_at = v.t"
            " FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::timestamptz[]) AS v(i, s, n, t)"
            " WHERE c.id = v.i AND c.version = v.n - 1 AND c.status = 'open'",
            tuple([p[k] for p in paid] for k in range(4)),
        )
        if result.rowcount != len(paid):
            raise RuntimeError("a locked cart changed under its lock")

    async def insert_sales(
        self,
        sales: Sequence[Sale],
        lines: Sequence[SaleLine],
        payments: Sequence[SalePayment],
        movements: Sequence[StockMovement],
        jobs: Sequence[DeviceJob],
    ) -> None:
        """The rows the group's sales add, one statement per table."""
        await self._execute(
            f"INSERT INTO {self._sales} (id, idempotency_key, request_digest, shop_id,"
            " register_id, shift_id, number, cashier_id, customer_id, subtotal, discount_total,"
            " receipt_discount, receipt_discount_percent, total, tendered_cash, change,"
            " bonus_accrued, created_at, receipt_status) SELECT *, 'pending' FROM unnest("
            "$1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::uuid[], $7::int[],"
            " $8::uuid[], $9::uuid[], $10::numeric[], $11::numeric[], $12::numeric[],"
            " $13::numeric[], $14::numeric[], $15::numeric[], $16::numeric[], $17::numeric[],"
            " $18::timestamptz[])",
            *columns(
                sales,
                "id idempotency_key request_digest shop_id register_id shift_id number"
                " cashier_id customer_id subtotal discount_total receipt_discount"
                " receipt_discount_percent total tendered_cash change bonus_accrued created_at",
            ),
        )
        await self._execute(
            f"INSERT INTO {self._sale_lines} (id, sale_id, position, product_id, name, unit,"
            " vat_rate, price, quantity, amount, line_discount, receipt_discount, total, cost)"
            " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::uuid[], $5::text[],"
            " $6::text[], $7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[],"
            " $11::numeric[], $12::numeric[], $13::numeric[], $14::numeric[])",
            *columns(
                lines,
                "id sale_id position product_id name unit vat_rate price quantity amount"
                " line_discount receipt_discount total cost",
            ),
        )
        await self._execute(
            f"INSERT INTO {self._sale_payments} (sale_id, method, amount)"
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::numeric[])",
            *columns(payments, "sale_id method amount"),
        )
        await self._execute(
            f"INSERT INTO {self._movements} (id, shop_id, product_id, batch_id, kind, quantity,"
            " reason, ref_id, sale_id, user_id, created_at) SELECT * FROM unnest($1::uuid[],"
            " $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::numeric[], $7::text[],"
            " $8::uuid[], $9::uuid[], $10::uuid[], $11::timestamptz[])",
            *columns(
                movements,
                "id shop_id product_id batch_id kind quantity reason ref_id sale_id user_id"
                " created_at",
            ),
        )
        await self._execute(
            f"INSERT INTO {self._jobs} (id, shop_id, kind, ref_id, payload, status, attempts,"
            " device_id, created_at, updated_at) SELECT i, s, k, r, p::jsonb, st, a, d, c, u"
            " FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[],"
            " $6::text[], $7::int[], $8::uuid[], $9::timestamptz[], $10::timestamptz[])"
            " AS v(i, s, k, r, p, st, a, d, c, u)",
            *columns(jobs, "id shop_id kind ref_id"),
            [json.dumps(j.payload) for j in jobs],
            *columns(jobs, "status attempts device_id created_at updated_at"),
        )

    async def _execute(self, sql: str, *params: Any) -> None:
        await self._conn.exec_driver_sql(sql, params)
