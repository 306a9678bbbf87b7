"""Queries over the catalogue and stock tables."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, delete, exists, func, inspect, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from hub.adapters.db.catalogue_tables import (
    Barcode,
    Batch,
    Category,
    Product,
    ProductImage,
    StockLevel,
    StockMovement,
    StockReservation,
    Supplier,
)
from hub.adapters.db.repositories import PageRequest, _like, _page
from hub.adapters.db.types import utcnow
from hub.domain.text import fold

ZERO = Decimal("0")
# What could be a barcode: printable ASCII without spaces (a Cyrillic name cannot).
_BARCODE_TEXT = re.compile(r"[\x21-\x7e]{1,48}")


class Categories:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, category: Category) -> None:
        self._session.add(category)

    async def get(self, category_id: uuid.UUID) -> Category | None:
        return await self._session.get(Category, category_id)

    async def all(self) -> list[Category]:
        return list(await self._session.scalars(select(Category).order_by(Category.name)))

    async def find(
        self, page: PageRequest, *, parent: uuid.UUID | None, roots: bool, search: str | None
    ) -> tuple[list[Category], int]:
        query = select(Category).order_by(Category.name, Category.id)
        if roots:
            query = query.where(Category.parent_id.is_(None))
        elif parent is not None:
            query = query.where(Category.parent_id == parent)
        if search:
            query = query.where(Category.name.ilike(_like(search)))
        return await _page(self._session, query, page)

    async def by_parent_and_name(self, parent_id: uuid.UUID | None, name: str) -> Category | None:
        parent = (
            Category.parent_id.is_(None) if parent_id is None else Category.parent_id == parent_id
        )
        return await self._session.scalar(
            select(Category).where(parent, func.lower(Category.name) == name.lower()).limit(1)
        )

    async def in_use(self, category_id: uuid.UUID) -> bool:
        child = exists().where(Category.parent_id == category_id)
        product = exists().where(Product.category_id == category_id)
        return bool(await self._session.scalar(select(or_(child, product))))

    async def delete(self, category: Category) -> None:
        await self._session.delete(category)


class Suppliers:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, supplier: Supplier) -> None:
        self._session.add(supplier)

    async def get(self, supplier_id: uuid.UUID) -> Supplier | None:
        return await self._session.get(Supplier, supplier_id)

    async def by_name(self, name: str) -> Supplier | None:
        return await self._session.scalar(
            select(Supplier).where(func.lower(Supplier.name) == name.lower()).limit(1)
        )

    async def find(
        self, page: PageRequest, *, is_active: bool | None, search: str | None
    ) -> tuple[list[Supplier], int]:
        query = select(Supplier).order_by(Supplier.name, Supplier.id)
        if is_active is not None:
            query = query.where(Supplier.is_active == is_active)
        if search:
            query = query.where(
                or_(Supplier.name.ilike(_like(search)), Supplier.tax_id.startswith(search))
            )
        return await _page(self._session, query, page)


@dataclass(frozen=True)
class ProductFilter:
    search: str | None = None
    barcode: str | None = None
    sku: str | None = None
    category_ids: Sequence[uuid.UUID] | None = None
    supplier: uuid.UUID | None = None
    is_active: bool | None = None


class Products:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        # The session's identity map holds its objects weakly: a product a caller read
        # and let go of would be read again. Held here, it stays loaded for the unit of
        # work (a cart change reads its lines' products once, not once per step).
        self._held: dict[uuid.UUID, Product] = {}

    def add(self, product: Product) -> None:
        self._session.add(product)

    async def get(self, product_id: uuid.UUID, *, for_update: bool = False) -> Product | None:
        product = await self._session.get(Product, product_id, with_for_update=for_update)
        if product is not None:
            self._held[product.id] = product
        return product

    async def many(self, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Product]:
        """By id; those this unit of work already loaded are not read again."""
        found: dict[uuid.UUID, Product] = {}
        missing = set()
        for product_id in product_ids:
            loaded = self._session.identity_map.get(identity_key(Product, product_id))
            if isinstance(loaded, Product) and not inspect(loaded).expired_attributes:
                found[product_id] = loaded
            else:
                missing.add(product_id)
        if missing:
            rows = await self._session.scalars(select(Product).where(Product.id.in_(missing)))
            found.update((p.id, p) for p in rows)
        self._held.update(found)
        return found

    async def by_barcode(self, code: str) -> Product | None:
        product = await self._session.scalar(
            select(Product)
            .join(Barcode, Barcode.product_id == Product.id)
            .where(Barcode.code == code)
        )
        if product is not None:
            self._held[product.id] = product
        return product

    async def by_sku(self, sku: str) -> Product | None:
        return await self._session.scalar(select(Product).where(Product.sku == sku))

    async def skus_taken(self, skus: Iterable[str]) -> dict[str, uuid.UUID]:
        wanted = list(set(skus))
        found: dict[str, uuid.UUID] = {}
        for start in range(0, len(wanted), 500):
            rows = await self._session.execute(
                select(Product.sku, Product.id).where(Product.sku.in_(wanted[start : start + 500]))
            )
            found.update({sku: pid for sku, pid in rows if sku is not None})
        return found

    async def _query(self, where: ProductFilter) -> Select[Any]:
        query = select(Product)
        if where.barcode is not None:
            query = query.join(Barcode, Barcode.product_id == Product.id).where(
                Barcode.code == where.barcode.strip()
            )
        if where.sku is not None:
            query = query.where(Product.sku == where.sku)
        if where.search:
            text = where.search.strip()
            # What a cashier types into one box: a name fragment anywhere (the trigram
            # index on PostgreSQL), an exact SKU, or a barcode. The barcode is resolved
            # first, and an empty IN is left out, so that the OR stays a union of index
            # scans instead of a filter over every row.
            by_barcode = []
            if _BARCODE_TEXT.fullmatch(text):
                by_barcode = list(
                    await self._session.scalars(
                        select(Barcode.product_id).where(Barcode.code == text)
                    )
                )
            matches = [
                Product.name_folded.like(_like(fold(text)), escape="\\"),
                Product.sku == text,
            ]
            if by_barcode:
                matches.append(Product.id.in_(by_barcode))
            query = query.where(or_(*matches))
        if where.category_ids is not None:
            query = query.where(Product.category_id.in_(where.category_ids))
        if where.supplier is not None:
            query = query.where(Product.supplier_id == where.supplier)
        if where.is_active is not None:
            query = query.where(Product.is_active == where.is_active)
        return query

    @staticmethod
    def _order(where: ProductFilter) -> tuple[Any, ...]:
        if where.search:
            # Sort the (few) matches rather than walk the name index in order, filtering
            # as it goes: that plan reads half the table for a fragment it misjudges as
            # common. `|| ''` hides the index from the ORDER BY and nothing else.
            return (Product.name_folded + "", Product.id)
        return (Product.name_folded, Product.id)

    async def find(self, page: PageRequest, where: ProductFilter) -> tuple[list[Product], int]:
        query = (await self._query(where)).order_by(*self._order(where))
        return await _page(self._session, query, page)

    async def all_matching(self, where: ProductFilter) -> list[Product]:
        """Every match, for exports (ordered like the list)."""
        query = (await self._query(where)).order_by(*self._order(where))
        return list(await self._session.scalars(query))

    async def has_history(self, product_id: uuid.UUID) -> bool:
        moved = exists().where(StockMovement.product_id == product_id)
        return bool(await self._session.scalar(select(moved)))

    async def delete(self, product: Product) -> None:
        await self._session.delete(product)

    # --- barcodes ---

    async def barcodes_of(self, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Barcode]]:
        ids = list(set(product_ids))
        found: dict[uuid.UUID, list[Barcode]] = {pid: [] for pid in ids}
        for start in range(0, len(ids), 500):
            rows = await self._session.scalars(
                select(Barcode)
                .where(Barcode.product_id.in_(ids[start : start + 500]))
                .order_by(Barcode.code)
            )
            for barcode in rows:
                found[barcode.product_id].append(barcode)
        return found

    async def barcode_owners(self, codes: Iterable[str]) -> dict[str, uuid.UUID]:
        wanted = list(set(codes))
        owners: dict[str, uuid.UUID] = {}
        for start in range(0, len(wanted), 500):
            rows = await self._session.execute(
                select(Barcode.code, Barcode.product_id).where(
                    Barcode.code.in_(wanted[start : start + 500])
                )
            )
            owners.update(dict(rows.all()))
        return owners

    async def replace_barcodes(self, product_id: uuid.UUID, barcodes: Sequence[Barcode]) -> None:
        await self._session.execute(delete(Barcode).where(Barcode.product_id == product_id))
        await self._session.flush()
        self._session.add_all(barcodes)

    # --- images ---

    def add_image(self, image: ProductImage) -> None:
        self._session.add(image)

    async def images_of(self, product_id: uuid.UUID) -> list[ProductImage]:
        return list(
            await self._session.scalars(
                select(ProductImage)
                .where(ProductImage.product_id == product_id)
                .order_by(ProductImage.created_at, ProductImage.id)
            )
        )

    async def image(self, product_id: uuid.UUID, image_id: uuid.UUID) -> ProductImage | None:
        return await self._session.scalar(
            select(ProductImage).where(
                ProductImage.id == image_id, ProductImage.product_id == product_id
            )
        )

    async def delete_image(self, image: ProductImage) -> None:
        await self._session.delete(image)


@dataclass(frozen=True)
class MovementFilter:
    shops: frozenset[uuid.UUID] | None = None
    shop: uuid.UUID | None = None
    product: uuid.UUID | None = None
    kind: str | None = None
    ref: uuid.UUID | None = None
    sale: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class HeldLevel:
    """`Stock.lock_level_for_hold`: a level, one holder's reservation of it, and whether
    the level has dated batches."""

    level: StockLevel
    reservation: StockReservation | None
    has_dated_batches: bool


class Stock:
    """Levels, batches, the ledger and reservations. Writers lock the level row first."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_level(self, shop_id: uuid.UUID, product_id: uuid.UUID) -> StockLevel:
        """The (shop, product) level row, created if missing, locked until commit."""
        return (await self.lock_levels(shop_id, [product_id]))[product_id]

    async def lock_levels(
        self, shop_id: uuid.UUID, product_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, StockLevel]:
        """The shop's level rows of these products, created if missing, locked until
        commit in product order (the order every writer takes them in).

        On PostgreSQL the row locks serialise concurrent changes of one product in one
        shop; on SQLite a writing unit of work already holds the database's write lock.
        The rows almost always exist: they are locked first, created only when not."""
        wanted = sorted(set(product_ids))
        locking = (
            select(StockLevel)
            .where(StockLevel.shop_id == shop_id, StockLevel.product_id.in_(wanted))
            .order_by(StockLevel.product_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        levels = {level.product_id: level for level in await self._session.scalars(locking)}
        if len(levels) == len(wanted):
            return levels
        dialect = self._session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        now = utcnow()
        await self._session.execute(
            insert(StockLevel)
            .values(
                [
                    {
                        "shop_id": shop_id,
                        "product_id": product_id,
                        "on_hand": ZERO,
                        "reserved": ZERO,
                        "updated_at": now,
                    }
                    for product_id in wanted
                    if product_id not in levels
                ]
            )
            .on_conflict_do_nothing()
        )
        levels = {level.product_id: level for level in await self._session.scalars(locking)}
        assert len(levels) == len(wanted)
        return levels

    async def lock_level_for_hold(
        self, shop_id: uuid.UUID, product_id: uuid.UUID, holder_id: uuid.UUID
    ) -> HeldLevel | None:
        """A reservation's view of one level in one statement: the level row locked, the
        holder's reservation of it, and whether any batch left has an expiry date (only
        those can make goods unavailable). None when the level row does not exist yet."""
        dated = exists().where(
            Batch.shop_id == shop_id,
            Batch.product_id == product_id,
            Batch.remaining > ZERO,
            Batch.expiry_date.is_not(None),
        )
        row = (
            await self._session.execute(
                select(StockLevel, StockReservation, dated)
                .outerjoin(
                    StockReservation,
                    (StockReservation.holder_id == holder_id)
                    & (StockReservation.shop_id == StockLevel.shop_id)
                    & (StockReservation.product_id == StockLevel.product_id),
                )
                .where(StockLevel.shop_id == shop_id, StockLevel.product_id == product_id)
                .with_for_update(of=StockLevel)
                .execution_options(populate_existing=True)
            )
        ).first()
        return None if row is None else HeldLevel(row[0], row[1], bool(row[2]))

    async def level(self, shop_id: uuid.UUID, product_id: uuid.UUID) -> StockLevel | None:
        return await self._session.get(StockLevel, (shop_id, product_id))

    async def levels(
        self,
        page: PageRequest | None,
        *,
        shops: frozenset[uuid.UUID] | None,
        shop: uuid.UUID | None,
        product: uuid.UUID | None,
        in_stock: bool | None,
    ) -> tuple[list[StockLevel], int]:
        query = select(StockLevel).order_by(StockLevel.shop_id, StockLevel.product_id)
        if shops is not None:
            query = query.where(StockLevel.shop_id.in_(shops))
        if shop is not None:
            query = query.where(StockLevel.shop_id == shop)
        if product is not None:
            query = query.where(StockLevel.product_id == product)
        if in_stock is not None:
            query = query.where((StockLevel.on_hand > ZERO) == in_stock)
        if page is None:
            rows = list(await self._session.scalars(query))
            return rows, len(rows)
        return await _page(self._session, query, page)

    async def batches_for(self, shop_id: uuid.UUID, product_id: uuid.UUID) -> list[Batch]:
        """Batches with something left, locked with the level they belong to."""
        return (await self.batches_of(shop_id, [product_id])).get(product_id, [])

    async def batches_of(
        self, shop_id: uuid.UUID, product_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[Batch]]:
        """`batches_for` several products at once, by product."""
        rows = await self._session.scalars(
            select(Batch)
            .where(
                Batch.shop_id == shop_id,
                Batch.product_id.in_(set(product_ids)),
                Batch.remaining > ZERO,
            )
            .with_for_update()
        )
        found: dict[uuid.UUID, list[Batch]] = {}
        for batch in rows:
            found.setdefault(batch.product_id, []).append(batch)
        return found

    async def batches_for_reading(self, shop_id: uuid.UUID, product_id: uuid.UUID) -> list[Batch]:
        return list(
            await self._session.scalars(
                select(Batch).where(
                    Batch.shop_id == shop_id,
                    Batch.product_id == product_id,
                    Batch.remaining > ZERO,
                )
            )
        )

    async def dated_batches(
        self, shop_ids: Iterable[uuid.UUID], product_ids: Iterable[uuid.UUID]
    ) -> dict[tuple[uuid.UUID, uuid.UUID], list[Batch]]:
        """Batches with something left and an expiry date, of these shops' and products'
        levels, by (shop, product): what may have expired, for a page of levels at once."""
        rows = await self._session.scalars(
            select(Batch).where(
                Batch.shop_id.in_(set(shop_ids)),
                Batch.product_id.in_(set(product_ids)),
                Batch.remaining > ZERO,
                Batch.expiry_date.is_not(None),
            )
        )
        found: dict[tuple[uuid.UUID, uuid.UUID], list[Batch]] = {}
        for batch in rows:
            found.setdefault((batch.shop_id, batch.product_id), []).append(batch)
        return found

    async def batches(self, batch_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Batch]:
        ids = set(batch_ids)
        if not ids:
            return {}
        rows = await self._session.scalars(select(Batch).where(Batch.id.in_(ids)))
        return {b.id: b for b in rows}

    async def find_batches(
        self,
        page: PageRequest,
        *,
        shops: frozenset[uuid.UUID] | None,
        shop: uuid.UUID | None,
        product: uuid.UUID | None,
        only_remaining: bool,
        expiring_before: Any,
    ) -> tuple[list[Batch], int]:
        query = select(Batch).order_by(Batch.received_at.desc(), Batch.id.desc())
        if shops is not None:
            query = query.where(Batch.shop_id.in_(shops))
        if shop is not None:
            query = query.where(Batch.shop_id == shop)
        if product is not None:
            query = query.where(Batch.product_id == product)
        if only_remaining:
            query = query.where(Batch.remaining > ZERO)
        if expiring_before is not None:
            query = query.where(Batch.expiry_date < expiring_before)
        return await _page(self._session, query, page)

    async def get_batch(self, batch_id: uuid.UUID) -> Batch | None:
        return await self._session.get(Batch, batch_id)

    def add(self, *rows: Batch | StockMovement | StockReservation) -> None:
        self._session.add_all(rows)

    async def movements(
        self, page: PageRequest | None, where: MovementFilter
    ) -> tuple[list[StockMovement], int]:
        query = select(StockMovement).order_by(
            StockMovement.created_at.desc(), StockMovement.id.desc()
        )
        if where.shops is not None:
            query = query.where(StockMovement.shop_id.in_(where.shops))
        if where.shop is not None:
            query = query.where(StockMovement.shop_id == where.shop)
        if where.product is not None:
            query = query.where(StockMovement.product_id == where.product)
        if where.kind is not None:
            query = query.where(StockMovement.kind == where.kind)
        if where.ref is not None:
            query = query.where(StockMovement.ref_id == where.ref)
        if where.sale is not None:
            query = query.where(StockMovement.sale_id == where.sale)
        if where.since is not None:
            query = query.where(StockMovement.created_at >= where.since)
        if where.until is not None:
            query = query.where(StockMovement.created_at < where.until)
        if page is None:
            rows = list(await self._session.scalars(query))
            return rows, len(rows)
        return await _page(self._session, query, page)

    async def reservation(
        self, holder_id: uuid.UUID, shop_id: uuid.UUID, product_id: uuid.UUID
    ) -> StockReservation | None:
        return await self._session.scalar(
            select(StockReservation).where(
                StockReservation.holder_id == holder_id,
                StockReservation.shop_id == shop_id,
                StockReservation.product_id == product_id,
            )
        )

    async def reservations_of(self, holder_id: uuid.UUID) -> list[StockReservation]:
        return list(
            await self._session.scalars(
                select(StockReservation)
                .where(StockReservation.holder_id == holder_id)
                .order_by(StockReservation.shop_id, StockReservation.product_id)
            )
        )

    async def delete_reservation(self, reservation: StockReservation) -> None:
        await self._session.delete(reservation)

    async def discrepancies(self) -> list[tuple[uuid.UUID, uuid.UUID, str, Decimal, Decimal]]:
        """(shop, product, what, recorded, computed) wherever the three records disagree."""
        found: list[tuple[uuid.UUID, uuid.UUID, str, Decimal, Decimal]] = []
        ledger = (
            select(
                StockMovement.shop_id,
                StockMovement.product_id,
                func.sum(StockMovement.quantity).label("total"),
            )
            .group_by(StockMovement.shop_id, StockMovement.product_id)
            .subquery()
        )
        held = (
            select(
                StockReservation.shop_id,
                StockReservation.product_id,
                func.sum(StockReservation.quantity).label("total"),
            )
            .group_by(StockReservation.shop_id, StockReservation.product_id)
            .subquery()
        )
        left = (
            select(Batch.shop_id, Batch.product_id, func.sum(Batch.remaining).label("total"))
            .group_by(Batch.shop_id, Batch.product_id)
            .subquery()
        )
        levels = {
            (lv.shop_id, lv.product_id): lv
            for lv in await self._session.scalars(select(StockLevel))
        }
        sums: dict[str, dict[tuple[uuid.UUID, uuid.UUID], Decimal]] = {}
        for name, sub in (("ledger", ledger), ("reserved", held), ("batches", left)):
            rows = await self._session.execute(select(sub.c.shop_id, sub.c.product_id, sub.c.total))
            sums[name] = {(s, p): t or ZERO for s, p, t in rows}
        keys = set(levels) | set(sums["ledger"]) | set(sums["reserved"]) | set(sums["batches"])
        for key in sorted(keys):
            level = levels.get(key)
            on_hand = level.on_hand if level else ZERO
            reserved = level.reserved if level else ZERO
            checks = (
                ("on_hand", on_hand, sums["ledger"].get(key, ZERO)),
                ("reserved", reserved, sums["reserved"].get(key, ZERO)),
                ("batches", max(on_hand, ZERO), sums["batches"].get(key, ZERO)),
            )
            for what, recorded, computed in checks:
                if recorded != computed:
                    found.append((key[0], key[1], what, recorded, computed))
        return found
