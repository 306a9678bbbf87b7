"""Set-based statements for a group of cart changes (PostgreSQL only).

`hub.services.cart_groups` writes the line changes of many tills in one transaction:
each kind of row is read or written by one statement for the whole group, whatever its
size, instead of a few ORM statements per change. The statements name the tenant's
schema outright (they are plain SQL, outside `schema_translate_map`) and run on the
unit of work's connection, so they share its transaction, its write gate and its outbox.

Lock order, the same as every other writer's: carts (by id), then stock levels (by
product, then shop).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.adapters.db.cart_tables import Cart
from hub.adapters.db.catalogue_tables import Product
from hub.adapters.db.database import tenant_schema_name
from hub.domain.ids import new_id

_CART_COLUMNS = (
    "id",
    "shop_id",
    "register_id",
    "shift_id",
    "cashier_id",
    "status",
    "version",
    "customer_id",
    "discount_percent",
    "discount_amount",
    "bonus",
    "lines",
    "sale_id",
    "created_at",
    "updated_at",
    "closed_at",
)
HoldKey = tuple[uuid.UUID, uuid.UUID, uuid.UUID]  # holder, shop, product


@dataclass
class LockedLevel:
    """A stock level locked for the group, changed in memory as the group's changes
    are applied one after the other."""

    shop_id: uuid.UUID
    product_id: uuid.UUID
    on_hand: Decimal
    reserved: Decimal
    has_dated_batches: bool
    changed: bool = False


@dataclass
class LockedShift:
    id: uuid.UUID
    shop_id: uuid.UUID
    register_id: uuid.UUID
    cashier_id: uuid.UUID
    status: str
    number: int  # what a receipt names it by


@dataclass(frozen=True)
class Hold:
    """A cart's reservation of one product in one shop, as the group leaves it."""

    holder_id: uuid.UUID
    shop_id: uuid.UUID
    product_id: uuid.UUID
    quantity: Decimal


def json_text(value: Any) -> str:
    """A JSON document for a statement's text parameter (cast to jsonb there): orjson,
    several times faster than the standard library on the group's many small documents;
    keys that are not strings become strings, as with `json.dumps`."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def columns(rows: Sequence[Any], names: str) -> list[list[Any]]:
    """Each named attribute of `rows` as one array: the columns of an `unnest`."""
    return [[getattr(row, name) for row in rows] for name in names.split()]


class Statement:
    """The parameters of one statement, numbered as they are added."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def param(self, value: Any, type_: str) -> str:
        self.params.append(value)
        return f"${len(self.params)}::{type_}"

    def arrays(self, *pairs: Any) -> str:
        """`unnest` of arrays given as (columns, their types), in turn."""
        parts = []
        for values, types in zip(pairs[::2], pairs[1::2], strict=True):
            parts += [self.param(v, f"{t}[]") for v, t in zip(values, types.split(), strict=True)]
        return f"unnest({', '.join(parts)})"

    def unnest(self, rows: Sequence[Any], named: str) -> str:
        """`unnest` of the named attributes of `rows` (`name:type ...`)."""
        names, types = zip(*(n.split(":") for n in named.split()), strict=True)
        return self.arrays(columns(rows, " ".join(names)), " ".join(types))


CART_COLUMNS = len(_CART_COLUMNS)
CART_COLUMNS_OF_C = ", ".join(f"c.{name}" for name in _CART_COLUMNS)  # carts aliased `c`


def cart_of(row: Sequence[Any]) -> Cart:
    """A cart entity, detached, from a row that starts with `_CART_COLUMNS`."""
    values = dict(zip(_CART_COLUMNS, row, strict=False))
    if isinstance(values["lines"], str):  # a driver without a JSON codec
        values["lines"] = json.loads(values["lines"])
    return Cart(**values)


# Product entities by the row they were made from: a group reads its products afresh,
# but the catalogue changes seldom, and an ORM entity costs more to make than its row
# to read. Entities here are only read (priced, named), never changed or attached.
_PRODUCTS_MADE: dict[tuple[Any, ...], Product] = {}
_PRODUCTS_KEPT = 4096


def product_of(row: tuple[Any, ...]) -> Product:
    """A detached product entity with the row's values (id, name, sku, unit, price,
    is_active, vat_rate, cost)."""
    made = _PRODUCTS_MADE.get(row)
    if made is None:
        if len(_PRODUCTS_MADE) >= _PRODUCTS_KEPT:
            _PRODUCTS_MADE.clear()
        made = _PRODUCTS_MADE[row] = Product(
            id=row[0],
            name=row[1],
            sku=row[2],
            unit=row[3],
            price=row[4],
            is_active=row[5],
            vat_rate=row[6],
            cost=row[7],
        )
    return made


def _shops_and_products(
    keys: Sequence[tuple[uuid.UUID, uuid.UUID]],
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """(shop, product) keys as the two arrays the levels' statements take."""
    return [shop for shop, _ in keys], [product for _, product in keys]


class CartGroupStatements:
    """The statements of one group's transaction, on `conn` (the unit of work's)."""

    def __init__(self, conn: AsyncConnection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._driver: Any = None  # the asyncpg connection, once the transaction is open
        self._tenant_id = tenant_id
        schema = tenant_schema_name(tenant_id)
        self._carts = f'"{schema}".carts'
        self._shifts = f'"{schema}".shifts'
        self._products = f'"{schema}".products'
        self._levels = f'"{schema}".stock_levels'
        self._batches = f'"{schema}".batches'
        self._holds = f'"{schema}".stock_reservations'
        self._barcodes = f'"{schema}".barcodes'
        self._sales = f'"{schema}".sales'
        self._registers = f'"{schema}".cash_registers'
        self._method_totals = f'"{schema}".shift_method_totals'
        self._sale_lines = f'"{schema}".sale_lines'
        self._sale_payments = f'"{schema}".sale_payments'
        self._movements = f'"{schema}".stock_movements'
        self._jobs = f'"{schema}".device_jobs'
        self._outbox = f'"{schema}".outbox'
        self._shops = f'"{schema}".shops'
        self._agent_links = f'"{schema}".agent_links'
        self._open_carts = (
            f"SELECT {', '.join(_CART_COLUMNS)} FROM {self._carts}"
            " WHERE shift_id = ANY($1::uuid[]) AND status = 'open'"
        )
        self._lock_carts = (
            f"SELECT {CART_COLUMNS_OF_C}, s.status FROM {self._carts} c JOIN {self._shifts} s"
            " ON s.id = c.shift_id WHERE c.id = ANY($1::uuid[])"
            " ORDER BY c.id FOR UPDATE OF c SKIP LOCKED"
        )
        # The levels of (shop, product) keys given as two arrays ($1 shops, $2 products).
        self._levels_of_keys = (
            f"FROM {self._levels} l JOIN unnest($1::uuid[], $2::uuid[]) AS k(s, p)"
            " ON l.shop_id = k.s AND l.product_id = k.p"
        )

    async def _rows(self, sql: str, *params: Any) -> Sequence[Any]:
        """The statement's rows. The first statement goes through SQLAlchemy, which
        opens the transaction on the driver's connection; the others go straight to the
        driver (asyncpg, a prepared statement each, in that transaction), without
        SQLAlchemy's execution context, which doubles a statement's cost in the hub
        (`bench/statements.py`). A driver error is not wrapped: the group fails whole
        and its requests go the other way, which reports it."""
        if self._driver is None:
            result = await self._conn.exec_driver_sql(sql, params)
            rows = result.all() if result.returns_rows else []
            self._driver = (await self._conn.get_raw_connection()).driver_connection
            return rows
        return await self._driver.fetch(sql, *params)  # type: ignore[no-any-return]

    async def lock_shifts(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, LockedShift]:
        """Shifts locked in id order (the first lock of an open or a sale); a shift
        another transaction holds is left out, not waited for."""
        rows = await self._rows(
            f"SELECT id, shop_id, register_id, cashier_id, status, number FROM {self._shifts}"
            " WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE SKIP LOCKED",
            sorted(set(ids)),
        )
        return {row[0]: LockedShift(*row) for row in rows}

    async def open_carts_of(self, shifts: Iterable[uuid.UUID]) -> dict[uuid.UUID, Cart]:
        """The open cart of each shift that has one (their shifts are locked)."""
        rows = await self._rows(self._open_carts, list(shifts))
        found = {}
        for row in rows:
            cart = cart_of(row)
            found[cart.shift_id] = cart
        return found

    async def insert_carts(self, carts: Sequence[Cart]) -> None:
        """New empty carts."""
        await self._rows(
            f"INSERT INTO {self._carts} (id, shop_id, register_id, shift_id, cashier_id, status,"
            " version, bonus, lines, created_at, updated_at) SELECT i, s, r, h, c, 'open', 1, 0,"
            " '[]'::jsonb, t, t FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[],"
            " $5::uuid[], $6::timestamptz[]) AS v(i, s, r, h, c, t)",
            *columns(carts, "id shop_id register_id shift_id cashier_id created_at"),
        )

    async def lock_carts(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[Cart, str]]:
        """The carts, locked in id order, each with its shift's status; as detached
        entities (nothing here goes through the ORM session). A cart another transaction
        holds (a sale being paid, a shift being closed) is left out rather than waited
        for: the group does not stall behind it, and its change waits on the other path."""
        rows = await self._rows(self._lock_carts, list(ids))
        return {row[0]: (cart_of(row), row[-1]) for row in rows}

    async def barcodes(self, codes: Iterable[str]) -> dict[str, uuid.UUID]:
        """The products scanned codes name."""
        rows = await self._rows(
            f"SELECT code, product_id FROM {self._barcodes} WHERE code = ANY($1::text[])",
            list(codes),
        )
        return {row[0]: row[1] for row in rows}

    async def products(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Product]:
        """What pricing, the cart document and a sale's lines need of each product."""
        rows = await self._rows(
            f"SELECT id, name, sku, unit, price, is_active, vat_rate, cost FROM {self._products}"
            " WHERE id = ANY($1::uuid[])",
            list(ids),
        )
        return {row[0]: product_of(tuple(row)) for row in rows}

    async def lock_levels(
        self, keys: Sequence[tuple[uuid.UUID, uuid.UUID]]
    ) -> dict[tuple[uuid.UUID, uuid.UUID], LockedLevel]:
        """Levels by (shop, product), locked in product order, each with whether a batch
        left has an expiry date (only those can make goods unavailable). A level another
        transaction holds (a sale, a delivery, an import, another process's group) is
        left out, not waited for: the group does not stall behind it, and the changes
        that need it try the next groups, then go the other way, which waits for it."""
        rows = await self._rows(
            f"SELECT l.shop_id, l.product_id, l.on_hand, l.reserved, EXISTS (SELECT 1 FROM"
            f" {self._batches} b WHERE b.shop_id = l.shop_id AND b.product_id = l.product_id"
            f" AND b.remaining > 0 AND b.expiry_date IS NOT NULL) {self._levels_of_keys}"
            " ORDER BY l.product_id, l.shop_id FOR UPDATE OF l SKIP LOCKED",
            *_shops_and_products(keys),
        )
        return {(r[0], r[1]): LockedLevel(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows}

    async def levels_there(
        self, keys: Sequence[tuple[uuid.UUID, uuid.UUID]]
    ) -> set[tuple[uuid.UUID, uuid.UUID]]:
        """Which of these (shop, product) levels exist, locked or not: of the levels
        `lock_levels` left out, those held elsewhere rather than never made."""
        rows = await self._rows(
            f"SELECT l.shop_id, l.product_id {self._levels_of_keys}", *_shops_and_products(keys)
        )
        return {(r[0], r[1]) for r in rows}

    async def holds(self, holders: Iterable[uuid.UUID]) -> dict[HoldKey, Decimal]:
        """What the carts hold, by (holder, shop, product). Their carts are locked, and
        only a cart's own changes touch its reservations."""
        rows = await self._rows(
            f"SELECT holder_id, shop_id, product_id, quantity FROM {self._holds}"
            " WHERE holder_id = ANY($1::uuid[])",
            list(holders),
        )
        return {(r[0], r[1], r[2]): r[3] for r in rows}

    def outbox_part(self, q: Statement, events: Sequence[dict[str, Any]]) -> str:
        """A part of a statement writing the events of its transaction to the outbox
        (`UnitOfWork.outbox_rows`)."""
        return (
            f"outbox AS (INSERT INTO {self._outbox} (id, channel, type, payload, created_at)"
            " SELECT i, c, t, p::jsonb, a FROM "
            + q.arrays(
                [
                    [e["id"] for e in events],
                    [e["channel"] for e in events],
                    [e["type"] for e in events],
                    [json_text(e["payload"]) for e in events],
                    [e["created_at"] for e in events],
                ],
                "uuid text text text timestamptz",
            )
            + " AS v(i, c, t, p, a))"
        )

    async def save_changes(
        self,
        carts: Sequence[Cart],
        levels: Sequence[LockedLevel],
        holds: Sequence[Hold],
        events: Sequence[dict[str, Any]],
        now: datetime,
    ) -> None:
        """In one statement: each cart's lines and its next version, the levels'
        reservations, the carts' holds as the group leaves them (made or changed, or
        dropped at zero), and the group's events. Refused whole if any cart is not at
        the version before (they are locked: that would be a defect, not a race)."""
        q = Statement()
        at = q.param(now, "timestamptz")
        kept = [h for h in holds if h.quantity > 0]
        dropped = [h for h in holds if h.quantity == 0]
        sql = (
            f"WITH carts AS (UPDATE {self._carts} c SET lines = v.l::jsonb, version = v.n,"
            f" updated_at = {at} FROM "
            + q.arrays(
                [
                    [c.id for c in carts],
                    [json_text(c.lines) for c in carts],
                    [c.version for c in carts],
                ],
                "uuid text int",
            )
            + " AS v(i, l, n) WHERE c.id = v.i AND c.version = v.n - 1 RETURNING 1)"
            + f", levels AS (UPDATE {self._levels} l SET reserved = v.r, updated_at = {at} FROM "
            + q.unnest(levels, "shop_id:uuid product_id:uuid reserved:numeric")
            + " AS v(s, p, r) WHERE l.shop_id = v.s AND l.product_id = v.p)"
            + f", kept AS (INSERT INTO {self._holds} (id, holder_id, shop_id, product_id,"
            f" quantity, created_at, updated_at) SELECT i, h, s, p, q, {at}, {at} FROM "
            + q.arrays(
                [[new_id() for _ in kept]],
                "uuid",
                columns(kept, "holder_id shop_id product_id quantity"),
                "uuid uuid uuid numeric",
            )
            + " AS v(i, h, s, p, q) ON CONFLICT (holder_id, shop_id, product_id) DO UPDATE"
            " SET quantity = excluded.quantity, updated_at = excluded.updated_at)"
            + f", dropped AS (DELETE FROM {self._holds} r USING "
            + q.unnest(dropped, "holder_id:uuid shop_id:uuid product_id:uuid")
            + " AS v(h, s, p) WHERE r.holder_id = v.h AND r.shop_id = v.s"
            " AND r.product_id = v.p), "
            + self.outbox_part(q, events)
            + " SELECT count(*) FROM carts"
        )
        (saved,) = (await self._rows(sql, *q.params))[0]
        if saved != len(carts):
            raise RuntimeError("a locked cart changed under its lock")
