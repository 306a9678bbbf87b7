"""Set-based statements for a group of carts paid together (PostgreSQL only).

The reads and writes of `hub.services.sale_groups`, two statements for the whole
group whatever its size: one locks and reads everything the group's sales need
(`lock_pays`), one writes everything they make (`write_sales`).

Lock order, every writer's: shifts, carts, registers, stock levels (by product, then
shop), batches. Shifts, carts, registers and levels are skipped when held, never
waited for; within the one statement each set is locked only from the rows of the set
before it, so the order holds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hub.adapters.db.cart_groups import (
    CART_COLUMNS,
    CART_COLUMNS_OF_C,
    CartGroupStatements,
    HoldKey,
    LockedLevel,
    LockedShift,
    Statement,
    cart_of,
    columns,
    json_text,
    product_of,
)
from hub.adapters.db.cart_tables import Cart
from hub.adapters.db.catalogue_tables import Product, StockMovement
from hub.adapters.db.job_tables import DeviceJob
from hub.adapters.db.sales_tables import Sale, SaleLine, SalePayment
from hub.adapters.db.tables import SHARED_SCHEMA
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


@dataclass
class LockedRegister:
    id: uuid.UUID
    name: str
    next_number: int  # the next receipt's, as the group's sales leave it


@dataclass
class BusinessName:
    name: str


@dataclass
class ShopNames:
    id: uuid.UUID
    name: str
    address: str
    timezone: str


@dataclass
class CashierName:
    username: str
    full_name: str


# What a receipt's header names: the business, its shop and its cashier.
HeaderNames = tuple[BusinessName, ShopNames | None, CashierName | None]
Agents = dict[uuid.UUID, list[Any]]  # a shop's agents not revoked, with their devices


@dataclass(frozen=True)
class ShiftSales:
    """What a group adds to one shift's running totals (one sale: a shift has one cart)."""

    shift_id: uuid.UUID
    total: Decimal
    discounts: Decimal
    number: int
    tenders: dict[str, Decimal]


@dataclass
class PayGroupRows:
    """What a group of pays reads, from one statement (`SaleGroupStatements.lock_pays`)."""

    carts: dict[uuid.UUID, tuple[Cart, LockedShift]]  # locked, with their shifts locked
    keys_taken: set[str]  # of the pays' idempotency keys, those a sale already has
    registers: dict[uuid.UUID, LockedRegister]  # of the carts' shifts, locked
    levels: dict[tuple[uuid.UUID, uuid.UUID], LockedLevel]  # (shop, product), locked
    batches: dict[tuple[uuid.UUID, uuid.UUID], list[LockedBatch]]  # of the levels held
    holds: dict[HoldKey, Decimal]  # the carts' reservations
    products: dict[uuid.UUID, Product]  # of the carts' lines
    agents: dict[uuid.UUID, Agents]  # each shop's, none: {}
    names: dict[tuple[uuid.UUID, uuid.UUID], HeaderNames]  # by (shop, cashier)


class SaleGroupStatements(CartGroupStatements):
    def _lock_pays_sql(self) -> str:
        return (
            # Shifts first (those held elsewhere skipped), then the carts of the shifts
            # locked: a cart whose shift is held is never locked, not even for a moment.
            "WITH s AS (SELECT id, shop_id, register_id, cashier_id, status, number"
            f" FROM {self._shifts} WHERE id IN (SELECT shift_id FROM {self._carts}"
            " WHERE id = ANY($1::uuid[])) ORDER BY id FOR UPDATE SKIP LOCKED),"
            f" c AS (SELECT {CART_COLUMNS_OF_C}, s.id AS s_id, s.shop_id AS s_shop,"
            " s.register_id AS s_register, s.cashier_id AS s_cashier, s.status AS s_status,"
            f" s.number AS s_number FROM {self._carts} c JOIN s ON s.id = c.shift_id"
            " WHERE c.id = ANY($1::uuid[]) ORDER BY c.id FOR UPDATE OF c SKIP LOCKED),"
            f" r AS (SELECT id, name, next_receipt_number FROM {self._registers}"
            " WHERE id IN (SELECT s_register FROM c) ORDER BY id FOR UPDATE SKIP LOCKED),"
            " w AS (SELECT DISTINCT c.shop_id AS s, (e->>'product')::uuid AS p"
            " FROM c, jsonb_array_elements(c.lines) AS e),"
            " lv AS (SELECT l.shop_id, l.product_id, l.on_hand, l.reserved, EXISTS (SELECT 1"
            f" FROM {self._batches} b WHERE b.shop_id = l.shop_id AND b.product_id ="
            " l.product_id AND b.remaining > 0 AND b.expiry_date IS NOT NULL) AS dated"
            f" FROM {self._levels} l JOIN w ON l.shop_id = w.s AND l.product_id = w.p"
            " ORDER BY l.product_id, l.shop_id FOR UPDATE OF l SKIP LOCKED),"
            # Only the batches of levels held here, and those waited for: every writer
            # of a batch holds its level first.
            " b AS (SELECT b.id, b.shop_id, b.product_id, b.remaining, b.expiry_date,"
            f" b.received_at FROM {self._batches} b JOIN lv ON b.shop_id = lv.shop_id"
            " AND b.product_id = lv.product_id WHERE b.remaining > 0"
            " ORDER BY b.product_id, b.id FOR UPDATE OF b),"
            " k AS (SELECT DISTINCT c.shop_id AS s, coalesce(v.u, c.s_cashier) AS u FROM c"
            " JOIN unnest($1::uuid[], $2::uuid[]) AS v(c, u) ON v.c = c.id)"
            " SELECT ARRAY(SELECT ROW(c.*) FROM c ORDER BY c.id),"
            f" ARRAY(SELECT idempotency_key FROM {self._sales}"
            " WHERE idempotency_key = ANY($3::text[])),"
            " ARRAY(SELECT ROW(r.*) FROM r), ARRAY(SELECT ROW(lv.*) FROM lv),"
            " ARRAY(SELECT ROW(b.*) FROM b ORDER BY b.product_id, b.id),"
            " ARRAY(SELECT ROW(holder_id, shop_id, product_id, quantity)"
            f" FROM {self._holds} WHERE holder_id IN (SELECT id FROM c)),"
            " ARRAY(SELECT ROW(id, name, sku, unit, price, is_active, vat_rate, cost)"
            f" FROM {self._products} WHERE id IN (SELECT p FROM w)),"
            " ARRAY(SELECT ROW(d.shop_id, d.id, a.devices)"
            f" FROM {SHARED_SCHEMA}.device_tokens d LEFT JOIN {self._agent_links} a"
            " ON a.device_id = d.id WHERE d.tenant_id = $4"
            " AND d.shop_id IN (SELECT shop_id FROM c) AND d.revoked_at IS NULL"
            " ORDER BY d.created_at, d.id),"
            " ARRAY(SELECT ROW(k.s, k.u, t.name, h.id, h.name, h.address, h.timezone,"
            f" u.username, u.full_name) FROM k JOIN {SHARED_SCHEMA}.tenants t ON t.id = $4"
            f" LEFT JOIN {self._shops} h ON h.id = k.s"
            f" LEFT JOIN {SHARED_SCHEMA}.users u ON u.id = k.u AND u.tenant_id = t.id)"
        )

    async def lock_pays(
        self, pays: Sequence[tuple[uuid.UUID, uuid.UUID | None]], keys: Iterable[str]
    ) -> PayGroupRows:
        """Everything a group of pays reads, in one statement (one round trip instead of
        nine), given each pay's cart and payer (a user; None: a device, whose sale names
        the shift's cashier). Locked, each skipped when another transaction holds it
        (never waited for): the carts' shifts, then the carts, then their registers and
        stock levels; then the batches of the levels held, waited for. Read: which
        idempotency keys are taken, the carts' holds and products, the shops' agents and
        the names of the receipts' headers."""
        (row,) = await self._rows(
            self._lock_pays_sql(),
            [cart for cart, _ in pays],
            [payer for _, payer in pays],
            list(keys),
            self._tenant_id,
        )
        carts, taken, registers, levels, batches, holds, products, agents, names = row
        locked = {r[0]: (cart_of(r), LockedShift(*r[CART_COLUMNS:])) for r in carts}
        found = PayGroupRows(
            carts=locked,
            keys_taken=set(taken),
            registers={r[0]: LockedRegister(*r) for r in registers},
            levels={(r[0], r[1]): LockedLevel(*r) for r in levels},
            batches={},
            holds={(r[0], r[1], r[2]): r[3] for r in holds},
            products={r[0]: product_of(tuple(r)) for r in products},
            agents={cart.shop_id: {} for cart, _ in locked.values()},
            names={
                (r[0], r[1]): (
                    BusinessName(r[2]),
                    None if r[3] is None else ShopNames(r[3], r[4], r[5], r[6]),
                    None if r[7] is None else CashierName(r[7], r[8]),
                )
                for r in names
            },
        )
        for r in batches:
            found.batches.setdefault((r[1], r[2]), []).append(LockedBatch(*r))
        for shop_id, device_id, devices in agents:
            if isinstance(devices, str):  # inside a row, JSON comes as text
                devices = json.loads(devices)
            found.agents[shop_id][device_id] = list(devices or [])
        return found

    async def write_sales(self, sold: SoldTogether, now: datetime) -> None:
        """Every row the group's sales add or change, in one statement (one round trip
        instead of a dozen): the sales, their lines and payments, stock movements and
        receipt jobs; stock levels, batches and the carts' holds; registers' receipt
        numbers; shifts' running totals and per-method totals; the carts, paid and
        closed; the group's events. Each table is written by one part of the statement,
        and the foreign keys are checked once the whole of it ran. Refused whole if a
        cart is not at the version before (they are locked: that would be a defect, not
        a race)."""
        q = Statement()
        tenders = sorted(
            (x.shift_id, method, amount)
            for x in sold.shift_sales
            for method, amount in x.tenders.items()
        )
        sql = (
            f"WITH sales AS (INSERT INTO {self._sales} (id, idempotency_key, request_digest,"
            " shop_id, register_id, shift_id, number, cashier_id, customer_id, subtotal,"
            " discount_total, receipt_discount, receipt_discount_percent, total, tendered_cash,"
            " change, bonus_accrued, created_at, receipt_status) SELECT *, 'pending' FROM "
            + q.unnest(
                sold.sales,
                "id:uuid idempotency_key:text request_digest:text shop_id:uuid register_id:uuid"
                " shift_id:uuid number:int cashier_id:uuid customer_id:uuid subtotal:numeric"
                " discount_total:numeric receipt_discount:numeric"
                " receipt_discount_percent:numeric total:numeric tendered_cash:numeric"
                " change:numeric bonus_accrued:numeric created_at:timestamptz",
            )
            + f"), lines AS (INSERT INTO {self._sale_lines} (id, sale_id, position, product_id,"
            " name, unit, vat_rate, price, quantity, amount, line_discount, receipt_discount,"
            " total, cost) SELECT * FROM "
            + q.unnest(
                sold.lines,
                "id:uuid sale_id:uuid position:int product_id:uuid name:text unit:text"
                " vat_rate:numeric price:numeric quantity:numeric amount:numeric"
                " line_discount:numeric receipt_discount:numeric total:numeric cost:numeric",
            )
            + f"), payments AS (INSERT INTO {self._sale_payments} (sale_id, method, amount)"
            " SELECT * FROM "
            + q.unnest(sold.payments, "sale_id:uuid method:text amount:numeric")
            + f"), movements AS (INSERT INTO {self._movements} (id, shop_id, product_id,"
            " batch_id, kind, quantity, reason, ref_id, sale_id, user_id, created_at)"
            " SELECT * FROM "
            + q.unnest(
                sold.movements,
                "id:uuid shop_id:uuid product_id:uuid batch_id:uuid kind:text quantity:numeric"
                " reason:text ref_id:uuid sale_id:uuid user_id:uuid created_at:timestamptz",
            )
            + f"), jobs AS (INSERT INTO {self._jobs} (id, shop_id, kind, ref_id, payload,"
            " status, attempts, device_id, created_at, updated_at)"
            " SELECT i, s, k, r, p::jsonb, st, a, d, c, u FROM "
            + q.arrays(
                columns(sold.jobs, "id shop_id kind ref_id"),
                "uuid uuid text uuid",
                [[json_text(j.payload) for j in sold.jobs]],
                "text",
                columns(sold.jobs, "status attempts device_id created_at updated_at"),
                "text int uuid timestamptz timestamptz",
            )
            + " AS v(i, s, k, r, p, st, a, d, c, u)"
            + f"), levels AS (UPDATE {self._levels} l SET on_hand = v.o, reserved = v.r,"
            f" updated_at = {q.param(now, 'timestamptz')} FROM "
            + q.unnest(sold.levels, "shop_id:uuid product_id:uuid on_hand:numeric reserved:numeric")
            + " AS v(s, p, o, r) WHERE l.shop_id = v.s AND l.product_id = v.p"
            + f"), batches AS (UPDATE {self._batches} b SET remaining = v.r FROM "
            + q.unnest(sold.batches, "id:uuid remaining:numeric")
            + " AS v(i, r) WHERE b.id = v.i"
            + f"), holds AS (DELETE FROM {self._holds} WHERE holder_id ="
            f" ANY({q.param([c[0] for c in sold.closed], 'uuid[]')})"
            + f"), registers AS (UPDATE {self._registers} r SET next_receipt_number = v.n FROM "
            + q.unnest(sold.registers, "id:uuid next_number:int")
            + " AS v(i, n) WHERE r.id = v.i"
            + f"), shifts AS (UPDATE {self._shifts} s SET receipts = s.receipts + 1,"
            " sales_total = s.sales_total + v.t, discounts_total = s.discounts_total + v.d,"
            " first_receipt = coalesce(s.first_receipt, v.n), last_receipt = v.n FROM "
            + q.unnest(sold.shift_sales, "shift_id:uuid total:numeric discounts:numeric number:int")
            + " AS v(i, t, d, n) WHERE s.id = v.i"
            + f"), methods AS (INSERT INTO {self._method_totals} (shift_id, method, sales,"
            " refunds, count) SELECT i, m, a, 0, 1 FROM "
            + q.arrays(
                [[t[0] for t in tenders], [t[1] for t in tenders], [t[2] for t in tenders]],
                "uuid text numeric",
            )
            + " AS v(i, m, a) ON CONFLICT (shift_id, method) DO UPDATE"
            f" SET sales = {self._method_totals}.sales + excluded.sales,"
            f" count = {self._method_totals}.count + 1"
            + f"), carts AS (UPDATE {self._carts} c SET status = 'paid', sale_id = v.s,"
            " version = v.n, updated_at = v.t, closed_at = v.t FROM "
            + q.arrays([[c[k] for c in sold.closed] for k in range(4)], "uuid uuid int timestamptz")
            + " AS v(i, s, n, t) WHERE c.id = v.i AND c.version = v.n - 1 AND c.status = 'open'"
            " RETURNING 1), " + self.outbox_part(q, sold.events) + " SELECT count(*) FROM carts"
        )
        (closed,) = (await self._rows(sql, *q.params))[0]
        if closed != len(sold.closed):
            raise RuntimeError("a locked cart changed under its lock")


@dataclass
class SoldTogether:
    """What a group's sales write (`SaleGroupStatements.write_sales`)."""

    sales: Sequence[Sale]
    lines: Sequence[SaleLine]
    payments: Sequence[SalePayment]
    movements: Sequence[StockMovement]
    jobs: Sequence[DeviceJob]
    levels: Sequence[Any]  # sold from: shop_id, product_id, on_hand, reserved
    batches: Sequence[LockedBatch]  # taken from
    registers: Sequence[LockedRegister]  # sold on
    shift_sales: Sequence[ShiftSales]
    closed: Sequence[tuple[uuid.UUID, uuid.UUID, int, datetime]]  # cart, sale, version, when
    events: Sequence[dict[str, Any]]  # the outbox's rows (`UnitOfWork.outbox_rows`)
