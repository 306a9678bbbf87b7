"""How cheap a sale could be: a prototype of the design issue 6's targets need, measured
against the hub's own cart sale in the same run.

    python -m bench.sale_floor [--tills 16] [--sales 1600] [--baseline 200] [--rate 100]

Without `--rate` the tills sell as fast as the writer commits (CPU per sale); with it
they start that many sales per second together, and the figure to read is the latency
of a pay: queued to its sale's events published to Redis.

The hub today gives every cart request its own unit of work: ORM reads, a flush, a
commit, then a second transaction that relays the outbox. The design earlier notes
describe instead:
  - a cart is held by the process that serves its till: a change is checked against
    the version in memory, applied, priced and rendered there, no read;
  - the changes of all tills that arrive while a transaction is being written go into
    the next transaction together (group commit), each kind of row in one set-based
    statement (`unnest` of arrays); a till's reply waits for that commit, so nothing a
    till saw acknowledged is lost;
  - a sale is written the same way: stock levels and batches locked in product order,
    FIFO consumption worked out in Python, receipt numbers taken per register with one
    `UPDATE … RETURNING`, then sales, lines, payments, movements, shift totals, outbox
    events and receipt jobs, each one statement for the whole group;
  - the relay publishes the events to Redis (the hub's `RedisBroker`) and deletes them
    from the outbox with the next group's transaction.

This prototype is that write path alone, on the real tenant schema (a scratch database
migrated and filled by `bench.sales.prepare`), with the hub's own pricing rule and a cart
document of the hub's shape. It does not check permissions or idempotency keys, and has
no websocket door: the door's measured cost (0.09 ms a request, docs/performance.md) is
added to the estimate it prints. It is a measurement to decide the design by, not code
the hub runs.

The baseline in the same run: the hub itself (`pos-hub serve`, one process) selling the
same kind of cart through its websocket door (open, a line per request, pay), one till
at a time; its CPU and PostgreSQL's per sale.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bench.http_load import cpu_snapshot, cpu_used, hub_on_scratch_database, percentile
from bench.sales import REDIS_URL, Shop, basket, cash_payment, fill_cart, prepare
from hub.adapters.broker.base import Outgoing
from hub.adapters.broker.redis import RedisBroker
from hub.domain.pricing import Discount, LineIn, PricedReceipt, price_receipt
from protocol import channels
from protocol.client import HubClient
from protocol.codec import MSGPACK

DOOR_MS = 0.09  # the websocket door per request, measured with `ping` (session 17)
ZERO = Decimal(0)


@dataclass
class Till:
    shift_id: uuid.UUID
    register_id: uuid.UUID
    cashier_id: uuid.UUID


@dataclass
class Cart:
    id: uuid.UUID
    till: Till
    version: int = 1
    lines: dict[uuid.UUID, Decimal] = field(default_factory=dict)  # product -> quantity
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Change:
    """One till's request waiting for the group commit."""

    cart: Cart
    document: dict[str, Any]
    status: str = "open"
    reserve: dict[uuid.UUID, Decimal] = field(default_factory=dict)  # product -> delta
    sale: Sale | None = None
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass
class Sale:
    id: uuid.UUID
    receipt: PricedReceipt
    products: list[uuid.UUID]
    quantities: list[Decimal]
    prices: list[Decimal]
    tendered: Decimal


class Catalogue:
    def __init__(self, rows: list[asyncpg.Record]) -> None:
        self.rows = {row["id"]: row for row in rows}


class GroupWriter:
    """Takes every change queued while the last transaction was written and writes
    them in one transaction of set-based statements."""

    def __init__(
        self, conn: asyncpg.Connection, broker: RedisBroker, shop: Shop, catalogue: Catalogue
    ) -> None:
        self.conn, self.broker, self.catalogue = conn, broker, catalogue
        self.shop_id = uuid.UUID(shop.shop_id)
        self.tenant = uuid.UUID(shop.tenant_id)
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self.relayed: list[uuid.UUID] = []  # outbox rows published, deleted next time
        self.groups = 0
        self.changes = 0
        self.unpublished = 0
        self.pay_latencies: list[float] = []  # a sale's queueing to its events published

    async def run(self) -> None:
        """Until `None` is queued (after the last change): the last group's events are
        published before it returns."""
        stopping = False
        while not stopping:
            first = await self.queue.get()
            if first is None:
                return
            group = [first]
            while not self.queue.empty():
                change = self.queue.get_nowait()
                if change is None:
                    stopping = True
                    break
                group.append(change)
            try:
                events = await self.write(group)
            except Exception as exc:
                for change in group:
                    change.done.set_exception(exc)
                continue
            for change in group:
                change.done.set_result(None)
            self.groups += 1
            self.changes += len(group)
            try:
                await self.broker.publish_many(
                    [Outgoing(e["channel"], e["type"], e["payload"], str(e["id"])) for e in events]
                )
            except RedisError:  # the events stay in the outbox, as the hub's relay leaves them
                self.unpublished += len(events)
                continue
            self.relayed = [e["id"] for e in events]
            published = time.perf_counter()
            self.pay_latencies += [published - c.queued_at for c in group if c.sale is not None]

    async def write(self, group: list[Change]) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        events: list[dict[str, Any]] = []
        sales = [c for c in group if c.sale is not None]
        async with self.conn.transaction():
            if self.relayed:
                await self.conn.execute("DELETE FROM outbox WHERE id = ANY($1)", self.relayed)
            await self._carts(group, now)
            await self._stock(group, sales, now)
            if sales:
                await self._sales(sales, now, events)
            for change in group:
                cart = change.cart
                payload = json.dumps(change.document)
                kind = "cart.updated" if change.status == "open" else "cart.closed"
                for channel in (
                    channels.cart(self.tenant, self.shop_id, cart.id),
                    channels.carts(self.tenant, self.shop_id),
                ):
                    events.append(
                        {
                            "id": uuid.uuid4(),
                            "channel": channel.name,
                            "type": kind,
                            "payload": payload,
                        }
                    )
            await self.conn.execute(
                "INSERT INTO outbox (id, channel, type, payload, created_at)"
                " SELECT i, c, t, p::jsonb, $5 FROM unnest($1::uuid[], $2::text[], $3::text[],"
                " $4::text[]) AS v(i, c, t, p)",
                [e["id"] for e in events],
                [e["channel"] for e in events],
                [e["type"] for e in events],
                [e["payload"] for e in events],
                now,
            )
        return events

    async def _carts(self, group: list[Change], now: datetime) -> None:
        rows = await self.conn.fetch(
            "INSERT INTO carts (id, shop_id, register_id, shift_id, cashier_id, status, version,"
            " bonus, lines, sale_id, created_at, updated_at, closed_at)"
            " SELECT i, $1, r, s, u, st, v, 0, l::jsonb, sa, ca, $2::timestamptz,"
            " CASE WHEN st = 'open' THEN NULL ELSE $2::timestamptz END"
            " FROM unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[], $8::int[],"
            " $9::text[], $10::uuid[], $11::timestamptz[]) AS x(i, r, s, u, st, v, l, sa, ca)"
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status, version = excluded.version,"
            " lines = excluded.lines, sale_id = excluded.sale_id, updated_at = excluded.updated_at,"
            " closed_at = excluded.closed_at WHERE carts.version = excluded.version - 1"
            " RETURNING id",
            self.shop_id,
            now,
            [c.cart.id for c in group],
            [c.cart.till.register_id for c in group],
            [c.cart.till.shift_id for c in group],
            [c.cart.till.cashier_id for c in group],
            [c.status for c in group],
            [c.cart.version for c in group],
            [json.dumps(c.document["lines"]) for c in group],
            [c.sale.id if c.sale else None for c in group],
            [c.cart.created_at for c in group],
        )
        if len(rows) != len(group):  # another process changed a cart: the slow path
            raise RuntimeError("a stale cart in the group")

    async def _stock(self, group: list[Change], sales: list[Change], now: datetime) -> None:
        """Reservations follow the carts; a sale turns its reservation into stock gone.
        One statement per table, rows in product order (the lock order of every writer)."""
        reserved: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
        sold: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
        holders, products, quantities = [], [], []
        for change in group:
            for product, delta in change.reserve.items():
                reserved[product] += delta
                holders.append(change.cart.id)
                products.append(product)
                quantities.append(change.cart.lines[product])
        for change in sales:
            assert change.sale is not None
            for product, quantity in zip(change.sale.products, change.sale.quantities, strict=True):
                reserved[product] -= quantity
                sold[product] += quantity
        order = sorted(set(reserved) | set(sold))
        if order:
            got = await self.conn.fetch(
                "UPDATE stock_levels s SET reserved = s.reserved + v.r, on_hand = s.on_hand - v.o,"
                " updated_at = $2"
                " FROM unnest($3::uuid[], $4::numeric[], $5::numeric[]) AS v(p, r, o)"
                " WHERE s.shop_id = $1 AND s.product_id = v.p"
                " AND s.on_hand - v.o >= s.reserved + v.r RETURNING s.product_id",
                self.shop_id,
                now,
                order,
                [reserved[p] for p in order],
                [sold[p] for p in order],
            )
            if len(got) != len(order):
                raise RuntimeError("not enough stock for the group: the slow path")
        if holders:
            await self.conn.execute(
                "INSERT INTO stock_reservations (id, holder_id, shop_id, product_id, quantity,"
                " created_at, updated_at) SELECT gen_random_uuid(), h, $1, p, q, $2, $2"
                " FROM unnest($3::uuid[], $4::uuid[], $5::numeric[]) AS v(h, p, q)"
                " ON CONFLICT (holder_id, shop_id, product_id) DO UPDATE"
                " SET quantity = excluded.quantity, updated_at = excluded.updated_at",
                self.shop_id,
                now,
                holders,
                products,
                quantities,
            )
        if sales:
            await self.conn.execute(
                "DELETE FROM stock_reservations WHERE holder_id = ANY($1)",
                [c.cart.id for c in sales],
            )

    async def _sales(
        self, group: list[Change], now: datetime, events: list[dict[str, Any]]
    ) -> None:
        sales = [c.sale for c in group if c.sale is not None]
        wanted = sorted({p for s in sales for p in s.products})
        batches = await self.conn.fetch(
            "SELECT id, product_id, remaining, cost FROM batches WHERE shop_id = $1"
            " AND product_id = ANY($2) AND remaining > 0"
            " ORDER BY product_id, received_at, id FOR UPDATE",
            self.shop_id,
            wanted,
        )
        fifo: dict[uuid.UUID, list[list[Any]]] = defaultdict(list)
        for b in batches:
            fifo[b["product_id"]].append([b["id"], b["remaining"], b["cost"]])
        # receipt numbers: one statement for every register in the group
        per_register: dict[uuid.UUID, int] = defaultdict(int)
        for change in group:
            per_register[change.cart.till.register_id] += 1
        registers = sorted(per_register)
        numbered = await self.conn.fetch(
            "UPDATE cash_registers c SET next_receipt_number = c.next_receipt_number + v.k"
            " FROM unnest($1::uuid[], $2::int[]) AS v(i, k) WHERE c.id = v.i"
            " RETURNING c.id, c.next_receipt_number - v.k AS first",
            registers,
            [per_register[r] for r in registers],
        )
        next_number = {row["id"]: row["first"] for row in numbered}
        sale_rows: list[tuple[Any, ...]] = []
        line_rows: list[tuple[Any, ...]] = []
        movement_rows: list[tuple[Any, ...]] = []
        shift_totals: dict[uuid.UUID, list[Any]] = {}
        jobs: list[tuple[Any, ...]] = []
        for change in group:
            sale, till = change.sale, change.cart.till
            assert sale is not None
            number = next_number[till.register_id]
            next_number[till.register_id] += 1
            receipt = sale.receipt
            sale_rows.append(
                (sale.id, uuid.uuid4().hex, till.register_id, till.shift_id, number,
                 till.cashier_id, receipt.subtotal, receipt.discount_total,
                 receipt.receipt_discount, receipt.total, sale.tendered,
                 sale.tendered - receipt.total)
            )  # fmt: skip
            for position, (product, quantity, price, priced) in enumerate(
                zip(sale.products, sale.quantities, sale.prices, receipt.lines, strict=True)
            ):
                row = self.catalogue.rows[product]
                cost = ZERO
                left = quantity
                for batch in fifo[product]:
                    if left <= 0:
                        break
                    take = min(left, batch[1])
                    if take <= 0:
                        continue
                    batch[1] -= take
                    left -= take
                    cost += take * batch[2]
                    movement_rows.append(
                        (uuid.uuid4(), product, batch[0], -take, sale.id, till.cashier_id)
                    )
                line_rows.append(
                    (uuid.uuid4(), sale.id, position, product, row["name"], row["unit"], price,
                     quantity, priced.amount, priced.line_discount, priced.receipt_discount,
                     priced.total, cost)
                )  # fmt: skip
            totals = shift_totals.setdefault(till.shift_id, [0, ZERO, number, number])
            totals[0] += 1
            totals[1] += receipt.total
            totals[3] = number
            bought = zip(sale.products, sale.quantities, strict=True)
            document = {
                "sale": str(sale.id),
                "number": number,
                "total": str(receipt.total),
                "lines": [{"product": str(p), "quantity": str(q)} for p, q in bought],
            }
            jobs.append((uuid.uuid4(), sale.id, json.dumps(document)))
            events.append(
                {
                    "id": uuid.uuid4(),
                    "channel": channels.sales(self.tenant, self.shop_id).name,
                    "type": "sale.completed",
                    "payload": json.dumps({**document, "cashier": str(till.cashier_id)}),
                }
            )
        await self.conn.execute(
            "INSERT INTO sales (id, idempotency_key, request_digest, shop_id, register_id,"
            " shift_id, number, cashier_id, subtotal, discount_total, receipt_discount, total,"
            " tendered_cash, change, bonus_accrued, created_at, receipt_status)"
            " SELECT i, k, k, $1, r, s, n, u, st, dt, rd, t, tc, ch, 0, $2, 'pending'"
            " FROM unnest($3::uuid[], $4::text[], $5::uuid[], $6::uuid[], $7::int[], $8::uuid[],"
            " $9::numeric[], $10::numeric[], $11::numeric[], $12::numeric[], $13::numeric[],"
            " $14::numeric[]) AS v(i, k, r, s, n, u, st, dt, rd, t, tc, ch)",
            self.shop_id,
            now,
            *_columns(sale_rows, 12),
        )
        await self.conn.execute(
            "INSERT INTO sale_lines (id, sale_id, position, product_id, name, unit, vat_rate,"
            " price, quantity, amount, line_discount, receipt_discount, total, cost)"
            " SELECT i, s, po, p, na, un, NULL, pr, q, a, ld, rd, t, c"
            " FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::uuid[], $5::text[], $6::text[],"
            " $7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[], $11::numeric[],"
            " $12::numeric[], $13::numeric[]) AS v(i, s, po, p, na, un, pr, q, a, ld, rd, t, c)",
            *_columns(line_rows, 13),
        )
        await self.conn.execute(
            "INSERT INTO sale_payments (sale_id, method, amount)"
            " SELECT s, 'cash', t FROM unnest($1::uuid[], $2::numeric[]) AS v(s, t)",
            [row[0] for row in sale_rows],
            [row[9] for row in sale_rows],
        )
        await self.conn.execute(
            "INSERT INTO stock_movements (id, shop_id, product_id, batch_id, kind, quantity,"
            " reason, ref_id, sale_id, user_id, created_at)"
            " SELECT i, $1, p, b, 'sale', q, '', s, s, u, $2"
            " FROM unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::numeric[], $7::uuid[],"
            " $8::uuid[]) AS v(i, p, b, q, s, u)",
            self.shop_id,
            now,
            *_columns(movement_rows, 6),
        )
        touched = [b for product in wanted for b in fifo[product]]
        await self.conn.execute(
            "UPDATE batches b SET remaining = v.r FROM unnest($1::uuid[], $2::numeric[]) AS v(i, r)"
            " WHERE b.id = v.i AND b.remaining <> v.r",
            [b[0] for b in touched],
            [b[1] for b in touched],
        )
        shifts = sorted(shift_totals)
        await self.conn.execute(
            "UPDATE shifts s SET receipts = s.receipts + v.k, sales_total = s.sales_total + v.t,"
            " first_receipt = coalesce(s.first_receipt, v.f), last_receipt = v.l"
            " FROM unnest($1::uuid[], $2::int[], $3::numeric[], $4::int[], $5::int[])"
            " AS v(i, k, t, f, l) WHERE s.id = v.i",
            shifts,
            *_columns([tuple(shift_totals[s]) for s in shifts], 4),
        )
        await self.conn.execute(
            "INSERT INTO shift_method_totals (shift_id, method, sales, refunds, count)"
            " SELECT s, 'cash', t, 0, k FROM unnest($1::uuid[], $2::numeric[], $3::int[])"
            " AS v(s, t, k) ON CONFLICT (shift_id, method) DO UPDATE"
            " SET sales = shift_method_totals.sales + excluded.sales,"
            " count = shift_method_totals.count + excluded.count",
            shifts,
            [shift_totals[s][1] for s in shifts],
            [shift_totals[s][0] for s in shifts],
        )
        await self.conn.execute(
            "INSERT INTO device_jobs (id, shop_id, kind, ref_id, payload, status, attempts,"
            " created_at, updated_at) SELECT i, $1, 'receipt', r, p::jsonb, 'pending', 0, $2, $2"
            " FROM unnest($3::uuid[], $4::uuid[], $5::text[]) AS v(i, r, p)",
            self.shop_id,
            now,
            *_columns(jobs, 3),
        )


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[row[k] for row in rows] for k in range(width)]


def _document(
    cart: Cart, catalogue: Catalogue, status: str
) -> tuple[dict[str, Any], PricedReceipt | None]:
    """The cart as the hub renders it: each line priced by the hub's rule."""
    products = list(cart.lines)
    receipt = None
    if products:
        receipt = price_receipt(
            [LineIn(catalogue.rows[p]["price"], cart.lines[p], Discount()) for p in products],
            receipt_discount=Discount(),
            group_discount_percent=ZERO,
        )
    lines = []
    for k, p in enumerate(products):
        row, priced = catalogue.rows[p], receipt.lines[k] if receipt else None
        lines.append(
            {"product": str(p), "name": row["name"], "sku": row["sku"], "unit": row["unit"],
             "price": str(row["price"]), "quantity": str(cart.lines[p]),
             "amount": str(priced.amount if priced else ZERO),
             "total": str(priced.total if priced else ZERO)}
        )  # fmt: skip
    total = receipt.total if receipt else ZERO
    return {
        "id": str(cart.id),
        "status": status,
        "version": cart.version,
        "lines": lines,
        "subtotal": str(receipt.subtotal if receipt else ZERO),
        "total": str(total),
        "to_pay": str(total),
    }, receipt


async def prototype_till(
    writer: GroupWriter, till: Till, shop: Shop, sales: int, seed: int, every: float | None
) -> None:
    """Open a cart, add each line (one request each), pay: as `bench.sales` tills do;
    `every`: a sale started every so many seconds (paced), else as fast as it goes."""
    rng = random.Random(seed)
    started = time.perf_counter() + (rng.random() * every if every else 0)
    for k in range(sales):
        if every:
            await asyncio.sleep(max(0.0, started + k * every - time.perf_counter()))
        cart = Cart(uuid.uuid4(), till)
        document, _ = _document(cart, writer.catalogue, "open")
        change = Change(cart, document)
        writer.queue.put_nowait(change)
        await change.done
        for product, quantity in basket(rng, shop):
            pid = uuid.UUID(product)
            cart.version += 1
            cart.lines[pid] = cart.lines.get(pid, ZERO) + quantity
            document, _ = _document(cart, writer.catalogue, "open")
            change = Change(cart, document, reserve={pid: Decimal(quantity)})
            writer.queue.put_nowait(change)
            await change.done
        cart.version += 1
        document, receipt = _document(cart, writer.catalogue, "paid")
        assert receipt is not None
        products = list(cart.lines)
        sale = Sale(
            uuid.uuid4(),
            receipt,
            products,
            [cart.lines[p] for p in products],
            [writer.catalogue.rows[p]["price"] for p in products],
            receipt.total,
        )
        change = Change(cart, document, status="paid", sale=sale)
        writer.queue.put_nowait(change)
        await change.done


async def prototype(
    hub_url: str, schema: str, shop: Shop, tills: int, sales: int, rate: float | None
) -> dict[str, Any]:
    conn = await asyncpg.connect(hub_url, server_settings={"search_path": schema})
    redis = Redis.from_url(REDIS_URL)
    try:
        catalogue = Catalogue(await conn.fetch("SELECT id, name, sku, unit, price FROM products"))
        rows = await conn.fetch(
            "SELECT id, register_id, cashier_id FROM shifts WHERE id = ANY($1::uuid[])",
            [uuid.UUID(s) for s in shop.shifts[:tills]],
        )
        found = {row["id"]: row for row in rows}
        writer = GroupWriter(conn, RedisBroker(redis), shop, catalogue)
        running = asyncio.create_task(writer.run())
        started_cpu, started = time.process_time(), time.perf_counter()
        before = cpu_snapshot(-1)
        per_till = max(1, sales // tills)
        await asyncio.gather(
            *(
                prototype_till(
                    writer,
                    Till(
                        found[uuid.UUID(s)]["id"],
                        found[uuid.UUID(s)]["register_id"],
                        found[uuid.UUID(s)]["cashier_id"],
                    ),
                    shop,
                    per_till,
                    seed=k,
                    every=tills / rate if rate else None,
                )
                for k, s in enumerate(shop.shifts[:tills])
            )
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - started_cpu
        _, database = cpu_used(before, cpu_snapshot(-1))
        writer.queue.put_nowait(None)
        await running
        made = per_till * tills
        return {
            "phase": f"prototype, {tills} tills, group commit"
            + (f", paced at {rate:g} sales/s" if rate else ", as fast as it goes"),
            "sales": made,
            "sales_per_s_wall": round(made / elapsed, 1),
            "python_cpu_ms_per_sale": round(cpu * 1000 / made, 2),
            "db_cpu_ms_per_sale": round(database * 1000 / made, 2),
            "changes_per_transaction": round(writer.changes / max(writer.groups, 1), 1),
            # a pay queued to its sale's events published (the door and the dashboard's
            # delivery come on top)
            "pay_p50_ms": round(percentile(writer.pay_latencies, 0.50) * 1000, 2),
            "pay_p99_ms": round(percentile(writer.pay_latencies, 0.99) * 1000, 2),
            "events_left_in_outbox": writer.unpublished,
        }
    finally:
        await redis.aclose()
        await conn.close()


async def baseline(shop: Shop, hub_pid: int, count: int) -> dict[str, Any]:
    """The hub's own cart sale, one till, one request at a time."""
    till = HubClient(f"ws://127.0.0.1:{shop.port}/ws", shop.token, codec=MSGPACK)
    await till.connect()
    rng = random.Random(7)
    shift = shop.shifts[-1]
    try:
        for _ in range(10):  # warm: prepared statements, caches
            cart = await fill_cart(till, shift, basket(rng, shop))
            await till.request("cart.pay", cash_payment(cart, uuid.uuid4().hex))
        before, started = cpu_snapshot(hub_pid), time.perf_counter()
        for _ in range(count):
            cart = await fill_cart(till, shift, basket(rng, shop))
            await till.request("cart.pay", cash_payment(cart, uuid.uuid4().hex))
        elapsed = time.perf_counter() - started
        hub, database = cpu_used(before, cpu_snapshot(hub_pid))
    finally:
        await till.close()
    return {
        "phase": "baseline: the hub's cart sale, one till",
        "sales": count,
        "sales_per_s_wall": round(count / elapsed, 1),
        "python_cpu_ms_per_sale": round(hub * 1000 / count, 2),
        "db_cpu_ms_per_sale": round(database * 1000 / count, 2),
    }


async def verify(hub_url: str, schema: str) -> dict[str, Any]:
    """What the prototype wrote adds up: every sale has its lines, payments cover the
    totals, stock on hand equals what was received less what movements took."""
    conn = await asyncpg.connect(hub_url, server_settings={"search_path": schema})
    try:
        return dict(
            await conn.fetchrow(
                "SELECT (SELECT count(*) FROM sales) AS sales,"
                " (SELECT count(*) FROM sales s WHERE s.total <> (SELECT sum(total)"
                "  FROM sale_lines l WHERE l.sale_id = s.id)) AS lines_disagree,"
                " (SELECT count(*) FROM sales s WHERE s.total <> (SELECT sum(amount)"
                "  FROM sale_payments p WHERE p.sale_id = s.id)) AS payments_disagree,"
                " (SELECT count(*) FROM stock_levels v WHERE v.on_hand <> (SELECT sum(quantity)"
                "  FROM stock_movements m WHERE m.product_id = v.product_id"
                "  AND m.shop_id = v.shop_id)) AS stock_disagrees,"
                " (SELECT count(*) FROM stock_reservations) AS reservations_left,"
                " (SELECT sum(reserved) FROM stock_levels) AS reserved_left"
            )
        )
    finally:
        await conn.close()


async def run(tills: int, sales: int, count: int, rate: float | None) -> list[dict[str, Any]]:
    async with hub_on_scratch_database(1, 5, redis_url=REDIS_URL) as hub:
        shop = await prepare(hub.port, hub.token, tills, hub.pid)
        results = [await baseline(shop, hub.pid, count)]
        print(json.dumps(results[-1]), flush=True)
        results.append(await prototype(hub.database_url, hub.schema, shop, tills, sales, rate))
        print(json.dumps(results[-1]), flush=True)
        results.append(await verify(hub.database_url, hub.schema))
        print(json.dumps(results[-1], default=str), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tills", type=int, default=16)
    parser.add_argument("--sales", type=int, default=1600)
    parser.add_argument("--baseline", type=int, default=200)
    parser.add_argument("--rate", type=float, help="sales/s of all tills together (paced)")
    args = parser.parse_args()
    base, proto, _ = asyncio.run(run(args.tills, args.sales, args.baseline, args.rate))
    door = DOOR_MS * 6  # open, about four lines, pay
    estimate = proto["python_cpu_ms_per_sale"] + door
    for name, r in (("baseline (hub)", base), ("prototype", proto)):
        print(
            f"{name:15} {r['python_cpu_ms_per_sale']:>7} ms Python CPU"
            f" {r['db_cpu_ms_per_sale']:>6} ms PostgreSQL CPU per sale"
        )
    print(f"prototype: {proto['changes_per_transaction']} changes a transaction")
    print(
        f"with the door ({door:.2f} ms): {estimate:.2f} ms a sale, one core:"
        f" {1000 / estimate:.0f} sales/s of hub CPU;"
        f" {base['python_cpu_ms_per_sale'] / estimate:.1f}x the baseline"
    )


if __name__ == "__main__":
    main()
