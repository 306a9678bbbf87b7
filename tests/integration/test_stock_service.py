"""The stock service as the sales module will call it: FEFO/FIFO consumption, returns to
the original batch, reservations, negative stock, idempotency, and the ledger staying
equal to on hand, on both stores; the concurrent last-units race on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest

from hub.adapters.db.database import Database
from hub.adapters.db.uow import UnitOfWork
from hub.domain.permissions import Role
from hub.domain.stock import InsufficientStock
from hub.services import stock
from hub.services.principal import Principal
from tests.helpers import TenantKit, build_tenant, create_product

D = Decimal


class Shop:
    """One tenant's shop and a product in it, driven through the service functions."""

    def __init__(self, client: httpx.AsyncClient, kit: TenantKit, product: str) -> None:
        self.db: Database = client.app.state.deps.db  # type: ignore[attr-defined]
        self.tenant = uuid.UUID(kit.tenant_id)
        self.shop = uuid.UUID(kit.shop_id)
        self.product = uuid.UUID(product)
        self.owner = Principal(
            tenant_id=self.tenant,
            shop_ids=frozenset({self.shop}),
            user_id=uuid.UUID(kit.members["owner"].id),
            role=Role.OWNER,
        )

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, self.tenant, write=True)

    async def receive(
        self, quantity: str, expiry: date | None = None, number: str = ""
    ) -> uuid.UUID:
        async with self.uow() as uow:
            batch = await stock.receive(
                uow,
                self.owner,
                stock.Receipt(
                    shop_id=self.shop,
                    product_id=self.product,
                    quantity=D(quantity),
                    cost=D("1.00"),
                    batch_number=number,
                    expiry_date=expiry,
                ),
            )
            return batch.id

    async def sell(
        self, quantity: str, sale: uuid.UUID | None = None, holder: uuid.UUID | None = None
    ) -> dict[uuid.UUID, list[stock.Portion]]:
        async with self.uow() as uow:
            taken = await stock.consume_for_sale(
                uow,
                self.shop,
                sale or uuid.uuid4(),
                [stock.StockLine(self.product, D(quantity))],
                user_id=None,
                holder_id=holder,
            )
            await uow.commit()
            return taken

    async def give_back(self, sale: uuid.UUID, quantity: str) -> list[stock.Portion]:
        async with self.uow() as uow:
            back = await stock.return_to_stock(
                uow,
                self.shop,
                sale,
                uuid.uuid4(),
                [stock.StockLine(self.product, D(quantity))],
                user_id=None,
            )
            await uow.commit()
            return back[self.product]

    async def reserve(self, holder: uuid.UUID, quantity: str) -> stock.StockView:
        async with self.uow() as uow:
            view = await stock.reserve(uow, holder, self.shop, self.product, D(quantity))
            await uow.commit()
            return view

    async def view(self) -> stock.StockView:
        async with UnitOfWork(self.db, self.tenant) as uow:
            return await stock.get_stock(uow, self.owner, self.shop, self.product)

    async def remaining(self) -> dict[uuid.UUID, Decimal]:
        async with UnitOfWork(self.db, self.tenant) as uow:
            batches = await uow.stock.batches_for_reading(self.shop, self.product)
            return {b.id: b.remaining for b in batches}

    async def books_balance(self) -> None:
        async with UnitOfWork(self.db, self.tenant) as uow:
            assert await stock.verify(uow) == []

    async def allow_negative(self) -> None:
        async with self.uow() as uow:
            await uow.tenants.put_setting("allow_negative_stock", True)
            await uow.commit()


async def new_shop(client: httpx.AsyncClient) -> Shop:
    kit = await build_tenant(client)
    product = await create_product(client, kit)
    return Shop(client, kit, product["id"])


async def test_fefo_then_fifo_across_three_batches_and_back(client: httpx.AsyncClient) -> None:
    s = await new_shop(client)
    today = date.today()
    plain = await s.receive("5", number="no-expiry")  # received first, no expiry
    late = await s.receive("5", expiry=today + timedelta(days=30), number="late")
    soon = await s.receive("5", expiry=today + timedelta(days=10), number="soon")
    stale = await s.receive("4", expiry=today - timedelta(days=1), number="expired")

    sale = uuid.uuid4()
    taken = await s.sell("12", sale)
    assert [(p.batch_id, p.quantity) for p in taken[s.product]] == [
        (soon, D("5")),
        (late, D("5")),
        (plain, D("2")),
    ]
    left = await s.remaining()
    assert left == {plain: D("3"), stale: D("4")}
    view = await s.view()
    assert (view.on_hand, view.expired, view.available) == (D("7"), D("4"), D("3"))

    # Expired goods are not sold, nor held for a cart: 3 sellable, 4 expired.
    with pytest.raises(InsufficientStock):
        await s.sell("4")
    with pytest.raises(InsufficientStock):
        await s.reserve(uuid.uuid4(), "4")
    holder = uuid.uuid4()
    assert (await s.reserve(holder, "3")).available == D("0")  # all that is sellable
    assert (await s.reserve(holder, "0")).available == D("3")

    # Returns go back to the batches the sale took from, last taken first.
    back = await s.give_back(sale, "3")
    assert [(p.batch_id, p.quantity) for p in back] == [(plain, D("2")), (late, D("1"))]
    back = await s.give_back(sale, "9")
    assert [(p.batch_id, p.quantity) for p in back] == [(late, D("4")), (soon, D("5"))]
    with pytest.raises(Exception, match="can be returned"):
        await s.give_back(sale, "1")
    assert await s.remaining() == {plain: D("5"), late: D("5"), soon: D("5"), stale: D("4")}
    await s.books_balance()


async def test_a_sale_is_consumed_once(client: httpx.AsyncClient) -> None:
    s = await new_shop(client)
    await s.receive("10")
    sale = uuid.uuid4()
    first = await s.sell("3", sale)
    again = await s.sell("3", sale)
    assert first == again
    assert (await s.view()).on_hand == D("7")
    await s.books_balance()


async def test_reservations_hold_stock_for_their_cart(client: httpx.AsyncClient) -> None:
    s = await new_shop(client)
    await s.receive("7")
    till_a, till_b = uuid.uuid4(), uuid.uuid4()
    assert (await s.reserve(till_a, "5")).available == D("2")
    with pytest.raises(InsufficientStock):
        await s.reserve(till_b, "3")
    # Another cart's sale cannot take what till A holds...
    with pytest.raises(InsufficientStock):
        await s.sell("3", holder=till_b)
    await s.reserve(till_b, "2")
    # ...while till A's own sale uses its reservation.
    await s.sell("5", holder=till_a)
    view = await s.view()
    assert (view.on_hand, view.reserved, view.available) == (D("2"), D("2"), D("0"))
    async with s.uow() as uow:
        await stock.release(uow, till_b)
        await uow.commit()
    assert (await s.view()).available == D("2")
    await s.books_balance()


async def test_negative_stock_when_the_tenant_allows_it(client: httpx.AsyncClient) -> None:
    s = await new_shop(client)
    await s.receive("2")
    with pytest.raises(InsufficientStock):
        await s.sell("3")
    await s.allow_negative()
    taken = await s.sell("3")
    assert taken[s.product][-1] == stock.Portion(None, D("1"))
    assert (await s.view()).on_hand == D("-1")
    await s.books_balance()
    # The next delivery first covers what was sold without stock.
    batch = await s.receive("5")
    assert await s.remaining() == {batch: D("4")}
    assert (await s.view()).on_hand == D("4")
    await s.books_balance()


async def test_weighed_goods_take_three_decimals(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    product = await create_product(client, kit, unit="kg")
    s = Shop(client, kit, product["id"])
    await s.receive("2.500")
    await s.sell("0.755")
    assert (await s.view()).on_hand == D("1.745")
    with pytest.raises(Exception, match="3 decimals"):
        await s.sell("0.0001")
    await s.books_balance()


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_twenty_tills_race_for_seven_units(client: httpx.AsyncClient) -> None:
    s = await new_shop(client)
    await s.receive("4")
    await s.receive("3", expiry=date.today() + timedelta(days=5))

    async def attempt() -> str:
        try:
            await s.sell("1")
        except InsufficientStock:
            return "refused"
        return "sold"

    outcomes = await asyncio.gather(*(attempt() for _ in range(20)))
    assert outcomes.count("sold") == 7
    assert outcomes.count("refused") == 13
    view = await s.view()
    assert view.on_hand == D("0")
    async with UnitOfWork(s.db, s.tenant) as uow:
        moves, _ = await uow.stock.movements(None, stock.MovementFilter(kind="sale"))
        assert sum(m.quantity for m in moves) == D("-7")
    await s.books_balance()
