"""The cart requests of many tills in a few transactions (group commit), on PostgreSQL.

A busy shop's tills each scan a line every second or two; `hub.services.carts` gives
every request its own transaction of a dozen ORM statements, and the hub's CPU goes
there. Here `cart.open`, the line changes (add a product, set or remove a line, by
product id or barcode) and `cart.pay` wait in their tenant's queue, and one writer
alternates two stages, each taking every request of its kind queued when it starts:
opens and line changes in one transaction, then pays in another
(`hub.services.sale_groups`). Each kind of row is read and locked by one statement for
the whole group (`hub.adapters.db.cart_groups`), and everything a stage writes, its
events for the outbox with it, goes in one more. The more tills, the more requests
share a transaction; one till alone gets a transaction of its own, as before.

The rules are `hub.domain.carts` and the pricing of `hub.services.carts`, the same as on
the one-at-a-time path; the cart row is locked and its version checked in the
transaction, so two hub processes (or this path and the other) never lose a change. A
request is answered only once its transaction committed: nothing acknowledged is lost.
The writer does not wait for the group's events to reach the broker: the outbox relay
sends them in the background, in commit order, while the next group is written.

Only the plain case is decided here. Anything else (a row another transaction holds, a
stale version, a closed cart or shift, another cashier's cart or shift, a product not
sold, not enough stock, a level with dated batches, a refused quantity or discount, a
database fault) is handed back, and the caller runs the request through
`hub.services.carts`, which answers as it always has: the error with its code, or the
change made there. So the answers, events and stock are the same whichever path a
request took.

A request left out only because another transaction held one of its rows (most often
the group of another hub process, holding the shop's stock levels for a few
milliseconds) is not handed back at once: it rides in the writer's next groups for up
to `CONTENDED_PATIENCE`, and goes one at a time only if its rows stay held. Handed
back at once, two processes' requests fell to the slow path by the hundred and waited
there on each other's locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hub.adapters.db.cart_groups import (
    CartGroupStatements,
    Hold,
    HoldKey,
    LockedLevel,
    LockedShift,
)
from hub.adapters.db.cart_tables import Cart
from hub.adapters.db.catalogue_tables import Product
from hub.adapters.db.database import Database
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.domain import carts as rules
from hub.domain.carts import CartLine, CartStatus
from hub.domain.catalogue import Unit
from hub.domain.errors import DomainError
from hub.domain.permissions import Permission
from hub.domain.pricing import ZERO
from hub.domain.shifts import ShiftStatus
from hub.services.carts import CartView, announce, new_cart, view_of
from hub.services.principal import Principal
from hub.services.sale_groups import Paid, PayChange, write_pays
from hub.services.stock import StockView, announce_level

log = logging.getLogger("hub.cart_groups")

MAX_GROUP = 256  # changes in one transaction; more wait for the next
# How long a request whose rows another transaction held tries the next groups before
# it goes one at a time, and how long the writer gives those holders when nothing else
# is queued.
CONTENDED_PATIENCE = 0.25
CONTENDED_PAUSE = 0.005


@dataclass(frozen=True)
class LineChange:
    """A line change: `quantity` more of a product (`absolute` False), or its line set
    to `quantity` (True; zero removes it). The product is named by its id or by a
    scanned barcode, one of the two."""

    cart_id: uuid.UUID
    version: int
    quantity: Decimal
    absolute: bool
    product_id: uuid.UUID | None = None
    barcode: str | None = None


@dataclass(frozen=True)
class OpenChange:
    """`cart.open`: the shift's open cart, or a new one."""

    shift_id: uuid.UUID


@dataclass
class _Pending:
    principal: Principal
    change: LineChange | PayChange | OpenChange
    product_id: uuid.UUID | None = None  # the barcode's, once looked up
    queued_at: float = field(default_factory=time.monotonic)
    retried: bool = False  # left out of a group for a row held elsewhere, queued again
    # The cart after the change (or the paid cart and its sale); None: handed back.
    done: asyncio.Future[CartView | Paid | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def key(self) -> uuid.UUID:
        """What a group holds one request of: a cart, or the shift a cart is opened on."""
        return self.change.shift_id if isinstance(self.change, OpenChange) else self.change.cart_id

    @property
    def line(self) -> LineChange:
        assert isinstance(self.change, LineChange), "a line change's group"
        return self.change

    @property
    def pay(self) -> PayChange:
        assert isinstance(self.change, PayChange), "a pay's group"
        return self.change


@dataclass
class _Planned:
    pending: _Pending
    cart: Cart
    product: Product
    view: CartView  # priced: a refused discount refused the change


class CartGroups:
    """The group writers of one hub process, one per tenant, started on first use."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._writers: dict[uuid.UUID, _Writer] = {}
        self._stopped = False
        self._open = asyncio.Event()  # cleared while `holding`
        self._open.set()
        # Counted for operators and tests: opens and line changes made here, pays made
        # here, and what was handed back.
        self.grouped = 0
        self.sold = 0
        self.handed_back = 0
        self.retried = 0  # requests queued again after a row held elsewhere
        self.transactions = 0

    async def change(self, principal: Principal, change: LineChange) -> CartView | None:
        """The cart after the change, committed; None: run it one at a time instead."""
        made = await self._queued(_Pending(principal, change, change.product_id))
        assert made is None or isinstance(made, CartView)
        return made

    async def open(self, principal: Principal, shift_id: uuid.UUID) -> CartView | None:
        """The shift's open cart, made if it has none; None: open it one at a time."""
        made = await self._queued(_Pending(principal, OpenChange(shift_id)))
        assert made is None or isinstance(made, CartView)
        return made

    async def pay(self, principal: Principal, change: PayChange) -> Paid | None:
        """The paid cart and its sale, committed (`hub.services.sale_groups`); None: pay
        it one at a time instead."""
        made = await self._queued(_Pending(principal, change))
        assert made is None or isinstance(made, Paid)
        return made

    async def _queued(self, pending: _Pending) -> CartView | Paid | None:
        if self._stopped:
            return None
        tenant_id = pending.principal.tenant_id
        writer = self._writers.get(tenant_id)
        if writer is None or writer.task.done():
            writer = self._writers[tenant_id] = _Writer(self, tenant_id)
        writer.queue.append(pending)
        writer.wake.set()
        made = await pending.done
        if made is None:
            self.handed_back += 1
        return made

    @contextlib.asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        """No group starts while inside (one under way finishes): what is sent meanwhile
        queues, and goes out in one group after. Tests use it to make a group of a
        known make-up."""
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()

    def waiting(self, tenant_id: uuid.UUID) -> int:
        """Changes of the tenant queued for the next group."""
        writer = self._writers.get(tenant_id)
        return 0 if writer is None else len(writer.queue)

    async def stop(self, wait: float = 10.0) -> None:
        """Let each writer finish the group it is writing (a group cancelled in its
        commit would leave its tills unsure), then send whoever still waits, and every
        later request, the other way."""
        self._stopped = True
        writers, self._writers = list(self._writers.values()), {}
        for writer in writers:
            writer.stopping = True
            writer.wake.set()
        if writers:
            _, late = await asyncio.wait([w.task for w in writers], timeout=wait)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for writer in writers:
            for pending in writer.queue:
                if not pending.done.done():
                    pending.done.set_result(None)


class _Writer:
    def __init__(self, groups: CartGroups, tenant_id: uuid.UUID) -> None:
        self.groups = groups
        self.tenant_id = tenant_id
        self.queue: deque[_Pending] = deque()
        self.wake = asyncio.Event()
        self.stopping = False
        self.task = asyncio.create_task(self._run(), name=f"cart-groups-{tenant_id}")

    async def _run(self) -> None:
        while not self.stopping:
            await self.wake.wait()
            self.wake.clear()
            while self.queue and not self.stopping:
                # Two stages, each taking what is queued of its kind when it starts: a
                # pay sent while line changes are written goes out right after them,
                # not after the next group's line changes too.
                for pays in (False, True):
                    await self.groups._open.wait()
                    group = [] if self.stopping else self._next_group(pays=pays)
                    try:
                        await self._write(group, pays=pays)
                    finally:  # whatever happened, nobody is left waiting (or queued)
                        queued = {id(p) for p in self.queue}
                        for pending in group:
                            if not pending.done.done() and id(pending) not in queued:
                                pending.done.set_result(None)
                if self.queue and all(p.retried for p in self.queue):
                    # Only requests whose rows were held are left: their holders get a
                    # moment, unless something new comes first.
                    self.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), CONTENDED_PAUSE)

    def _next_group(self, *, pays: bool) -> list[_Pending]:
        """Every pay queued (`pays`), or every open and line change, in order, one per
        cart, and none behind a request of its cart left for the other stage: a second
        request of a cart was made against the version before the first one, and waits
        for the next group (so a pay and a line change of one cart, sent from two
        devices, are made in the order they came)."""
        group: list[_Pending] = []
        later: list[_Pending] = []
        carts: set[uuid.UUID] = set()
        while self.queue and len(group) < MAX_GROUP:
            pending = self.queue.popleft()
            if pending.done.done():  # its caller is gone
                continue
            if pending.key not in carts and isinstance(pending.change, PayChange) == pays:
                group.append(pending)
            else:
                later.append(pending)
            carts.add(pending.key)
        self.queue.extendleft(reversed(later))
        return group

    async def _write(self, group: list[_Pending], *, pays: bool) -> None:
        """The group's opens and line changes in one transaction, or its pays."""
        if not group:
            return
        db, tenant_id, contended = self.groups.db, self.tenant_id, set[int]()
        if pays:
            refs = [(id(p), p.principal, p.pay) for p in group]
            paying = write_pays(db, tenant_id, refs, contended)
            self.groups.sold += await self._settle(group, paying, contended)
        else:
            changing = _write_group(db, tenant_id, group, contended)
            self.groups.grouped += await self._settle(group, changing, contended)

    async def _settle(
        self,
        group: list[_Pending],
        writing: Coroutine[Any, Any, Mapping[int, CartView | Paid]],
        contended: set[int],
    ) -> int:
        """Answer each of the group: what the transaction made, or None (the other
        path); how many it made. Those left out for a row held elsewhere are queued
        again, ahead of the rest, while their patience lasts."""
        views: Mapping[int, CartView | Paid] = {}
        try:
            views = await writing
        except Exception:
            # Each goes the other way, which answers the fault. Had the commit itself
            # gone through, none is made twice: a change's version is now behind (the
            # till is answered `stale_version` with the cart as it is), and a paid cart
            # with its key is a replay of its sale.
            log.warning("a group of %d cart requests failed", len(group), exc_info=True)
            contended = set()
        else:
            self.groups.transactions += 1 if views else 0
        now, again = time.monotonic(), []
        for pending in group:
            if pending.done.done():
                continue
            made = views.get(id(pending))
            patient = now - pending.queued_at < CONTENDED_PATIENCE
            if made is None and id(pending) in contended and patient and not self.stopping:
                pending.retried = True
                again.append(pending)
                continue
            pending.done.set_result(made)
        self.queue.extendleft(reversed(again))
        self.groups.retried += len(again)
        return len(views)


def _plainly_editable(pending: _Pending, cart: Cart, shift_status: str) -> bool:
    """What `carts._edit` checks: else the other path answers."""
    who, change = pending.principal, pending.line
    return (
        who.sees_shop(cart.shop_id)
        and who.has(Permission.SALES_SELL)
        and (cart.cashier_id == who.user_id or who.has(Permission.SHIFTS_MANAGE))
        and cart.status == CartStatus.OPEN
        and cart.version == change.version
        and shift_status == ShiftStatus.OPEN
    )


def _changed_lines(change: LineChange, cart: Cart, product: Product) -> tuple[CartLine, ...]:
    """The cart's lines after the change, by the rules of `carts.add_item` and
    `carts.set_quantity`; a refusal raises (and the other path gives it)."""
    lines = rules.lines_from_json(cart.lines)
    quantity = Unit(product.unit).quantity(change.quantity)
    if change.absolute:
        return rules.set_quantity(lines, product.id, quantity)
    if not product.is_active:
        raise DomainError("product not sold")
    return rules.add(lines, product.id, quantity, product.price)


async def _write_group(
    db: Database, tenant_id: uuid.UUID, group: list[_Pending], contended: set[int]
) -> dict[int, CartView]:
    """One transaction for the group's opens and line changes; the views of those it
    made, by pending. Those left out because another transaction held their shift, cart
    or stock level are added to `contended`."""
    async with UnitOfWork(db, tenant_id, write=True) as uow:
        sql = CartGroupStatements(await uow.connection(), tenant_id)
        opens = [p for p in group if isinstance(p.change, OpenChange)]
        views = await _open_carts(uow, sql, opens, contended) if opens else {}
        lines = [p for p in group if isinstance(p.change, LineChange)]
        if lines:
            views.update(await _change_lines(uow, sql, lines, contended))
        if views:
            await uow.commit(wait_for_relay=False)
        return views


async def _open_carts(
    uow: UnitOfWork, sql: CartGroupStatements, group: list[_Pending], contended: set[int]
) -> dict[int, CartView]:
    """`carts.open_cart` for each: its shift locked first, then its open cart rendered,
    or a new one made and announced."""
    shift_ids = [p.change.shift_id for p in group if isinstance(p.change, OpenChange)]
    shifts = await sql.lock_shifts(shift_ids)
    existing = await sql.open_carts_of(shifts)
    products = await sql.products(
        uuid.UUID(line["product"]) for cart in existing.values() for line in cart.lines
    )
    views: dict[int, CartView] = {}
    made: list[Cart] = []
    now = utcnow()
    for pending, shift_id in zip(group, shift_ids, strict=True):
        shift = shifts.get(shift_id)
        if shift is None:  # held elsewhere (or no such shift: the retry says)
            contended.add(id(pending))
            continue
        if not _may_open(pending.principal, shift):
            continue
        cart = existing.get(shift_id)
        if cart is None:
            cart = new_cart(shift.shop_id, shift.register_id, shift.id, shift.cashier_id, now)
            made.append(cart)
            view = await view_of(uow, cart, (), products)
            announce(uow, view, "cart.updated")
        else:
            try:
                view = await view_of(uow, cart, rules.lines_from_json(cart.lines), products)
            except DomainError:
                continue
        views[id(pending)] = view
    if made:
        await sql.insert_carts(made)
    return views


def _may_open(who: Principal, shift: LockedShift) -> bool:
    """What `carts.open_cart` checks: else the other path answers."""
    return (
        who.has(Permission.SALES_SELL)
        and who.sees_shop(shift.shop_id)
        and (shift.cashier_id == who.user_id or who.has(Permission.SHIFTS_MANAGE))
        and shift.status == ShiftStatus.OPEN
    )


async def _change_lines(
    uow: UnitOfWork, sql: CartGroupStatements, group: list[_Pending], contended: set[int]
) -> dict[int, CartView]:
    """The line changes of the group, on carts locked here; the views of those made
    (not yet committed)."""
    locked = await sql.lock_carts(p.line.cart_id for p in group)
    editable = []
    for pending in group:
        found = locked.get(pending.line.cart_id)
        if found is None:  # held elsewhere (or no such cart: the retry says)
            contended.add(id(pending))
        elif _plainly_editable(pending, *found):
            editable.append((pending, found[0]))
    if not editable:
        return {}
    codes = {p.line.barcode.strip() for p, _ in editable if p.line.barcode}
    if codes:
        scanned = await sql.barcodes(codes)
        for pending, _ in editable:
            if pending.line.barcode:
                pending.product_id = scanned.get(pending.line.barcode.strip())
    wanted = {p.product_id for p, _ in editable if p.product_id is not None}
    for _, cart in editable:
        wanted.update(uuid.UUID(line["product"]) for line in cart.lines)
    products = await sql.products(wanted)
    planned = []
    for pending, cart in editable:
        product = None if pending.product_id is None else products.get(pending.product_id)
        try:
            if product is not None:
                lines = _changed_lines(pending.line, cart, product)
                view = await view_of(uow, cart, lines, products)
                planned.append(_Planned(pending, cart, product, view))
        except DomainError:
            continue
    if not planned:
        return {}
    wanted_levels = sorted({(x.cart.shop_id, x.product.id) for x in planned})
    levels = await sql.lock_levels(wanted_levels)
    left_out = [key for key in wanted_levels if key not in levels]
    held = await sql.levels_there(left_out) if left_out else set()
    holds = await sql.holds(x.cart.id for x in planned)
    views: dict[int, CartView] = {}
    changed_holds: list[Hold] = []
    now = utcnow()
    for x in planned:
        if (x.cart.shop_id, x.product.id) in held:
            contended.add(id(x.pending))
            continue
        hold = _reserve(x, levels, holds, uow)
        if hold is None:
            continue
        if hold.quantity != holds.get((hold.holder_id, hold.shop_id, hold.product_id), ZERO):
            changed_holds.append(hold)
        cart = x.cart
        cart.lines = rules.lines_to_json(x.view.lines)
        cart.version += 1
        cart.updated_at = now
        announce(uow, x.view, "cart.updated")
        views[id(x.pending)] = x.view
    if not views:
        return {}
    await sql.save_changes(
        [v.cart for v in views.values()],
        [x for x in levels.values() if x.changed],
        changed_holds,
        uow.outbox_rows(),
        now,
    )
    return views


def _reserve(
    planned: _Planned,
    levels: dict[tuple[uuid.UUID, uuid.UUID], LockedLevel],
    holds: dict[HoldKey, Decimal],
    uow: UnitOfWork,
) -> Hold | None:
    """`stock.reserve` on the locked level, as the group's earlier changes left it: the
    cart's hold follows its line. None when the other path must decide (no level yet,
    dated batches, a level another transaction holds, a whole quantity the unit refuses,
    or a shortage, which the tenant may allow)."""
    cart, product_id = planned.cart, planned.product.id
    level = levels.get((cart.shop_id, product_id))
    if level is None or level.has_dated_batches:
        return None
    held = holds.get((cart.id, cart.shop_id, product_id), ZERO)
    wanted = rules.quantity_of(planned.view.lines, product_id)
    try:  # `stock.reserve` checks the line's whole quantity against the unit now
        Unit(planned.product.unit).quantity(wanted)
    except DomainError:
        return None
    if wanted > held and wanted > level.on_hand - level.reserved + held:
        return None
    if wanted != held:
        level.reserved += wanted - held
        level.changed = True
        view = StockView(cart.shop_id, product_id, level.on_hand, level.reserved, ZERO)
        announce_level(uow, view, "reservation")
    return Hold(cart.id, cart.shop_id, product_id, wanted)
