"""Carts paid together (group commit), on PostgreSQL: the sale commit of many tills'
`cart.pay` in one transaction.

`hub.services.cart_groups` queues a pay like a line change; its writer hands the pays
of a group to `write_pays`. Shifts, carts, registers, stock levels and batches are
locked and read for the whole group by one statement, in the order every writer takes
them, with the products, holds, agents and names the sales need; each sale is then
decided by the same rules as `sales.record_sale` (the cart's pricing, `pricing.settle`,
first expiring then first received batches by `stock.allocate`, a gap-free receipt
number per register) on those rows, and the group's rows are written by one more. Each
sale's events (`stock.changed` per product, `sale.completed`, the receipt job's
`job.created`, `cart.closed`) go to the outbox in the same transaction; a pay is
answered after its commit.

Only the plain sale is made here: an open cart at the version the till saw, without a
customer or points, paid in cash or by card, under a key never used, its goods held
by the cart and in stock without dated batches, on an open shift and a shift, cart and
register no other transaction holds. Anything else is handed back and paid by
`carts.pay_cart` one at a time, which answers as it always has (a replay, an error, or
the sale made there). A pay left out only because another transaction held one of its
rows is named in `contended`: the writer tries it in its next groups a while first.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from hub.adapters.db.cart_groups import HoldKey, LockedLevel, LockedShift
from hub.adapters.db.cart_tables import Cart
from hub.adapters.db.catalogue_tables import Product, StockMovement
from hub.adapters.db.database import Database
from hub.adapters.db.job_tables import DeviceJob
from hub.adapters.db.sale_groups import (
    LockedBatch,
    PayGroupRows,
    SaleGroupStatements,
    ShiftSales,
    SoldTogether,
)
from hub.adapters.db.sales_tables import SaleLine
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.domain import carts as rules
from hub.domain.carts import CartStatus
from hub.domain.catalogue import Unit
from hub.domain.errors import DomainError
from hub.domain.ids import new_id
from hub.domain.permissions import Permission
from hub.domain.pricing import ZERO, Settlement, Tender, settle
from hub.domain.shifts import PaymentMethod, ShiftStatus
from hub.domain.stock import MovementKind, allocate
from hub.services import device_jobs
from hub.services.carts import CartView, announce, sale_request, view_of
from hub.services.device_jobs import ReceiptsTogether
from hub.services.principal import Principal
from hub.services.sales import (
    SaleView,
    announce_sale,
    new_sale,
    sale_line,
    sale_payments,
)
from hub.services.stock import StockView, announce_level

PLAIN_TENDERS = frozenset({PaymentMethod.CASH, PaymentMethod.CARD})


@dataclass(frozen=True)
class PayChange:
    cart_id: uuid.UUID
    version: int
    payments: tuple[Tender, ...]
    idempotency_key: str


@dataclass(frozen=True)
class Paid:
    cart: CartView
    sale: SaleView


@dataclass
class _Sale:
    ref: int  # the pending change's
    principal: Principal
    change: PayChange
    cart: Cart
    shift: LockedShift
    view: CartView = field(init=False)
    settlement: Settlement = field(init=False)
    quantities: dict[uuid.UUID, Decimal] = field(init=False)  # product -> quantity sold


def _plainly_payable(who: Principal, change: PayChange, cart: Cart, shift: LockedShift) -> bool:
    """What `carts.pay_cart` and `sales.record_sale` check, for the plain sale."""
    return (
        who.has(Permission.SALES_SELL)
        and who.sees_shop(cart.shop_id)
        and who.sees_shop(shift.shop_id)
        and (cart.cashier_id == who.user_id or who.has(Permission.SHIFTS_MANAGE))
        and (shift.cashier_id == who.user_id or who.has(Permission.SHIFTS_MANAGE))
        and shift.status == ShiftStatus.OPEN
        and cart.status == CartStatus.OPEN
        and cart.version == change.version
        and bool(cart.lines)
        and cart.customer_id is None
        and cart.bonus == 0
        and bool(change.payments)
        and all(t.method in PLAIN_TENDERS for t in change.payments)
    )


def _priced(sale: _Sale, products: dict[uuid.UUID, Product]) -> bool:
    """The sale as `record_sale` would price and settle it; False if it would refuse."""
    lines = rules.lines_from_json(sale.cart.lines)
    quantities: dict[uuid.UUID, Decimal] = {}
    for line in lines:
        product = products.get(line.product_id)
        if product is None or not product.is_active:
            return False
        try:  # a unit changed since the line was scanned
            quantity = Unit(product.unit).quantity(line.quantity)
        except DomainError:
            return False
        if quantity <= 0 or line.product_id in quantities:
            return False
        quantities[line.product_id] = quantity
    sale.quantities = quantities
    return True


async def write_pays(
    db: Database,
    tenant_id: uuid.UUID,
    group: list[tuple[int, Principal, PayChange]],
    contended: set[int],
) -> dict[int, Paid]:
    """One transaction for the group's pays; what each plain one made, by its ref. The
    refs of those left out because another transaction held their cart, shift,
    register or a stock level are added to `contended`."""
    async with UnitOfWork(db, tenant_id, write=True) as uow:
        sql = SaleGroupStatements(await uow.connection(), tenant_id)
        keys = Counter(change.idempotency_key for _, _, change in group)
        rows = await sql.lock_pays(
            [(change.cart_id, who.user_id) for _, who, change in group], keys
        )
        sales: list[_Sale] = []
        for ref, who, change in group:
            found = rows.carts.get(change.cart_id)
            if found is None:  # its shift or cart held (or no such cart: the retry says)
                contended.add(ref)
                continue
            cart, shift = found
            key = change.idempotency_key
            if (
                keys[key] > 1
                or key in rows.keys_taken
                or not _plainly_payable(who, change, cart, shift)
            ):
                continue
            sales.append(_Sale(ref, who, change, cart, shift))
        products = rows.products
        sales = [s for s in sales if _priced(s, products) and await _settled(uow, s, products)]
        contended.update(s.ref for s in sales if s.shift.register_id not in rows.registers)
        sales = [s for s in sales if s.shift.register_id in rows.registers]
        if not sales:
            return {}
        return await _write(uow, sql, sales, rows, contended)


async def _settled(uow: UnitOfWork, sale: _Sale, products: dict[uuid.UUID, Product]) -> bool:
    try:
        sale.view = await view_of(uow, sale.cart, rules.lines_from_json(sale.cart.lines), products)
        if sale.view.receipt is None:
            return False
        sale.settlement = settle(sale.view.receipt.total, sale.change.payments)
    except DomainError:
        return False
    return True


def _in_stock(
    sale: _Sale,
    levels: dict[tuple[uuid.UUID, uuid.UUID], LockedLevel],
    holds: dict[HoldKey, Decimal],
) -> bool:
    """Whether `stock.consume_for_sale` would sell it on the levels as the group's
    earlier sales left them (each of its levels locked here): no dated batches, enough
    usable, and the cart holding nothing but what it sells."""
    shop = sale.cart.shop_id
    for holder, held_shop, product_id in holds:
        if holder == sale.cart.id and (held_shop != shop or product_id not in sale.quantities):
            return False
    for product_id, quantity in sale.quantities.items():
        level = levels[shop, product_id]
        if level.has_dated_batches:
            return False
        held = holds.get((sale.cart.id, shop, product_id), ZERO)
        if quantity > level.on_hand - level.reserved + held:
            return False
    return True


async def _write(
    uow: UnitOfWork,
    sql: SaleGroupStatements,
    sales: list[_Sale],
    rows: PayGroupRows,
    contended: set[int],
) -> dict[int, Paid]:
    registers, levels, batches, holds = rows.registers, rows.levels, rows.batches, rows.holds
    made: dict[int, Paid] = {}
    jobs: list[DeviceJob] = []
    shared = ReceiptsTogether(
        registers=dict(registers),
        shifts={s.shift.id: s.shift for s in sales},
        agents=rows.agents,
        people=rows.names,
    )
    shift_sales: list[ShiftSales] = []
    closed: list[tuple[uuid.UUID, uuid.UUID, int, datetime]] = []
    views: list[SaleView] = []
    sold_levels: dict[tuple[uuid.UUID, uuid.UUID], LockedLevel] = {}
    paid: list[_Sale] = []
    movements: list[StockMovement] = []
    for s in sales:
        if any((s.cart.shop_id, p) not in levels for p in s.quantities):
            contended.add(s.ref)  # a level held elsewhere (or none yet: the retry says)
            continue
        if not _in_stock(s, levels, holds):
            continue
        paid.append(s)
        cart, receipt, settlement = s.cart, s.view.receipt, s.settlement
        assert receipt is not None
        sale_id = new_id()
        for product_id in sorted(s.quantities):
            key = (cart.shop_id, product_id)
            level = sold_levels[key] = levels[key]
            movements += _consume(uow, s, sale_id, level, batches.get(key, []), holds)
        register = registers[s.shift.register_id]
        number, register.next_number = register.next_number, register.next_number + 1
        sale = new_sale(
            sale_id,
            s.change.idempotency_key,
            sale_request(s.view, s.change.payments),
            shop_id=cart.shop_id,
            register_id=s.shift.register_id,
            number=number,
            cashier_id=_cashier(s),
            receipt=receipt,
            settlement=settlement,
            bonus_accrued=Decimal("0.00"),
        )
        lines = _sale_lines(s, sale_id)
        payments = sale_payments(sale_id, settlement)
        view = SaleView(sale, lines, payments)
        announce_sale(uow, view)
        jobs.append(await device_jobs.new_receipt_job(uow, view, shared))
        views.append(view)
        shift_sales.append(
            ShiftSales(
                s.shift.id,
                sale.total,
                sale.discount_total,
                number,
                {m.value: a for m, a in settlement.taken.items()},
            )
        )
        cart.status = CartStatus.PAID.value
        cart.sale_id = sale_id
        cart.version += 1
        cart.updated_at = cart.closed_at = utcnow()
        closed.append((cart.id, sale_id, cart.version, cart.closed_at))
        announce(uow, s.view, "cart.closed")
        made[s.ref] = Paid(s.view, view)
    if not paid:
        return {}
    sold = SoldTogether(
        sales=[v.sale for v in views],
        lines=[line for v in views for line in v.lines],
        payments=[payment for v in views for payment in v.payments],
        movements=movements,
        jobs=jobs,
        levels=list(sold_levels.values()),
        batches=[b for found in batches.values() for b in found if b.changed],
        registers=[registers[i] for i in {s.shift.register_id for s in paid}],
        shift_sales=shift_sales,
        closed=closed,
        events=uow.outbox_rows(),
    )
    await sql.write_sales(sold, utcnow())
    await uow.commit(wait_for_relay=False)
    return made


def _cashier(sale: _Sale) -> uuid.UUID:
    """Who a sale names as its cashier: whoever pays it, or the shift's for a device.
    `SaleGroupStatements.lock_pays` reads the header's names by the same rule."""
    return sale.principal.user_id or sale.shift.cashier_id


def _sale_lines(sale: _Sale, sale_id: uuid.UUID) -> list[SaleLine]:
    """The sale's lines as `record_sale` writes them: the cart's lines at their prices,
    with what the pricing gave each."""
    receipt = sale.view.receipt
    assert receipt is not None
    lines = []
    for position, (line, priced) in enumerate(zip(sale.view.lines, receipt.lines, strict=True), 1):
        product = sale.view.products[line.product_id]
        price = product.price if line.price is None else line.price
        quantity = sale.quantities[line.product_id]
        lines.append(sale_line(sale_id, position, product, price, quantity, priced))
    return lines


def _consume(
    uow: UnitOfWork,
    sale: _Sale,
    sale_id: uuid.UUID,
    level: LockedLevel,
    batches: list[LockedBatch],
    holds: dict[HoldKey, Decimal],
) -> list[StockMovement]:
    """`stock.consume_for_sale` for one product of the sale, on the locked rows: its
    batches taken in consumption order, a movement per portion (returned, for the
    caller to write), the cart's hold used up, and `stock.changed`."""
    cart = sale.cart
    quantity = sale.quantities[level.product_id]
    by_id = {b.id: b for b in batches}
    portions = allocate(
        [b.view() for b in batches],
        quantity,
        today=utcnow().date(),  # no dated batches here: the date changes nothing
        include_expired=False,
        allow_negative=True,
    )
    movements = []
    for portion in portions:
        if portion.batch_id is not None:
            batch = by_id[portion.batch_id]
            batch.remaining -= portion.quantity
            batch.changed = True
        movements.append(
            StockMovement(
                id=new_id(),
                shop_id=cart.shop_id,
                product_id=level.product_id,
                batch_id=portion.batch_id,
                kind=MovementKind.SALE.value,
                quantity=-portion.quantity,
                reason="",
                ref_id=sale_id,
                sale_id=sale_id,
                user_id=sale.principal.user_id,
                created_at=utcnow(),
            )
        )
        level.on_hand -= portion.quantity
    held = holds.pop((cart.id, cart.shop_id, level.product_id), ZERO)
    level.reserved -= held
    view = StockView(cart.shop_id, level.product_id, level.on_hand, level.reserved, ZERO)
    announce_level(uow, view, MovementKind.SALE)
    return movements
