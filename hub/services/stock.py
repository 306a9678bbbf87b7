"""Stock use cases: goods in, adjustments, write-offs, transfers, and the functions the
sales module calls inside its own transaction (reserve, release, consume, return).

Every change locks the (shop, product) level row first, then batches, then writes
movement rows; so on hand always equals the ledger's sum (`verify` proves it), and two
tills selling the last unit are serialised on that lock: one sells, one is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hub.adapters.db.catalogue_repositories import MovementFilter
from hub.adapters.db.catalogue_tables import (
    Batch,
    Product,
    StockLevel,
    StockMovement,
    StockReservation,
)
from hub.adapters.db.repositories import PageRequest
from hub.adapters.db.tables import Shop
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.domain.catalogue import Unit, money
from hub.domain.errors import NotFound, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.permissions import Permission
from hub.domain.stock import (
    ZERO,
    BatchView,
    InsufficientStock,
    MovementKind,
    Portion,
    allocate,
    allocate_return,
    expired_quantity,
)
from hub.domain.tenant_settings import TenantSettings
from hub.services.principal import Principal
from hub.services.shops import get_shop
from protocol import channels


@dataclass(frozen=True)
class StockView:
    shop_id: uuid.UUID
    product_id: uuid.UUID
    on_hand: Decimal
    reserved: Decimal
    expired: Decimal

    @property
    def available(self) -> Decimal:
        """What can still be sold: on hand less reservations and expired goods."""
        return self.on_hand - self.reserved - self.expired


@dataclass(frozen=True)
class StockLine:
    product_id: uuid.UUID
    quantity: Decimal


@dataclass(frozen=True)
class Receipt:
    shop_id: uuid.UUID
    product_id: uuid.UUID
    quantity: Decimal
    cost: Decimal | None = None
    batch_number: str = ""
    expiry_date: date | None = None
    supplier_id: uuid.UUID | None = None
    reason: str = ""


def shop_today(shop: Shop) -> date:
    """The calendar date in the shop: expiry is a local matter."""
    return datetime.now(ZoneInfo(shop.timezone)).date()


def _view(batch: Batch) -> BatchView:
    return BatchView(batch.id, batch.remaining, batch.expiry_date, batch.received_at)


async def _shop(uow: UnitOfWork, principal: Principal | None, shop_id: uuid.UUID) -> Shop:
    """The shop as `principal` may see it; without one (the hub's own work), any shop."""
    if principal is not None:
        return await get_shop(uow, principal, shop_id)
    shop = await uow.shops.get(shop_id)
    if shop is None:
        raise NotFound("no such shop", fields={"shop": "no such shop"})
    return shop


async def _product(uow: UnitOfWork, product_id: uuid.UUID) -> Product:
    product = await uow.products.get(product_id)
    if product is None:
        raise NotFound("no such product", fields={"product": "no such product"})
    return product


def _positive(product: Product, quantity: Decimal, field: str = "quantity") -> Decimal:
    checked = Unit(product.unit).quantity(quantity, field=field)
    if checked <= 0:
        raise ValidationFailed("quantity must be positive", fields={field: "greater than 0"})
    return checked


async def _today(uow: UnitOfWork, shop: Shop | uuid.UUID, batches: Sequence[Batch]) -> date:
    """The shop's date, which says what has expired; given only the shop's id, the shop
    is read only if one of the batches has an expiry date."""
    if isinstance(shop, Shop):
        return shop_today(shop)
    if any(b.expiry_date for b in batches):
        return shop_today(await _shop(uow, None, shop))
    return datetime.now(UTC).date()  # no expiry dates: nothing it could change


async def _settings(uow: UnitOfWork) -> TenantSettings:
    return TenantSettings.from_json(await uow.tenants.settings())


class _Change:
    """One locked (shop, product): batches taken or filled, movements written, and one
    `stock.changed` event when done."""

    def __init__(
        self,
        uow: UnitOfWork,
        shop_id: uuid.UUID,
        today: date,
        product: Product,
        level: StockLevel,
        batches: list[Batch],
    ) -> None:
        self.uow = uow
        self.shop_id = shop_id
        self.today = today  # in the shop: what has expired
        self.product = product
        self.level = level
        self.batches = {b.id: b for b in batches}

    @classmethod
    async def open(cls, uow: UnitOfWork, shop: Shop | uuid.UUID, product: Product) -> _Change:
        return (await cls.open_many(uow, shop, [product]))[product.id]

    @classmethod
    async def open_many(
        cls, uow: UnitOfWork, shop: Shop | uuid.UUID, products: Sequence[Product]
    ) -> dict[uuid.UUID, _Change]:
        """Several products of one shop, locked in one statement (in product order) and
        their batches read in another. Given only the shop's id, the shop is read only
        if a batch has an expiry date (its time zone says what has expired)."""
        shop_id = shop if isinstance(shop, uuid.UUID) else shop.id
        ids = [p.id for p in products]
        levels = await uow.stock.lock_levels(shop_id, ids)
        batches = await uow.stock.batches_of(shop_id, ids)
        today = await _today(uow, shop, [b for found in batches.values() for b in found])
        return {
            p.id: cls(uow, shop_id, today, p, levels[p.id], batches.get(p.id, [])) for p in products
        }

    @classmethod
    async def open_for_hold(
        cls, uow: UnitOfWork, shop_id: uuid.UUID, product: Product, holder_id: uuid.UUID
    ) -> tuple[_Change, StockReservation | None]:
        """What a reservation needs, in one statement when the level exists: the level
        locked and the holder's reservation; batches only if some have an expiry date
        (a reservation moves no batch, it only needs what has expired)."""
        held = await uow.stock.lock_level_for_hold(shop_id, product.id, holder_id)
        if held is None:  # the product was never stocked here: make its level
            change = await cls.open(uow, shop_id, product)
            return change, await uow.stock.reservation(holder_id, shop_id, product.id)
        batches: list[Batch] = []
        if held.has_dated_batches:
            batches = (await uow.stock.dated_batches([shop_id], [product.id])).get(
                (shop_id, product.id), []
            )
        today = await _today(uow, shop_id, batches)
        return cls(uow, shop_id, today, product, held.level, batches), held.reservation

    def expired(self) -> Decimal:
        return expired_quantity(map(_view, self.batches.values()), self.today)

    def view(self) -> StockView:
        return StockView(
            self.shop_id, self.product.id, self.level.on_hand, self.level.reserved, self.expired()
        )

    def move(
        self,
        kind: MovementKind,
        quantity: Decimal,
        *,
        batch_id: uuid.UUID | None,
        reason: str,
        ref_id: uuid.UUID | None,
        user_id: uuid.UUID | None,
        sale_id: uuid.UUID | None = None,
    ) -> StockMovement:
        movement = StockMovement(
            shop_id=self.shop_id,
            product_id=self.product.id,
            batch_id=batch_id,
            kind=kind.value,
            quantity=quantity,
            reason=reason,
            ref_id=ref_id,
            sale_id=sale_id,
            user_id=user_id,
            created_at=utcnow(),
        )
        self.uow.stock.add(movement)
        self.level.on_hand += quantity
        return movement

    def take(
        self,
        kind: MovementKind,
        quantity: Decimal,
        *,
        include_expired: bool,
        allow_negative: bool,
        reason: str,
        ref_id: uuid.UUID | None,
        user_id: uuid.UUID | None,
        sale_id: uuid.UUID | None = None,
    ) -> list[Portion]:
        portions = allocate(
            [_view(b) for b in self.batches.values()],
            quantity,
            today=self.today,
            include_expired=include_expired,
            allow_negative=allow_negative,
        )
        for portion in portions:
            if portion.batch_id is not None:
                self.batches[portion.batch_id].remaining -= portion.quantity
            self.move(
                kind,
                -portion.quantity,
                batch_id=portion.batch_id,
                reason=reason,
                ref_id=ref_id,
                user_id=user_id,
                sale_id=sale_id,
            )
        return portions

    def add_batch(self, batch: Batch) -> None:
        """A new batch; if stock was negative, the goods first cover what was sold
        without a batch, so batches keep summing to on hand."""
        shortfall = -min(self.level.on_hand, ZERO)
        batch.remaining = batch.quantity - min(batch.quantity, shortfall)
        self.uow.stock.add(batch)
        self.batches[batch.id] = batch

    def announce(self, kind: MovementKind | str) -> None:
        announce_level(self.uow, self.view(), kind)


def announce_level(uow: UnitOfWork, view: StockView, kind: MovementKind | str) -> None:
    """`stock.changed` on the shop's channel: a level as it is after a change of `kind`."""
    uow.emit(
        channels.shop(uow.tenant_id, view.shop_id),
        "stock.changed",
        {
            "shop": str(view.shop_id),
            "product": str(view.product_id),
            "on_hand": str(view.on_hand),
            "reserved": str(view.reserved),
            "available": str(view.available),
            "kind": str(kind),
        },
    )


# --- reading -------------------------------------------------------------------------


async def stock_views(uow: UnitOfWork, levels: Sequence[StockLevel]) -> list[StockView]:
    """Levels with their expired quantity (by each shop's own date); the batches of a
    whole page in one query."""
    if not levels:
        return []
    shops = {s.id: s for s in await _shops(uow, {lv.shop_id for lv in levels})}
    dated = await uow.stock.dated_batches(
        {lv.shop_id for lv in levels}, {lv.product_id for lv in levels}
    )
    views = []
    for level in levels:
        batches = dated.get((level.shop_id, level.product_id), [])
        expired = expired_quantity(map(_view, batches), shop_today(shops[level.shop_id]))
        views.append(
            StockView(level.shop_id, level.product_id, level.on_hand, level.reserved, expired)
        )
    return views


async def _shops(uow: UnitOfWork, shop_ids: set[uuid.UUID]) -> list[Shop]:
    return [shop for sid in shop_ids if (shop := await uow.shops.get(sid)) is not None]


async def get_stock(
    uow: UnitOfWork, principal: Principal, shop_id: uuid.UUID, product_id: uuid.UUID
) -> StockView:
    principal.require(Permission.STOCK_VIEW)
    await _shop(uow, principal, shop_id)
    await _product(uow, product_id)
    level = await uow.stock.level(shop_id, product_id)
    if level is None:
        return StockView(shop_id, product_id, ZERO, ZERO, ZERO)
    return (await stock_views(uow, [level]))[0]


async def list_stock(
    uow: UnitOfWork,
    principal: Principal,
    page: PageRequest | None,
    *,
    shop_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    in_stock: bool | None = None,
) -> tuple[list[StockView], int]:
    principal.require(Permission.STOCK_VIEW)
    if shop_id is not None:
        await _shop(uow, principal, shop_id)
    levels, count = await uow.stock.levels(
        page,
        shops=principal.visible_shops(),
        shop=shop_id,
        product=product_id,
        in_stock=in_stock,
    )
    return await stock_views(uow, levels), count


async def list_movements(
    uow: UnitOfWork, principal: Principal, page: PageRequest | None, where: MovementFilter
) -> tuple[list[StockMovement], int]:
    principal.require(Permission.STOCK_VIEW)
    if where.shop is not None:
        await _shop(uow, principal, where.shop)
    scoped = MovementFilter(**{**where.__dict__, "shops": principal.visible_shops()})
    return await uow.stock.movements(page, scoped)


# --- stockkeeping --------------------------------------------------------------------


async def receive(
    uow: UnitOfWork, principal: Principal | None, receipt: Receipt, *, commit: bool = True
) -> Batch:
    """Goods in: a batch and its receipt movement; stock rises."""
    if principal is not None:
        principal.require(Permission.STOCK_MANAGE)
    shop = await _shop(uow, principal, receipt.shop_id)
    product = await _product(uow, receipt.product_id)
    quantity = _positive(product, receipt.quantity)
    cost = product.cost if receipt.cost is None else money(receipt.cost, field="cost")
    if receipt.supplier_id is not None and await uow.suppliers.get(receipt.supplier_id) is None:
        raise NotFound("no such supplier", fields={"supplier": "no such supplier"})
    change = await _Change.open(uow, shop, product)
    batch = Batch(
        id=new_id(),
        shop_id=shop.id,
        product_id=product.id,
        batch_number=receipt.batch_number.strip(),
        supplier_id=receipt.supplier_id or product.supplier_id,
        received_at=utcnow(),
        expiry_date=receipt.expiry_date,
        cost=cost,
        quantity=quantity,
        remaining=quantity,
        created_by=principal.user_id if principal else None,
    )
    change.add_batch(batch)
    change.move(
        MovementKind.RECEIPT,
        quantity,
        batch_id=batch.id,
        reason=receipt.reason,
        ref_id=None,
        user_id=batch.created_by,
    )
    change.announce(MovementKind.RECEIPT)
    if commit:
        await uow.commit()
    return batch


async def adjust(
    uow: UnitOfWork,
    principal: Principal,
    shop_id: uuid.UUID,
    product_id: uuid.UUID,
    counted: Decimal,
    reason: str,
) -> StockView:
    """Inventory count: on hand becomes `counted`. A shortage leaves the batches in
    consumption order; a surplus becomes a batch of its own at the product's cost."""
    principal.require(Permission.STOCK_MANAGE)
    shop = await _shop(uow, principal, shop_id)
    product = await _product(uow, product_id)
    counted = Unit(product.unit).quantity(counted, field="counted")
    if counted < 0:
        raise ValidationFailed("a count is not negative", fields={"counted": "0 or more"})
    change = await _Change.open(uow, shop, product)
    delta = counted - change.level.on_hand
    if delta < 0:
        change.take(
            MovementKind.ADJUSTMENT,
            -delta,
            include_expired=True,
            allow_negative=True,
            reason=reason,
            ref_id=None,
            user_id=principal.user_id,
        )
    elif delta > 0:
        batch = Batch(
            id=new_id(),
            shop_id=shop.id,
            product_id=product.id,
            batch_number="count surplus",
            supplier_id=None,
            received_at=utcnow(),
            expiry_date=None,
            cost=product.cost,
            quantity=delta,
            remaining=delta,
            created_by=principal.user_id,
        )
        change.add_batch(batch)
        change.move(
            MovementKind.ADJUSTMENT,
            delta,
            batch_id=batch.id,
            reason=reason,
            ref_id=None,
            user_id=principal.user_id,
        )
    if delta != 0:
        change.announce(MovementKind.ADJUSTMENT)
    view = change.view()
    await uow.commit()
    return view


async def write_off(
    uow: UnitOfWork,
    principal: Principal,
    shop_id: uuid.UUID,
    product_id: uuid.UUID,
    quantity: Decimal,
    reason: str,
    *,
    batch_id: uuid.UUID | None = None,
) -> StockView:
    """Damaged, expired or lost goods leave stock: from one named batch (an expired lot),
    or in consumption order, expired batches first."""
    principal.require(Permission.STOCK_MANAGE)
    shop = await _shop(uow, principal, shop_id)
    product = await _product(uow, product_id)
    quantity = _positive(product, quantity)
    if not reason.strip():
        raise ValidationFailed("say why", fields={"reason": "required for a write-off"})
    change = await _Change.open(uow, shop, product)
    if batch_id is not None:
        batch = change.batches.get(batch_id)
        if batch is None:
            raise NotFound("no such batch with stock here", fields={"batch": "no such batch"})
        if batch.remaining < quantity:
            raise InsufficientStock(
                f"the batch holds {batch.remaining}",
                fields={"quantity": f"the batch holds {batch.remaining}"},
            )
        batch.remaining -= quantity
        change.move(
            MovementKind.WRITE_OFF,
            -quantity,
            batch_id=batch.id,
            reason=reason,
            ref_id=None,
            user_id=principal.user_id,
        )
    else:
        change.take(
            MovementKind.WRITE_OFF,
            quantity,
            include_expired=True,
            allow_negative=False,
            reason=reason,
            ref_id=None,
            user_id=principal.user_id,
        )
    if change.level.on_hand < change.level.reserved:
        # What live carts hold must still be there.
        raise InsufficientStock(
            "that would take goods reserved by open carts",
            fields={"quantity": f"{change.level.reserved} reserved by open carts"},
        )
    change.announce(MovementKind.WRITE_OFF)
    view = change.view()
    await uow.commit()
    return view


async def transfer(
    uow: UnitOfWork,
    principal: Principal,
    from_shop_id: uuid.UUID,
    to_shop_id: uuid.UUID,
    lines: Sequence[StockLine],
    reason: str,
) -> uuid.UUID:
    """Move goods between two shops of the tenant. Each batch portion taken at the source
    arrives as a batch at the destination with the same number, expiry, cost and
    supplier; both sides' movements carry one transfer id."""
    principal.require(Permission.STOCK_MANAGE)
    if from_shop_id == to_shop_id:
        raise ValidationFailed("same shop", fields={"to_shop": "a different shop"})
    source = await _shop(uow, principal, from_shop_id)
    target = await _shop(uow, principal, to_shop_id)
    if not target.is_active:
        raise ValidationFailed("shop is closed", fields={"to_shop": "an active shop"})
    if not lines:
        raise ValidationFailed("nothing to move", fields={"items": "at least one line"})
    transfer_id = new_id()
    # Lock in a fixed order (shop, product) so two opposite transfers cannot deadlock.
    for line in sorted(lines, key=lambda ln: ln.product_id):
        product = await _product(uow, line.product_id)
        quantity = _positive(product, line.quantity)
        first, second = sorted((source, target), key=lambda shop: shop.id)
        changes = {
            first.id: await _Change.open(uow, first, product),
            second.id: await _Change.open(uow, second, product),
        }
        out, into = changes[source.id], changes[target.id]
        available = out.view().available
        if quantity > available:
            raise InsufficientStock(
                f"only {max(available, ZERO)} available",
                fields={"items": f"{product.name}: only {max(available, ZERO)} available"},
            )
        portions = out.take(
            MovementKind.TRANSFER_OUT,
            quantity,
            include_expired=False,
            allow_negative=False,
            reason=reason,
            ref_id=transfer_id,
            user_id=principal.user_id,
        )
        taken = await uow.stock.batches([p.batch_id for p in portions if p.batch_id])
        for portion in portions:
            origin = taken[portion.batch_id] if portion.batch_id else None
            batch = Batch(
                id=new_id(),
                shop_id=target.id,
                product_id=product.id,
                batch_number=origin.batch_number if origin else "",
                supplier_id=origin.supplier_id if origin else None,
                received_at=utcnow(),
                expiry_date=origin.expiry_date if origin else None,
                cost=origin.cost if origin else product.cost,
                quantity=portion.quantity,
                remaining=portion.quantity,
                created_by=principal.user_id,
            )
            into.add_batch(batch)
            into.move(
                MovementKind.TRANSFER_IN,
                portion.quantity,
                batch_id=batch.id,
                reason=reason,
                ref_id=transfer_id,
                user_id=principal.user_id,
            )
        out.announce(MovementKind.TRANSFER_OUT)
        into.announce(MovementKind.TRANSFER_IN)
    await uow.commit()
    return transfer_id


# --- for the sales module: inside the caller's transaction, no commit ---------------


async def reserve(
    uow: UnitOfWork,
    holder_id: uuid.UUID,
    shop_id: uuid.UUID,
    product_id: uuid.UUID,
    quantity: Decimal,
) -> StockView:
    """Hold `quantity` of a product for a live cart (the holder); an absolute amount, so
    setting a line's quantity is one call and repeating it changes nothing. Zero
    releases. Refused with `insufficient_stock` beyond what is available, unless the
    tenant allows negative stock. The caller commits."""
    product = await _product(uow, product_id)
    quantity = Unit(product.unit).quantity(quantity)
    if quantity < 0:
        raise ValidationFailed("negative quantity", fields={"quantity": "0 or more"})
    change, reservation = await _Change.open_for_hold(uow, shop_id, product, holder_id)
    held = reservation.quantity if reservation else ZERO
    available = change.view().available + held
    if quantity > held and quantity > available and not (await _settings(uow)).allow_negative_stock:
        raise InsufficientStock(
            f"only {max(available, ZERO)} available",
            fields={"quantity": f"only {max(available, ZERO)} available"},
        )
    change.level.reserved += quantity - held
    if reservation is None and quantity > 0:
        uow.stock.add(
            StockReservation(
                holder_id=holder_id, shop_id=shop_id, product_id=product_id, quantity=quantity
            )
        )
    elif reservation is not None and quantity == 0:
        await uow.stock.delete_reservation(reservation)
    elif reservation is not None:
        reservation.quantity = quantity
    if quantity != held:
        change.announce("reservation")
    return change.view()


async def release(
    uow: UnitOfWork, holder_id: uuid.UUID, product_id: uuid.UUID | None = None
) -> None:
    """Drop a cart's holds (all, or one product's). The caller commits."""
    for reservation in await uow.stock.reservations_of(holder_id):
        if product_id is None or reservation.product_id == product_id:
            await reserve(uow, holder_id, reservation.shop_id, reservation.product_id, ZERO)


async def consume_for_sale(
    uow: UnitOfWork,
    shop_id: uuid.UUID,
    sale_id: uuid.UUID,
    lines: Sequence[StockLine],
    *,
    user_id: uuid.UUID | None,
    holder_id: uuid.UUID | None = None,
    new_sale: bool = False,
) -> dict[uuid.UUID, list[Portion]]:
    """Take a sale's goods from their batches (FEFO, then FIFO; expired batches are not
    sold). The holder's reservations, if any, are used up first, and what else it held
    is released (its cart is paid); other carts' reservations are respected. Idempotent
    by sale: a second call returns the portions of the first (`new_sale`: the caller
    just made the sale's id, nothing to look for). The caller commits."""
    if not new_sale:
        done, _ = await uow.stock.movements(None, MovementFilter(ref=sale_id, kind="sale"))
        if done:
            return _portions_by_product(done)
    merged: dict[uuid.UUID, Decimal] = {}
    for line in lines:
        merged[line.product_id] = merged.get(line.product_id, ZERO) + line.quantity
    held_by_holder = [] if holder_id is None else await uow.stock.reservations_of(holder_id)
    holds = {r.product_id: r for r in held_by_holder if r.shop_id == shop_id}
    products = [await _product(uow, product_id) for product_id in sorted(merged)]
    quantities = {p.id: _positive(p, merged[p.id]) for p in products}
    changes = await _Change.open_many(uow, shop_id, products)
    taken: dict[uuid.UUID, list[Portion]] = {}
    for product in products:
        product_id, quantity, change = product.id, quantities[product.id], changes[product.id]
        own = holds.get(product_id)
        held = own.quantity if own else ZERO
        others = change.level.reserved - held
        usable = change.view().available + held
        if quantity > usable and not (await _settings(uow)).allow_negative_stock:
            raise InsufficientStock(
                f"only {max(usable, ZERO)} of {product.name} available",
                fields={"items": f"{product.name}: only {max(usable, ZERO)} available"},
            )
        taken[product_id] = change.take(
            MovementKind.SALE,
            quantity,
            include_expired=False,
            allow_negative=True,
            reason="",
            ref_id=sale_id,
            user_id=user_id,
            sale_id=sale_id,
        )
        if own is not None:
            change.level.reserved -= held
            await uow.stock.delete_reservation(own)
        assert change.level.reserved == others
        change.announce(MovementKind.SALE)
    for left in held_by_holder:
        if left.shop_id != shop_id or left.product_id not in merged:
            await reserve(uow, left.holder_id, left.shop_id, left.product_id, ZERO)
    return taken


def _portions_by_product(movements: Sequence[StockMovement]) -> dict[uuid.UUID, list[Portion]]:
    found: dict[uuid.UUID, list[Portion]] = {}
    for movement in sorted(movements, key=lambda m: m.id):
        found.setdefault(movement.product_id, []).append(
            Portion(movement.batch_id, -movement.quantity)
        )
    return found


async def return_to_stock(
    uow: UnitOfWork,
    shop_id: uuid.UUID,
    sale_id: uuid.UUID,
    return_id: uuid.UUID,
    lines: Sequence[StockLine],
    *,
    user_id: uuid.UUID | None,
) -> dict[uuid.UUID, list[Portion]]:
    """Returned goods go back to the batches the sale took them from (last taken first),
    never more than was sold less earlier returns. Idempotent by return. The caller
    commits."""
    done, _ = await uow.stock.movements(None, MovementFilter(ref=return_id, kind="return"))
    if done:
        return {
            product_id: [Portion(p.batch_id, -p.quantity) for p in portions]
            for product_id, portions in _portions_by_product(done).items()
        }
    shop = await _shop(uow, None, shop_id)
    sold, _ = await uow.stock.movements(None, MovementFilter(ref=sale_id, kind="sale"))
    consumed = _portions_by_product(sold)
    returned: dict[uuid.UUID, list[Portion]] = {}
    for line in sorted(lines, key=lambda ln: ln.product_id):
        if line.product_id not in consumed:
            raise ValidationFailed("not in the sale", fields={"items": "product was not sold"})
        product = await _product(uow, line.product_id)
        quantity = _positive(product, line.quantity)
        earlier = await _returned_so_far(uow, sale_id, product.id)
        portions = allocate_return(consumed[product.id], earlier, quantity)
        change = await _Change.open(uow, shop, product)
        batches = await uow.stock.batches([p.batch_id for p in portions if p.batch_id])
        for portion in portions:
            if portion.batch_id is not None:
                batches[portion.batch_id].remaining += portion.quantity
            change.move(
                MovementKind.RETURN,
                portion.quantity,
                batch_id=portion.batch_id,
                reason="",
                ref_id=return_id,
                user_id=user_id,
                sale_id=sale_id,
            )
        returned[product.id] = portions
        change.announce(MovementKind.RETURN)
    return returned


async def _returned_so_far(
    uow: UnitOfWork, sale_id: uuid.UUID, product_id: uuid.UUID
) -> dict[uuid.UUID | None, Decimal]:
    """Earlier returns of this sale's product, per batch."""
    moves, _ = await uow.stock.movements(
        None, MovementFilter(product=product_id, kind="return", sale=sale_id)
    )
    found: dict[uuid.UUID | None, Decimal] = {}
    for move in moves:
        found[move.batch_id] = found.get(move.batch_id, ZERO) + move.quantity
    return found


@dataclass(frozen=True)
class Discrepancy:
    shop_id: uuid.UUID
    product_id: uuid.UUID
    what: str
    recorded: Decimal
    computed: Decimal


async def verify(uow: UnitOfWork) -> list[Discrepancy]:
    """Where on hand differs from the ledger, reserved from the reservations, or the
    batches from on hand. Empty when the books are right."""
    return [Discrepancy(*row) for row in await uow.stock.discrepancies()]
