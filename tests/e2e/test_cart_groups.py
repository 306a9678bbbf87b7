"""Cart line changes by group commit (`hub.services.cart_groups`, PostgreSQL): many
tills' changes in one transaction, each answered only after it, and what the group
cannot decide alone (a stale version, a shortage, a customer, dated batches) answered
by the one-at-a-time path exactly as before.

A group is made deterministic by holding one cart's row lock from the test: the writer's
first transaction waits on it, and every change sent meanwhile queues for the next."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from hub.adapters.db import sale_groups
from hub.adapters.db.uow import UnitOfWork
from hub.domain.jobs import JobKind
from hub.services import cart_groups
from hub.services.cart_groups import CartGroups
from protocol import channels
from protocol.client import RequestFailed
from tests import services
from tests.conftest import LiveHub, serve
from tests.e2e.test_carts import Cart, carts_channel
from tests.e2e.test_sales import Till, customer_in_vip, stocked
from tests.e2e.ws_support import (
    api,
    drain_events,
    events_of_type,
    hub_client,
    no_more_events,
    tenant,
    wait_for,
)
from tests.helpers import (
    TenantKit,
    bearer,
    create_product,
    create_user,
    ean13,
    login,
    receive,
    stock_of,
)

store = pytest.fixture(params=["postgres", "clusters"])(services.pick_store)

D = Decimal


def sales_channel(kit: TenantKit) -> str:
    return channels.sales(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name


def groups_of(hub: LiveHub) -> CartGroups:
    groups = hub.app.state.deps.cart_groups
    assert isinstance(groups, CartGroups)
    return groups


async def open_carts(
    hub: LiveHub, kit: TenantKit, http: httpx.AsyncClient, stack: AsyncExitStack, n: int
) -> list[Cart]:
    """`n` tills of the kit's cashier, each with its own connection and open cart."""
    carts = []
    for _ in range(n):
        till = await Till(http, kit).open()
        ws = await stack.enter_async_context(hub_client(hub, kit.members["cashier"].token))
        carts.append(await Cart.open(ws, till.shift))
    return carts


@asynccontextmanager
async def held(
    hub: LiveHub, kit: TenantKit, *, product: str = "", cart: str = ""
) -> AsyncIterator[None]:
    """A product's stock level in the kit's shop, or a cart, locked by another
    transaction until the block ends."""
    async with UnitOfWork(hub.app.state.deps.db, uuid.UUID(kit.tenant_id), write=True) as uow:
        if product:
            await uow.stock.lock_levels(uuid.UUID(kit.shop_id), [uuid.UUID(product)])
        if cart:
            await uow.carts.get(uuid.UUID(cart), for_update=True)
        yield


class Statements(list[tuple[int, str]]):
    """(connection, SQL) of each statement run on the tenant's store."""

    def of_the_transaction_that_ran(self, start: str) -> list[str]:
        """The SQL run on the connection that ran a statement starting with `start`:
        a group's own, whatever the background workers run meanwhile on others."""
        (connection,) = {c for c, sql in self if sql.startswith(start)}
        return [sql for c, sql in self if c == connection]


@contextlib.contextmanager
def statements(hub: LiveHub, kit: TenantKit) -> Iterator[Statements]:
    """Every statement run on the tenant's store meanwhile: those through SQLAlchemy,
    and those the group writer sends to the driver (asyncpg) directly."""
    engine = hub.app.state.deps.db.tenant_engine(uuid.UUID(kit.tenant_id)).sync_engine
    seen = Statements()
    watched: list[tuple[Any, Any]] = []

    def through_sqlalchemy(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append((id(conn.connection.driver_connection), sql))

    def checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = dbapi_connection.driver_connection

        def straight(query: Any) -> None:
            seen.append((id(driver), query.query))

        driver.add_query_logger(straight)
        watched.append((driver, straight))

    event.listen(engine, "before_cursor_execute", through_sqlalchemy)
    event.listen(engine, "checkout", checkout)
    try:
        yield seen
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "before_cursor_execute", through_sqlalchemy)
        for driver, straight in watched:
            driver.remove_query_logger(straight)


async def queued(hub: LiveHub, kit: TenantKit, n: int) -> None:
    groups = groups_of(hub)
    await wait_for(lambda: groups.waiting(uuid.UUID(kit.tenant_id)) == n)


async def together(hub: LiveHub, kit: TenantKit, changes: list[Any]) -> list[Any]:
    """`changes` sent while the writers are held (`CartGroups.holding`), so that they go
    out in one group (a second change of one cart in the next); their results in order,
    a refusal as its exception."""
    async with groups_of(hub).holding():
        tasks = [asyncio.create_task(change) for change in changes]
        await queued(hub, kit, len(changes))
    return await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def hub(settings: Any) -> AsyncIterator[LiveHub]:
    async with serve(settings) as live:
        yield live


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as connections:
        yield connections


async def test_many_tills_share_one_transaction_and_every_change_is_kept(
    hub: LiveHub, stack: AsyncExitStack
) -> None:
    kit = await tenant(hub)
    groups = groups_of(hub)
    async with api(hub) as http:
        products = [await stocked(http, kit, "10.00", "100") for _ in range(3)]
        carts = await open_carts(hub, kit, http, stack, 9)
        async with hub_client(hub, kit.members["manager"].token) as manager:
            await manager.subscribe(carts_channel(kit))
            before = (groups.grouped, groups.transactions, groups.handed_back)
            # Each of 9 tills adds two of one product, all in one group.
            results = await together(
                hub,
                kit,
                [
                    cart.do("cart.add", product=products[i % 3], quantity="2")
                    for i, cart in enumerate(carts)
                ],
            )
            assert not [r for r in results if isinstance(r, BaseException)]
            assert (groups.grouped, groups.transactions, groups.handed_back) == (
                before[0] + 9,
                before[1] + 1,
                before[2],
            )
            # The next round: a second line, a quantity set, and a line removed.
            for i, cart in enumerate(carts):
                await cart.do("cart.add", product=products[(i + 1) % 3])
                await cart.do("cart.set_quantity", product=products[i % 3], quantity="5")
            await carts[0].do("cart.remove", product=products[0])
            events = await drain_events(manager, 9 * 3 + 1)
        for i, cart in enumerate(carts):
            expected = {products[i % 3]: "5.000", products[(i + 1) % 3]: "1.000"}
            if i == 0:
                del expected[products[0]]
            assert {x["product"]: x["quantity"] for x in cart.doc["lines"]} == expected
            total = sum(D(q) for q in expected.values()) * 10
            assert cart.doc["total"] == str(total.quantize(D("0.01")))
        # The manager saw every change of every cart, each cart's in order.
        seen: dict[str, list[int]] = {}
        for event in events:
            seen.setdefault(event["payload"]["id"], []).append(event["payload"]["version"])
        assert seen == {c.id: list(range(2, c.doc["version"] + 1)) for c in carts}
        # Stock holds what the carts hold, on the levels and in the reservations.
        for product in products:
            held_by_carts = sum(
                D(x["quantity"]) for c in carts for x in c.doc["lines"] if x["product"] == product
            )
            level = await stock_of(http, kit, product)
            assert D(level["reserved"]) == held_by_carts
            assert D(level["available"]) == 100 - held_by_carts


async def test_a_second_change_on_the_same_version_is_stale(
    hub: LiveHub, stack: AsyncExitStack
) -> None:
    kit = await tenant(hub)
    async with api(hub) as http:
        product = await stocked(http, kit, "10.00", "100")
        (cart,) = await open_carts(hub, kit, http, stack, 1)
        async with hub_client(hub, kit.members["cashier"].token) as other_device:
            twin = Cart(other_device, dict(cart.doc))  # the same cart, seen at version 1
            results = await together(
                hub,
                kit,
                [cart.do("cart.add", product=product), twin.do("cart.add", product=product)],
            )
        made = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, RequestFailed)]
        assert (len(made), len(refused)) == (1, 1)
        assert refused[0].code == "stale_version"
        assert refused[0].data is not None
        current = refused[0].data["cart"]
        assert (current["version"], [x["quantity"] for x in current["lines"]]) == (2, ["1.000"])
        assert (await stock_of(http, kit, product))["reserved"] == "1.000"


async def test_a_group_is_answered_at_commit_and_its_events_follow_in_order(
    hub: LiveHub, stack: AsyncExitStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer does not wait on the broker: with the relay stuck, the till's changes
    are still answered (and committed); once the relay moves, the manager hears each
    of them, in order, once."""
    kit = await tenant(hub)
    relay = hub.app.state.relay
    async with api(hub) as http:
        product = await stocked(http, kit, "10.00", "100")
        (cart,) = await open_carts(hub, kit, http, stack, 1)
        manager = await stack.enter_async_context(hub_client(hub, kit.members["manager"].token))
        await manager.subscribe(carts_channel(kit))
        moving = asyncio.Event()
        drain = relay.drain

        async def stuck(tenant_id: uuid.UUID) -> int:
            await moving.wait()
            return int(await drain(tenant_id))

        monkeypatch.setattr(relay, "drain", stuck)
        for _ in range(3):
            await asyncio.wait_for(cart.do("cart.add", product=product), 5)
        assert relay.under_way == 1  # one drain for the three commits, not one each
        assert cart.doc["version"] == 4
        assert (await stock_of(http, kit, product))["reserved"] == "3.000"
        await no_more_events(manager)
        moving.set()
        heard = await drain_events(manager, 3)
        assert [e["payload"]["version"] for e in heard] == [2, 3, 4]
        await no_more_events(manager)


async def test_a_shortage_in_a_group_fails_alone(hub: LiveHub, stack: AsyncExitStack) -> None:
    kit = await tenant(hub)
    groups = groups_of(hub)
    async with api(hub) as http:
        scarce = await stocked(http, kit, "10.00", "2")
        carts = await open_carts(hub, kit, http, stack, 3)
        handed_back = groups.handed_back
        results = await together(hub, kit, [cart.do("cart.add", product=scarce) for cart in carts])
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(refused) == 1
        assert isinstance(refused[0], RequestFailed)
        assert (refused[0].code, refused[0].fields) == (
            "insufficient_stock",
            {"quantity": "only 0.000 available"},
        )
        assert groups.handed_back == handed_back + 1
        level = await stock_of(http, kit, scarce)
        assert (level["reserved"], level["available"]) == ("2.000", "0.000")
        assert sorted(len(c.doc["lines"]) for c in carts) == [0, 1, 1]


async def test_what_the_group_does_not_decide_goes_one_at_a_time(
    hub: LiveHub, stack: AsyncExitStack
) -> None:
    """A product with dated batches, a product never stocked in the shop, and an unknown
    product: each answered as before. A cart with a customer stays in the group, priced
    with their group's discount."""
    kit = await tenant(hub)
    groups = groups_of(hub)
    async with api(hub) as http:
        plain, dated = await plain_and_dated(http, kit)
        never_stocked = (await create_product(http, kit, price="5.00"))["id"]
        vip = await customer_in_vip(http, kit, credit_limit="0")
        cart, with_customer = await open_carts(hub, kit, http, stack, 2)
        handed_back, retried = groups.handed_back, groups.retried
        await cart.do("cart.add", product=dated, quantity="2")
        assert (await stock_of(http, kit, dated))["reserved"] == "2.000"
        with pytest.raises(RequestFailed) as none_here:
            await cart.do("cart.add", product=never_stocked)
        assert none_here.value.code == "insufficient_stock"
        with pytest.raises(RequestFailed) as unknown:
            await cart.do("cart.add", product=str(uuid.uuid4()))
        assert unknown.value.code == "not_found"
        await with_customer.do("cart.customer", customer=vip)
        await with_customer.do("cart.add", product=plain, quantity="3")
        assert (with_customer.doc["customer"]["id"], with_customer.doc["total"]) == (vip, "27.00")
        assert groups.handed_back == handed_back + 3
        assert groups.retried == retried  # none waited: no level is not a level held
        grouped = groups.grouped
        await with_customer.do("cart.set_quantity", product=plain, quantity="4")
        assert (with_customer.doc["receipt_discount"], with_customer.doc["total"]) == (
            "4.00",
            "36.00",
        )
        assert groups.grouped == grouped + 1
        await cart.do("cart.add", product=plain)
        assert groups.grouped == grouped + 2
        assert [x["quantity"] for x in cart.doc["lines"]] == ["2.000", "1.000"]


@pytest.mark.parametrize("settings", [{"cart_groups": False}], indirect=True)
async def test_the_setting_turns_it_off(hub: LiveHub, stack: AsyncExitStack) -> None:
    assert hub.app.state.deps.cart_groups is None
    kit = await tenant(hub)
    async with api(hub) as http:
        product = await stocked(http, kit, "10.00", "10")
        (cart,) = await open_carts(hub, kit, http, stack, 1)
        await cart.do("cart.add", product=product, quantity="2")
        assert cart.doc["total"] == "20.00"


@pytest.mark.parametrize("what", ["cart", "level"])
async def test_a_row_another_transaction_holds_does_not_stall_the_group(
    hub: LiveHub, stack: AsyncExitStack, what: str
) -> None:
    """A cart being paid, or a stock level under a delivery: the change that needs it
    waits for it on the other path, and the other tills' changes go on."""
    kit = await tenant(hub)
    async with api(hub) as http:
        busy_product = await stocked(http, kit, "10.00", "10")
        free_product = await stocked(http, kit, "10.00", "10")
        busy, free = await open_carts(hub, kit, http, stack, 2)
        holding = {"cart": busy.id} if what == "cart" else {"product": busy_product}
        async with held(hub, kit, **holding):
            waiting = asyncio.create_task(busy.do("cart.add", product=busy_product))
            await queued(hub, kit, 0)
            async with asyncio.timeout(10):
                await free.do("cart.add", product=free_product)  # not behind the held row
            assert not waiting.done()
        await waiting
        assert [x["quantity"] for c in (busy, free) for x in c.doc["lines"]] == ["1.000"] * 2
        for product in (busy_product, free_product):
            assert (await stock_of(http, kit, product))["reserved"] == "1.000"


async def test_scanned_barcodes_are_looked_up_in_the_group(
    hub: LiveHub, stack: AsyncExitStack
) -> None:
    kit = await tenant(hub)
    groups = groups_of(hub)
    async with api(hub) as http:
        code = ean13()
        product = (await create_product(http, kit, price="3.50", barcodes=[code]))["id"]
        await receive(http, kit, product, "10")
        (cart,) = await open_carts(hub, kit, http, stack, 1)
        grouped = groups.grouped
        await cart.do("cart.add", barcode=code)
        await cart.do("cart.add", barcode=code)
        await cart.do("cart.set_quantity", barcode=code, quantity="4")
        assert groups.grouped == grouped + 3
        assert [(x["product"], x["quantity"]) for x in cart.doc["lines"]] == [(product, "4.000")]
        assert cart.doc["total"] == "14.00"
        with pytest.raises(RequestFailed) as unknown:
            await cart.do("cart.add", barcode=ean13())
        assert (unknown.value.code, unknown.value.fields) == (
            "not_found",
            {"barcode": "no such product"},
        )


async def test_two_hub_processes_editing_one_cart_lose_no_change(
    hub: LiveHub, settings: Any
) -> None:
    """Two devices on one cart, each through its own hub process (two group writers),
    adding at once: every add the hub acknowledged is in the cart exactly once, the
    others were refused as stale and retried with the cart they were sent."""
    kit = await tenant(hub)
    token = kit.members["cashier"].token
    async with api(hub) as http, serve(settings) as second:
        product = await stocked(http, kit, "1.00", "1000")
        till = await Till(http, kit).open()
        async with hub_client(hub, token) as one, hub_client(second, token) as two:
            first = await Cart.open(one, till.shift)
            other = Cart(two, dict(first.doc))
            acknowledged = 0
            refusals: list[str] = []

            async def add_until_made(device: Cart) -> None:
                nonlocal acknowledged
                while True:
                    try:
                        await device.do("cart.add", product=product)
                    except RequestFailed as stale:
                        if stale.code != "stale_version":
                            raise
                        refusals.append(stale.code)
                        device.doc = (stale.data or {}).get("cart", device.doc)
                        continue
                    acknowledged += 1
                    return

            for _ in range(15):
                await asyncio.gather(add_until_made(first), add_until_made(other))
            final = (await one.request("cart.get", {"cart": first.id}))["cart"]
        assert acknowledged == 30
        assert (final["version"], [x["quantity"] for x in final["lines"]]) == (31, ["30.000"])
        assert (await stock_of(http, kit, product))["reserved"] == "30.000"
        assert len(refusals) >= 1  # they did collide
        assert groups_of(hub).grouped > 0
        assert groups_of(second).grouped > 0


async def create_user_with_shift(http: httpx.AsyncClient, kit: TenantKit) -> str:
    """Another cashier of the shop, with a shift open on a till of their own."""
    user = await create_user(http, kit.members["owner"].token, "cashier", [kit.shop_id])
    token = (await login(http, user["username"]))["access"]
    register = await http.post(
        "/api/sales/cash-registers/",
        json={"name": f"Till {uuid.uuid4().hex[:6]}", "shop": kit.shop_id},
        headers=kit.token("manager"),
    )
    shift = await http.post(
        "/api/sales/sessions/",
        json={"cash_register": register.json()["id"], "opening_cash": "0"},
        headers=bearer(token),
    )
    assert shift.status_code == 201, shift.text
    return str(shift.json()["id"])


async def plain_and_dated(http: httpx.AsyncClient, kit: TenantKit) -> tuple[str, str]:
    """Two products in stock: 10 at 10.00 without a date, 5 at 20.00 of a dated batch."""
    plain = await stocked(http, kit, "10.00", "10")
    dated = (await create_product(http, kit, price="20.00"))["id"]
    expiry = (date.today() + timedelta(days=30)).isoformat()
    await receive(http, kit, dated, "5", expiry_date=expiry)
    return plain, str(dated)


def cash(amount: str, key: str | None = None) -> dict[str, Any]:
    return {
        "payments": [{"method": "cash", "amount": amount}],
        "idempotency_key": key or uuid.uuid4().hex,
    }


async def test_many_tills_pay_in_one_transaction(hub: LiveHub, stack: AsyncExitStack) -> None:
    """Nine carts paid, eight of them in one transaction: each a sale with its own
    register's first receipt number, stock taken and holds gone, the shift's totals, a
    receipt job, and `sale.completed` on the dashboard."""
    kit = await tenant(hub)
    groups = groups_of(hub)
    async with api(hub) as http:
        products = [await stocked(http, kit, "10.00", "100") for _ in range(3)]
        carts = await open_carts(hub, kit, http, stack, 9)
        for i, cart in enumerate(carts):
            await cart.do("cart.add", product=products[i % 3], quantity="2")
            await cart.do("cart.add", product=products[(i + 1) % 3])
        agent_channel = channels.device(uuid.UUID(kit.tenant_id), uuid.UUID(kit.device_id)).name
        async with (
            hub_client(hub, kit.members["manager"].token) as manager,
            hub_client(hub, kit.device_token) as agent,
        ):
            await manager.subscribe(sales_channel(kit))
            await agent.subscribe(agent_channel)
            before = (groups.sold, groups.transactions, groups.handed_back)
            with statements(hub, kit) as run:
                paid = await together(hub, kit, [c.do("cart.pay", **cash("50")) for c in carts])
            # Two statements on the tenant's tables for the whole group: one reads and
            # locks everything, one writes everything.
            group = run.of_the_transaction_that_ran("WITH sales")
            assert len([sql for sql in group if "tenant_" in sql]) == 2, group
            # What the nine receipts share is read once for all of them, not once per
            # receipt: their registers and shifts (by the statement that locks them),
            # the shop's agents, and the names their headers give.
            for table in ("cash_registers", "shifts", "device_tokens", "tenants", "users"):
                reads = [s for s in group if re.search(rf"\b(FROM|JOIN) \S*\b{table}\b", s)]
                assert len(reads) == 1, reads
            # The shop's one agent never said which devices it drives: it hears of
            # every receipt job.
            jobs = await events_of_type(agent, "job.created", 9)
            assert {e["payload"]["kind"] for e in jobs} == {JobKind.RECEIPT.value}
            assert not [r for r in paid if isinstance(r, BaseException)]
            assert (groups.sold, groups.transactions, groups.handed_back) == (
                before[0] + 9,
                before[1] + 1,
                before[2],
            )
            heard = await drain_events(manager, 9)
        sales = [c.doc for c in carts]
        assert {(c["status"], c["version"]) for c in sales} == {("paid", 4)}
        for cart, result in zip(carts, paid, strict=True):
            sale = result["sale"]
            assert (sale["number"], sale["total"], sale["change"]) == (1, "30.00", "20.00")
            assert sale["payments"] == {"cash": "30.00"}
            assert cart.doc["sale"] == sale["id"]
        assert sorted(e["payload"]["sale"] for e in heard) == sorted(c["sale"] for c in sales)
        for product in products:
            level = await stock_of(http, kit, product)
            assert (level["on_hand"], level["reserved"]) == ("91.000", "0.000")
        shift = carts[4].doc["session"]
        x = await http.get(f"/api/sales/sessions/{shift}/x-report/", headers=kit.token("manager"))
        report = x.json()
        assert (report["receipts"], report["sales_total"], report["first_receipt"]) == (
            1,
            "30.00",
            1,
        )
        assert report["payments"]["cash"]["sales"] == "30.00"
        assert report["payments"]["cash"]["count"] == 1
        listed = await http.get(
            "/api/sales/sales/", params={"page_size": "50"}, headers=kit.token("manager")
        )
        lines = {s["id"]: s for s in listed.json()["results"]}
        assert set(lines) == {c["sale"] for c in sales}
    async with UnitOfWork(hub.app.state.deps.db, uuid.UUID(kit.tenant_id)) as uow:
        for cart in sales:
            job = await uow.device_jobs.by_ref(JobKind.RECEIPT, uuid.UUID(cart["sale"]))
            assert job is not None
            assert job.payload["totals"]["total"] == "30.00"
            assert [x["quantity"] for x in job.payload["lines"]] == ["2.000", "1.000"]
            sale = await uow.sales.get(uuid.UUID(cart["sale"]))
            assert sale is not None
            register = await uow.registers.get(sale.register_id)
            shift = await uow.shifts.get(sale.shift_id)
            assert register is not None
            assert shift is not None
            assert job.payload["register"] == {"id": str(register.id), "name": register.name}
            assert job.payload["shift"] == {"id": str(shift.id), "number": shift.number}
            # The header names what the one-at-a-time path's header names.
            business, shop, cashier = await uow.tenants.with_shop_and_user(
                sale.shop_id, sale.cashier_id
            )
            assert shop is not None
            assert cashier is not None
            assert job.payload["business"] == business.name
            assert job.payload["shop"] == {
                "id": str(shop.id),
                "name": shop.name,
                "address": shop.address,
            }
            assert job.payload["cashier"] == {
                "id": str(cashier.id),
                "name": cashier.full_name or cashier.username,
            }
            assert job.payload["timezone"] == shop.timezone


async def test_a_pay_sent_while_line_changes_are_written_goes_out_next(
    hub: LiveHub, stack: AsyncExitStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's two stages each take what is queued of their kind when they start:
    a pay queued while a group of line changes is being written is written right after
    it, before the line changes queued meanwhile."""
    kit = await tenant(hub)
    written: list[str] = []
    going = asyncio.Event()
    write_lines, write_pays = cart_groups._write_group, cart_groups.write_pays

    async def lines(*args: Any) -> Any:
        written.append("lines")
        await going.wait()
        return await write_lines(*args)

    async def pays(*args: Any) -> Any:
        written.append("pays")
        return await write_pays(*args)

    async with api(hub) as http:
        product = await stocked(http, kit, "10.00", "100")
        first, paying, third = await open_carts(hub, kit, http, stack, 3)
        await paying.do("cart.add", product=product)
        monkeypatch.setattr(cart_groups, "_write_group", lines)
        monkeypatch.setattr(cart_groups, "write_pays", pays)
        change = asyncio.create_task(first.do("cart.add", product=product))
        await wait_for(lambda: written == ["lines"])
        pay = asyncio.create_task(paying.do("cart.pay", **cash("10")))
        later = asyncio.create_task(third.do("cart.add", product=product))
        await queued(hub, kit, 2)
        going.set()
        await asyncio.gather(change, pay, later)
    assert written == ["lines", "pays", "lines"]
    assert pay.result()["sale"]["total"] == "10.00"
    assert (first.doc["version"], third.doc["version"]) == (2, 2)


async def test_a_pay_and_a_line_change_of_one_cart_are_made_in_the_order_they_came(
    hub: LiveHub, stack: AsyncExitStack
) -> None:
    """Two devices on one cart, a pay queued before a line change on the same version:
    the line stage does not take the change ahead of the pay left for the pay stage.
    The pay is made and the change refused (the cart is closed), as one at a time."""
    kit = await tenant(hub)
    async with api(hub) as http:
        product = await stocked(http, kit, "10.00", "100")
        (cart,) = await open_carts(hub, kit, http, stack, 1)
        await cart.do("cart.add", product=product)
        other = await stack.enter_async_context(hub_client(hub, kit.members["cashier"].token))
        twin = Cart(other, dict(cart.doc))
        async with groups_of(hub).holding():
            pay = asyncio.create_task(cart.do("cart.pay", **cash("10")))
            await queued(hub, kit, 1)
            add = asyncio.create_task(twin.do("cart.add", product=product))
            await queued(hub, kit, 2)
        paid, refused = await asyncio.gather(pay, add, return_exceptions=True)
    assert not isinstance(paid, BaseException), paid
    assert paid["sale"]["total"] == "10.00"
    assert isinstance(refused, RequestFailed)
    assert refused.code == "cart_closed"


async def test_a_cart_left_out_of_a_pay_group_is_not_left_locked(
    hub: LiveHub, stack: AsyncExitStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pay group takes shifts first: the cart of a shift another transaction holds is
    left out and never locked, so whoever holds the shift can take its cart at once."""
    kit = await tenant(hub)
    db = hub.app.state.deps.db
    tenant_id = uuid.UUID(kit.tenant_id)
    paused, going = asyncio.Event(), asyncio.Event()
    lock_pays = sale_groups.SaleGroupStatements.lock_pays

    async def held_up(statements: Any, pays: Any, keys: Any) -> Any:
        rows = await lock_pays(statements, pays, keys)  # the group's locks taken
        paused.set()
        await going.wait()
        return rows

    async with api(hub) as http:
        product = await stocked(http, kit, "10.00", "100")
        x, y = await open_carts(hub, kit, http, stack, 2)
        for cart in (x, y):
            await cart.do("cart.add", product=product)
        monkeypatch.setattr(sale_groups.SaleGroupStatements, "lock_pays", held_up)
        async with UnitOfWork(db, tenant_id, write=True) as holder:
            await holder.shifts.get(uuid.UUID(x.doc["session"]), for_update=True)
            async with groups_of(hub).holding():
                pays = [asyncio.create_task(c.do("cart.pay", **cash("10"))) for c in (x, y)]
                await queued(hub, kit, 2)
            await asyncio.wait_for(paused.wait(), 10)
            async with UnitOfWork(db, tenant_id, write=True) as probe:
                await probe.session.execute(text("SET LOCAL lock_timeout = '300ms'"))
                assert await probe.carts.get(uuid.UUID(x.id), for_update=True) is not None
            going.set()
            await wait_for(lambda: groups_of(hub).sold >= 1)
        paid = await asyncio.gather(*pays)
    assert [p["sale"]["total"] for p in paid] == ["10.00", "10.00"]


async def test_a_key_twice_in_a_group_and_a_retry_are_answered_by_the_other_path(
    hub: LiveHub, stack: AsyncExitStack
) -> None:
    kit = await tenant(hub)
    groups = groups_of(hub)
    async with api(hub) as http:
        product = await stocked(http, kit, "10.00", "100")
        one, two = await open_carts(hub, kit, http, stack, 2)
        for cart in (one, two):
            await cart.do("cart.add", product=product)
        handed_back = groups.handed_back
        results = await together(
            hub,
            kit,
            [one.do("cart.pay", **cash("10", "same")), two.do("cart.pay", **cash("10", "same"))],
        )
        made = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, RequestFailed)]
        assert (len(made), len(refused)) == (1, 1)
        assert refused[0].code == "idempotency_key_reused"
        assert groups.handed_back == handed_back + 2
        # The till retries the pay it saw fail on the wire: the same sale, replayed.
        winner = one if one.doc["status"] == "paid" else two
        again = await winner.ws.request(
            "cart.pay",
            {"cart": winner.id, "version": winner.doc["version"] - 1, **cash("10", "same")},
        )
        assert (again["sale"]["id"], again["sale"]["replayed"]) == (winner.doc["sale"], True)
        level = await stock_of(http, kit, product)
        assert (level["on_hand"], level["reserved"]) == ("99.000", "1.000")


async def test_pays_the_group_does_not_make_are_made_one_at_a_time(
    hub: LiveHub, stack: AsyncExitStack
) -> None:
    """Too little money, a customer's cart (their ledger), and goods of a dated batch:
    each answered as before."""
    kit = await tenant(hub)
    groups = groups_of(hub)
    async with api(hub) as http:
        plain, dated = await plain_and_dated(http, kit)
        vip = await customer_in_vip(http, kit, credit_limit="100")
        short, with_customer, with_dated = await open_carts(hub, kit, http, stack, 3)
        await short.do("cart.add", product=plain)
        await with_customer.do("cart.customer", customer=vip)
        await with_customer.do("cart.add", product=plain)
        await with_dated.do("cart.add", product=dated)
        sold, handed_back = groups.sold, groups.handed_back
        with pytest.raises(RequestFailed) as too_little:
            await short.do("cart.pay", **cash("9.99"))
        assert too_little.value.code == "validation_error"
        assert short.doc["status"] == "open"
        credit = await with_customer.do(
            "cart.pay", payments=[{"method": "credit", "amount": "9.00"}], idempotency_key="c-1"
        )
        assert (credit["sale"]["total"], credit["sale"]["payments"]) == ("9.00", {"credit": "9.00"})
        made = await with_dated.do("cart.pay", **cash("20"))
        assert made["sale"]["total"] == "20.00"
        assert (groups.sold, groups.handed_back) == (sold, handed_back + 3)
        await short.do("cart.pay", **cash("10"))
        assert groups.sold == sold + 1
        for product, left in ((plain, "8.000"), (dated, "4.000")):
            level = await stock_of(http, kit, product)
            assert (level["on_hand"], level["reserved"]) == (left, "0.000")


async def test_tills_open_their_carts_in_one_transaction(
    hub: LiveHub, stack: AsyncExitStack
) -> None:
    """New carts made together, each announced; a till that reloads gets its cart as it
    was; a closed shift and another cashier's shift are answered as before."""
    kit = await tenant(hub)
    groups = groups_of(hub)
    async with api(hub) as http:
        product = await stocked(http, kit, "10.00", "10")
        tills = [await Till(http, kit).open() for _ in range(5)]
        token = kit.members["cashier"].token
        sockets = [await stack.enter_async_context(hub_client(hub, token)) for _ in tills]
        ws = sockets[0]
        async with hub_client(hub, kit.members["manager"].token) as manager:
            await manager.subscribe(carts_channel(kit))
            before = (groups.grouped, groups.transactions)
            opened = await together(
                hub,
                kit,
                [
                    s.request("cart.open", {"session": t.shift})
                    for s, t in zip(sockets, tills, strict=True)
                ],
            )
            assert (groups.transactions, groups.grouped) == (before[1] + 1, before[0] + 5)
            heard = await drain_events(manager, 5)
        carts = [Cart(ws, o["cart"]) for o in opened]
        assert [(c.doc["session"], c.doc["version"], c.doc["lines"]) for c in carts] == [
            (t.shift, 1, []) for t in tills
        ]
        assert sorted(e["payload"]["id"] for e in heard) == sorted(c.id for c in carts)
        await carts[0].do("cart.add", product=product, quantity="2")
        again = await ws.request("cart.open", {"session": tills[0].shift})  # a reload
        assert (again["cart"]["id"], again["cart"]["version"]) == (carts[0].id, 2)
        assert again["cart"]["total"] == "20.00"
        handed_back = groups.handed_back
        closed = await http.post(
            f"/api/sales/sessions/{tills[1].shift}/close/",
            json={"closing_cash": "500.00"},
            headers=kit.token("cashier"),
        )
        assert closed.status_code == 200, closed.text
        with pytest.raises(RequestFailed) as shut:
            await ws.request("cart.open", {"session": tills[1].shift})
        assert shut.value.code == "conflict"
        other = await create_user_with_shift(http, kit)
        with pytest.raises(RequestFailed) as not_theirs:
            await ws.request("cart.open", {"session": other})
        assert not_theirs.value.code == "permission_denied"
        assert groups.handed_back == handed_back + 2


async def test_a_pay_whose_stock_another_transaction_holds_waits_alone(
    hub: LiveHub, stack: AsyncExitStack
) -> None:
    """A delivery holding one product's level and batches: the pay that needs them
    waits for it one at a time; the other pay of the group is made at once (the group
    does not wait on the batches of a level it skipped)."""
    kit = await tenant(hub)
    async with api(hub) as http:
        busy_product = await stocked(http, kit, "10.00", "10")
        free_product = await stocked(http, kit, "10.00", "10")
        busy, free = await open_carts(hub, kit, http, stack, 2)
        await busy.do("cart.add", product=busy_product)
        await free.do("cart.add", product=free_product)
        db, tenant_id = hub.app.state.deps.db, uuid.UUID(kit.tenant_id)
        async with UnitOfWork(db, tenant_id, write=True) as uow:
            await uow.stock.lock_levels(uuid.UUID(kit.shop_id), [uuid.UUID(busy_product)])
            await uow.stock.batches_of(uuid.UUID(kit.shop_id), [uuid.UUID(busy_product)])
            async with groups_of(hub).holding():
                waiting = asyncio.create_task(busy.do("cart.pay", **cash("10")))
                paying = asyncio.create_task(free.do("cart.pay", **cash("10")))
                await queued(hub, kit, 2)
            async with asyncio.timeout(10):
                await paying
            assert not waiting.done()
        await waiting
        assert (busy.doc["status"], free.doc["status"]) == ("paid", "paid")
        for product in (busy_product, free_product):
            level = await stock_of(http, kit, product)
            assert (level["on_hand"], level["reserved"]) == ("9.000", "0.000")


@pytest.mark.parametrize("what", ["line", "pay"])
async def test_a_request_whose_stock_is_held_for_a_moment_is_made_in_a_later_group(
    hub: LiveHub, stack: AsyncExitStack, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """Another transaction (another hub process's group, most often) holds the stock
    level a line change or a pay needs: the request rides the writer's next groups and
    is made there once the level is free, not handed to the one-at-a-time path."""
    monkeypatch.setattr(cart_groups, "CONTENDED_PATIENCE", 30.0)  # the test lets go
    kit = await tenant(hub)
    groups = groups_of(hub)
    async with api(hub) as http:
        product = await stocked(http, kit, "10.00", "10")
        (cart,) = await open_carts(hub, kit, http, stack, 1)
        if what == "pay":
            await cart.do("cart.add", product=product, quantity="2")
        made, retried, handed_back = (
            groups.grouped + groups.sold,
            groups.retried,
            groups.handed_back,
        )
        async with held(hub, kit, product=product):
            if what == "pay":
                doing = asyncio.create_task(cart.do("cart.pay", **cash("20")))
            else:
                doing = asyncio.create_task(cart.do("cart.add", product=product))
            await wait_for(lambda: groups.retried >= retried + 3)  # tried, and tried again
            assert not doing.done()
        reply = await asyncio.wait_for(doing, 10)
        assert (groups.grouped + groups.sold, groups.handed_back) == (made + 1, handed_back)
        level = await stock_of(http, kit, product)
    if what == "pay":
        assert reply["sale"]["total"] == "20.00"
        assert (level["on_hand"], level["reserved"]) == ("8.000", "0.000")
    else:
        assert [x["quantity"] for x in cart.doc["lines"]] == ["1.000"]
        assert (level["on_hand"], level["reserved"]) == ("10.000", "1.000")


async def test_a_cart_the_group_cannot_price_does_not_hold_back_the_others(
    hub: LiveHub, stack: AsyncExitStack
) -> None:
    """Half a kilo in a cart, and the product made a piece product since: that pay is
    refused as before, and the group's other pays are made."""
    kit = await tenant(hub)
    groups = groups_of(hub)
    async with api(hub) as http:
        weighed = (await create_product(http, kit, price="100.00", unit="kg"))["id"]
        await receive(http, kit, weighed, "10")
        plain = await stocked(http, kit, "10.00", "10")
        odd, *others = await open_carts(hub, kit, http, stack, 3)
        await odd.do("cart.add", product=weighed, quantity="0.5")
        for cart in others:
            await cart.do("cart.add", product=plain)
        async with UnitOfWork(hub.app.state.deps.db, uuid.UUID(kit.tenant_id), write=True) as uow:
            product = await uow.products.get(uuid.UUID(weighed))
            assert product is not None
            product.unit = "piece"
            await uow.commit()
        sold, handed_back = groups.sold, groups.handed_back
        results = await together(
            hub, kit, [c.do("cart.pay", **cash("100")) for c in (odd, *others)]
        )
        assert isinstance(results[0], RequestFailed)
        assert results[0].code == "validation_error"
        assert [r["sale"]["total"] for r in results[1:]] == ["10.00", "10.00"]
        assert (groups.sold, groups.handed_back) == (sold + 2, handed_back + 1)
