"""Live carts over the websocket: built line by line, priced on the hub, watched by a
manager, serialised by version, holding stock, surviving a reload and a restart, paid
once however often the till retries, and expired when abandoned."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.services import carts as cart_service
from protocol import channels
from protocol.client import HubClient, RequestFailed
from tests import services
from tests.conftest import LiveHub, serve
from tests.e2e.test_sales import Till, customer_in_vip, stocked
from tests.e2e.ws_support import (
    api,
    drain_events,
    events_of_type,
    hub_client,
    no_more_events,
    tenant,
)
from tests.helpers import TenantKit, create_product, ean13, receive, stock_of

store = services.stores_with_clusters()

D = Decimal


class Cart:
    """A till's cart over its websocket connection: every change names the version the
    till last saw, as a real till does."""

    def __init__(self, ws: HubClient, document: dict[str, Any]) -> None:
        self.ws = ws
        self.doc = document

    @classmethod
    async def open(cls, ws: HubClient, shift: str) -> Cart:
        data = await ws.request("cart.open", {"session": shift})
        return cls(ws, data["cart"])

    @property
    def id(self) -> str:
        return str(self.doc["id"])

    async def do(self, type_: str, **payload: Any) -> dict[str, Any]:
        body = {"cart": self.id, "version": self.doc["version"], **payload}
        data = await self.ws.request(type_, body)
        self.doc = data["cart"]
        return data


@asynccontextmanager
async def till_on(hub: LiveHub, kit: TenantKit, http: httpx.AsyncClient) -> AsyncIterator[Cart]:
    till = await Till(http, kit).open()
    async with hub_client(hub, kit.members["cashier"].token) as ws:
        yield await Cart.open(ws, till.shift)


@asynccontextmanager
async def connections(hub: LiveHub, token: str, n: int) -> AsyncIterator[list[HubClient]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(hub_client(hub, token)) for _ in range(n)]


def carts_channel(kit: TenantKit) -> str:
    return channels.carts(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name


async def test_a_cart_built_priced_and_paid(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        code = ean13()
        milk = (await create_product(http, kit, price="89.90", barcodes=[code]))["id"]
        await receive(http, kit, milk, "10")
        bread = await stocked(http, kit, "45.50", "10")
        vip = await customer_in_vip(http, kit, credit_limit="0")
        async with till_on(live_hub, kit, http) as cart:
            assert (cart.doc["version"], cart.doc["lines"], cart.doc["total"]) == (1, [], "0.00")
            await cart.do("cart.add", barcode=code)
            await cart.do("cart.add", barcode=code)  # a second scan adds to the line
            await cart.do("cart.add", product=bread, quantity="3")
            assert [(x["name"] != "", x["quantity"]) for x in cart.doc["lines"]] == [
                (True, "2.000"),
                (True, "3.000"),
            ]
            reserved = await stock_of(http, kit, milk)
            assert (reserved["reserved"], reserved["available"]) == ("2.000", "8.000")
            await cart.do("cart.set_quantity", product=bread, quantity="2")
            await cart.do("cart.discount_line", product=milk, percent="10")
            # 2 x 89.90 = 179.80 - 17.98 = 161.82; 2 x 45.50 = 91.00; 252.82
            assert cart.doc["total"] == "252.82"
            await cart.do("cart.discount", amount="5.00")
            assert (cart.doc["receipt_discount"], cart.doc["total"]) == ("5.00", "247.82")
            await cart.do("cart.customer", customer=vip)  # VIP 10 % beats 5.00
            assert cart.doc["customer"]["group_discount_percent"] == "10.00"
            assert (cart.doc["receipt_discount"], cart.doc["total"]) == ("25.28", "227.54")
            lines_total = sum(D(x["total"]) for x in cart.doc["lines"])
            assert lines_total == D(cart.doc["total"])
            assert D(cart.doc["subtotal"]) - D(cart.doc["discount_total"]) == lines_total
            version = cart.doc["version"]
            paid = await cart.do(
                "cart.pay",
                payments=[
                    {"method": "card", "amount": "200.00"},
                    {"method": "cash", "amount": "50"},
                ],
                idempotency_key="till-1-receipt-1",
            )
        sale = paid["sale"]
        assert (sale["number"], sale["total"], sale["change"]) == (1, "227.54", "22.46")
        assert sale["payments"] == {"card": "200.00", "cash": "27.54"}
        assert (paid["cart"]["status"], paid["cart"]["version"]) == ("paid", version + 1)
        assert paid["cart"]["sale"] == sale["id"]
        after = await stock_of(http, kit, milk)
        assert (after["on_hand"], after["reserved"]) == ("8.000", "0.000")
        stored = await http.get(f"/api/sales/sales/{sale['id']}/", headers=kit.token("owner"))
        assert stored.json()["customer"] == vip
        assert [x["quantity"] for x in stored.json()["items"]] == ["2.000", "2.000"]
        snapshot = await http.get(f"/api/sales/carts/{cart.id}/", headers=kit.token("manager"))
        assert (snapshot.json()["status"], snapshot.json()["sale"]) == ("paid", sale["id"])


async def test_a_line_keeps_the_price_it_was_scanned_at(live_hub: LiveHub) -> None:
    """A price changed while the customer is at the till applies to what is scanned
    after it; the sale is made at the cart's prices."""
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        milk = await stocked(http, kit, "10.00", "10")
        bread = await stocked(http, kit, "4.00", "10")
        async with till_on(live_hub, kit, http) as cart:
            await cart.do("cart.add", product=milk)
            for product, price in ((milk, "12.00"), (bread, "5.00")):
                changed = await http.patch(
                    f"/api/products/products/{product}/",
                    json={"price": price},
                    headers=kit.token("owner"),
                )
                assert changed.status_code == 200, changed.text
            await cart.do("cart.add", product=milk)  # onto its line: still 10.00
            await cart.do("cart.add", product=bread)  # a new line: today's 5.00
            assert [(x["price"], x["total"]) for x in cart.doc["lines"]] == [
                ("10.00", "20.00"),
                ("5.00", "5.00"),
            ]
            assert cart.doc["total"] == "25.00"
            paid = await cart.do(
                "cart.pay",
                payments=[{"method": "cash", "amount": "25.00"}],
                idempotency_key="kept-prices",
            )
        sold = await http.get(f"/api/sales/sales/{paid['sale']['id']}/", headers=kit.token("owner"))
    assert paid["sale"]["total"] == "25.00"
    assert [(x["price"], x["total"]) for x in sold.json()["items"]] == [
        ("10.00", "20.00"),
        ("5.00", "5.00"),
    ]
    # A REST sale is made at the product's price of the moment.
    async with api(live_hub) as http:
        till = await Till(http, kit).open()
        made = await till.sell(
            [{"product": milk, "quantity": "1"}], [{"method": "cash", "amount": "12.00"}]
        )
    assert made.json()["total"] == "12.00"


async def test_a_manager_sees_every_change_of_a_till_in_order(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        products = [await stocked(http, kit, "10.00", "50") for _ in range(3)]
        till = await Till(http, kit).open()
        async with (
            hub_client(live_hub, kit.members["manager"].token) as manager,
            hub_client(live_hub, kit.members["cashier"].token) as ws,
        ):
            await manager.subscribe(carts_channel(kit))
            cart = await Cart.open(ws, till.shift)
            for product in products:
                await cart.do("cart.add", product=product)
            await cart.do("cart.set_quantity", product=products[0], quantity="4")
            await cart.do("cart.remove", product=products[1])
            await cart.do(
                "cart.pay", payments=[{"method": "cash", "amount": "50"}], idempotency_key="k-1"
            )
            events = await drain_events(manager, 7)
            await no_more_events(manager)
    assert [e["type"] for e in events] == ["cart.updated"] * 6 + ["cart.closed"]
    assert [e["payload"]["version"] for e in events] == list(range(1, 8))
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert [len(e["payload"]["lines"]) for e in events] == [0, 1, 2, 3, 3, 2, 2]
    assert events[-1]["payload"]["status"] == "paid"
    assert events[-1]["payload"]["total"] == "50.00"


async def test_a_stale_version_is_refused_with_the_current_cart(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        milk = await stocked(http, kit, "10.00", "50")
        till = await Till(http, kit).open()
        async with (
            hub_client(live_hub, kit.members["cashier"].token) as cashier_ws,
            hub_client(live_hub, kit.members["manager"].token) as manager_ws,
        ):
            cashier = await Cart.open(cashier_ws, till.shift)
            manager = Cart(manager_ws, dict(cashier.doc))  # both saw version 1
            await cashier.do("cart.add", product=milk)
            with pytest.raises(RequestFailed) as stale:
                await manager.do("cart.add", product=milk)
            assert stale.value.code == "stale_version"
            assert stale.value.data is not None
            current = stale.value.data["cart"]
            assert (current["version"], current["lines"][0]["quantity"]) == (2, "1.000")
            manager.doc = current  # the manager retries on what is there now
            await manager.do("cart.set_quantity", product=milk, quantity="5")
            snapshot = await http.get(
                f"/api/sales/carts/{cashier.id}/", headers=kit.token("cashier")
            )
        level = await stock_of(http, kit, milk)
    assert (snapshot.json()["version"], snapshot.json()["lines"][0]["quantity"]) == (3, "5.000")
    assert level["reserved"] == "5.000"


async def test_concurrent_changes_are_never_lost_or_applied_twice(live_hub: LiveHub) -> None:
    """Eight connections each try to add one unit at the version they last saw, retrying
    on a stale version: the cart ends with exactly one unit per accepted change."""
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        milk = await stocked(http, kit, "10.00", "100")
        till = await Till(http, kit).open()
        async with hub_client(live_hub, kit.members["cashier"].token) as first:
            opened = await Cart.open(first, till.shift)

        async def add_once(cart: Cart) -> int:
            refusals = 0
            while True:
                try:
                    await cart.do("cart.add", product=milk)
                    return refusals
                except RequestFailed as exc:
                    if exc.code != "stale_version" or exc.data is None:
                        raise
                    cart.doc = exc.data["cart"]
                    refusals += 1

        async with connections(live_hub, kit.members["cashier"].token, 8) as connected:
            refused = await asyncio.gather(
                *(add_once(Cart(ws, dict(opened.doc))) for ws in connected)
            )
        final = await http.get(f"/api/sales/carts/{opened.id}/", headers=kit.token("cashier"))
        level = await stock_of(http, kit, milk)
    assert final.json()["lines"][0]["quantity"] == "8.000"
    assert final.json()["version"] == 9
    assert sum(refused) >= 1  # they did collide
    assert level["reserved"] == "8.000"


async def test_carts_hold_stock_until_released(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        milk = await stocked(http, kit, "10.00", "3")
        first_till, second_till = await Till(http, kit).open(), await Till(http, kit).open()
        async with hub_client(live_hub, kit.members["cashier"].token) as ws:
            first = await Cart.open(ws, first_till.shift)
            second = await Cart.open(ws, second_till.shift)
            await first.do("cart.add", product=milk, quantity="2")
            with pytest.raises(RequestFailed) as short:
                await second.do("cart.add", product=milk, quantity="2")
            assert short.value.code == "insufficient_stock"
            assert second.doc["lines"] == []  # the refused change left nothing
            await first.do("cart.remove", product=milk)
            await second.do("cart.add", product=milk, quantity="2")
            await first.do("cart.add", product=milk, quantity="1")
            with pytest.raises(RequestFailed):
                await first.do("cart.set_quantity", product=milk, quantity="2")
            await second.do("cart.cancel")
            assert second.doc["status"] == "cancelled"
            await first.do("cart.set_quantity", product=milk, quantity="3")
            with pytest.raises(RequestFailed) as closed:
                await second.do("cart.add", product=milk)
            assert closed.value.code == "cart_closed"
            # the till starts a new cart on its shift once the old one is closed
            fresh = await Cart.open(ws, second_till.shift)
            assert fresh.id != second.id
        level = await stock_of(http, kit, milk)
    assert (level["on_hand"], level["reserved"], level["available"]) == ("3.000", "3.000", "0.000")


async def test_a_cart_survives_a_reload_and_a_hub_restart(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        milk = await stocked(http, kit, "12.50", "10")
        till = await Till(http, kit).open()
        async with hub_client(live_hub, kit.members["cashier"].token) as ws:
            cart = await Cart.open(ws, till.shift)
            await cart.do("cart.add", product=milk, quantity="2")
        async with hub_client(live_hub, kit.members["cashier"].token) as reloaded:
            again = await Cart.open(reloaded, till.shift)
    assert (again.id, again.doc["version"], again.doc["total"]) == (cart.id, 2, "25.00")
    settings = live_hub.app.state.deps.settings
    # a second hub on the same database: what a restart finds
    async with serve(settings) as restarted, api(restarted) as http:
        async with hub_client(restarted, kit.members["cashier"].token) as ws:
            resumed = await Cart.open(ws, till.shift)
            await resumed.do(
                "cart.pay", payments=[{"method": "cash", "amount": "25"}], idempotency_key="r-1"
            )
        assert (await stock_of(http, kit, milk))["on_hand"] == "8.000"
    assert resumed.id == cart.id


async def test_fifty_retries_of_one_payment_make_one_sale(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        milk = await stocked(http, kit, "10.00", "10")
        till = await Till(http, kit).open()
        async with hub_client(live_hub, kit.members["cashier"].token) as ws:
            cart = await Cart.open(ws, till.shift)
            await cart.do("cart.add", product=milk, quantity="2")
        pay = {
            "cart": cart.id,
            "version": cart.doc["version"],
            "payments": [{"method": "cash", "amount": "20.00"}],
            "idempotency_key": "one-payment",
        }
        async with connections(live_hub, kit.members["cashier"].token, 10) as connected:
            replies = await asyncio.gather(
                *(ws.request("cart.pay", pay, wait=30) for ws in connected for _ in range(5))
            )
        sales = await http.get(
            "/api/sales/sales/", params={"session": till.shift}, headers=kit.token("owner")
        )
        level = await stock_of(http, kit, milk)
        async with hub_client(live_hub, kit.members["cashier"].token) as ws:
            # The same payment written another way is the same request...
            again = await ws.request(
                "cart.pay", pay | {"payments": [{"method": "cash", "amount": "20"}]}
            )
            # ...other payments under the key are not: the first sale was paid in cash.
            with pytest.raises(RequestFailed) as other:
                await ws.request(
                    "cart.pay", pay | {"payments": [{"method": "card", "amount": "20.00"}]}
                )
    assert len(replies) == 50
    assert len({r["sale"]["id"] for r in replies}) == 1
    assert sum(not r["sale"]["replayed"] for r in replies) == 1
    assert sales.json()["count"] == 1
    assert (level["on_hand"], level["reserved"]) == ("8.000", "0.000")
    assert (again["sale"]["id"], again["sale"]["replayed"]) == (replies[0]["sale"]["id"], True)
    assert other.value.code == "idempotency_key_reused"


async def test_a_cart_with_nothing_left_to_pay_is_paid_with_no_payments(
    live_hub: LiveHub,
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        milk = await stocked(http, kit, "10.00", "10")
        async with till_on(live_hub, kit, http) as cart:
            await cart.do("cart.add", product=milk, quantity="2")
            with pytest.raises(RequestFailed) as unpaid:
                await cart.do("cart.pay", payments=[], idempotency_key="gift")
            await cart.do("cart.discount", percent="100")
            assert (cart.doc["total"], cart.doc["to_pay"]) == ("0.00", "0.00")
            paid = await cart.do("cart.pay", payments=[], idempotency_key="gift")
        level = await stock_of(http, kit, milk)
    assert unpaid.value.code == "validation_error"
    assert "payments" in unpaid.value.fields
    assert (paid["sale"]["total"], paid["sale"]["payments"]) == ("0.00", {})
    assert (level["on_hand"], level["reserved"]) == ("8.000", "0.000")


async def milk_and_a_vip_earning(
    http: httpx.AsyncClient, kit: TenantKit, accrual_percent: str
) -> tuple[str, str]:
    """Milk at 100.00 (10 in stock) and a VIP customer (10 % off), in a business whose
    sales accrue `accrual_percent` of what is paid in money as points."""
    milk = await stocked(http, kit, "100.00", "10")
    vip = await customer_in_vip(http, kit, credit_limit="0")
    await http.patch(
        "/api/core/tenant/",
        json={"settings": {"bonus_accrual_percent": accrual_percent}},
        headers=kit.token("owner"),
    )
    return milk, vip


async def test_bonus_points_are_redeemed_from_the_cart(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        # points come from a first sale at 10 % accrual
        milk, vip = await milk_and_a_vip_earning(http, kit, "10")
        async with till_on(live_hub, kit, http) as cart:
            with pytest.raises(RequestFailed) as no_customer:
                await cart.do("cart.bonus", amount="5")
            assert no_customer.value.fields == {"customer": "required"}
            await cart.do("cart.add", product=milk, quantity="2")
            await cart.do("cart.customer", customer=vip)
            await cart.do(
                "cart.pay", payments=[{"method": "card", "amount": "180.00"}], idempotency_key="b1"
            )
            second = await Cart.open(cart.ws, cart.doc["session"])
            await second.do("cart.add", product=milk)
            await second.do("cart.customer", customer=vip)
            with pytest.raises(RequestFailed) as too_many:
                await second.do("cart.bonus", amount="18.01")  # 18.00 accrued
            assert too_many.value.code == "bonus_cap_exceeded"
            await second.do("cart.bonus", amount="18.00")
            assert (second.doc["total"], second.doc["to_pay"]) == ("90.00", "72.00")
            paid = await second.do(
                "cart.pay", payments=[{"method": "cash", "amount": "72.00"}], idempotency_key="b2"
            )
        customer = await http.get(f"/api/customers/customers/{vip}/", headers=kit.token("owner"))
    assert paid["sale"]["payments"] == {"bonus": "18.00", "cash": "72.00"}
    assert D(customer.json()["bonus"]) == D("7.20")  # 10 % of the 72.00 paid in money


async def test_points_to_redeem_follow_the_cap_when_a_discount_lowers_the_total(
    live_hub: LiveHub,
) -> None:
    """Points chosen before a discount never leave the cart asking for a payment the
    sale would refuse: what the cart redeems, and so its `to_pay`, follows the cap."""
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        milk, vip = await milk_and_a_vip_earning(http, kit, "20")
        async with till_on(live_hub, kit, http) as cart:
            await cart.do("cart.add", product=milk, quantity="2")
            await cart.do("cart.customer", customer=vip)
            await cart.do(
                "cart.pay", payments=[{"method": "card", "amount": "180.00"}], idempotency_key="p1"
            )  # 36.00 points accrued
            second = await Cart.open(cart.ws, cart.doc["session"])
            await second.do("cart.add", product=milk)
            await second.do("cart.customer", customer=vip)
            await second.do("cart.bonus", amount="36.00")  # the cap: half of 90.00
            await second.do("cart.discount", percent="70")  # 30.00: the cap is 15.00
            lowered = dict(second.doc)
            await second.do("cart.discount")  # no receipt discount: 90.00 again
            restored = dict(second.doc)
            await second.do("cart.discount", percent="70")
            paid = await second.do(
                "cart.pay", payments=[{"method": "cash", "amount": "15.00"}], idempotency_key="p2"
            )
    assert (lowered["total"], lowered["bonus"], lowered["to_pay"]) == ("30.00", "15.00", "15.00")
    assert (restored["total"], restored["bonus"], restored["to_pay"]) == ("90.00", "36.00", "54.00")
    assert paid["sale"]["payments"] == {"bonus": "15.00", "cash": "15.00"}


async def test_abandoned_carts_expire_and_give_their_goods_back(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    db = live_hub.app.state.deps.db
    async with api(live_hub) as http:
        milk = await stocked(http, kit, "10.00", "5")
        idle_till, closing_till = await Till(http, kit).open(), await Till(http, kit).open()
        async with (
            hub_client(live_hub, kit.members["manager"].token) as manager,
            hub_client(live_hub, kit.members["cashier"].token) as ws,
        ):
            idle = await Cart.open(ws, idle_till.shift)
            await idle.do("cart.add", product=milk, quantity="2")
            left = await Cart.open(ws, closing_till.shift)
            await left.do("cart.add", product=milk, quantity="1")
            await manager.subscribe(carts_channel(kit))
            closed = await http.post(
                f"/api/sales/sessions/{closing_till.shift}/close/",
                json={"closing_cash": "500.00"},
                headers=kit.token("cashier"),
            )
            assert closed.status_code == 200, closed.text
            # Closing the shift expired its cart at once: its unit is back on sale.
            at_close = await stock_of(http, kit, milk)
            assert (at_close["reserved"], at_close["available"]) == ("2.000", "3.000")
            with pytest.raises(RequestFailed) as shut:
                await left.do("cart.add", product=milk)
            assert shut.value.code == "cart_closed"
            tenant_id = uuid.UUID(kit.tenant_id)
            async with UnitOfWork(db, tenant_id, write=True) as uow:
                assert await cart_service.expire_abandoned(uow) == 0  # nothing idle yet
            async with UnitOfWork(db, tenant_id, write=True) as uow:
                later = utcnow() + timedelta(minutes=61)
                assert await cart_service.expire_abandoned(uow, later) == 1  # the idle one
            events = await events_of_type(manager, "cart.closed", 2)
            with pytest.raises(RequestFailed) as gone:
                await idle.do("cart.add", product=milk)
            assert gone.value.code == "cart_closed"
        level = await stock_of(http, kit, milk)
    assert [(e["type"], e["payload"]["id"], e["payload"]["status"]) for e in events] == [
        ("cart.closed", left.id, "expired"),  # with the shift
        ("cart.closed", idle.id, "expired"),  # by the sweep
    ]
    assert (level["reserved"], level["available"]) == ("0.000", "5.000")


async def test_who_may_touch_a_cart(live_hub: LiveHub) -> None:
    kit, other = await tenant(live_hub), await tenant(live_hub)
    async with api(live_hub) as http:
        milk = await stocked(http, kit, "10.00", "5")
        async with till_on(live_hub, kit, http) as cart:
            await cart.do("cart.add", product=milk)
            attempt = {"cart": cart.id, "version": cart.doc["version"], "product": milk}
            async with hub_client(live_hub, kit.members["stockkeeper"].token) as keeper:
                with pytest.raises(RequestFailed) as denied:
                    await keeper.request("cart.add", attempt)
                assert denied.value.code in ("permission_denied", "not_found")
                with pytest.raises(RequestFailed) as hidden:
                    await keeper.request("cart.get", {"cart": cart.id})
                assert hidden.value.code == "not_found"
            async with hub_client(live_hub, other.members["owner"].token) as stranger:
                for type_ in ("cart.get", "cart.add"):
                    with pytest.raises(RequestFailed) as foreign:
                        await stranger.request(
                            type_, {**attempt} if type_ == "cart.add" else {"cart": cart.id}
                        )
                    assert foreign.value.code == "not_found"
            listed = await http.get("/api/sales/carts/", headers=other.token("owner"))
            assert listed.json()["count"] == 0
            mine = await http.get(
                "/api/sales/carts/", params={"status": "open"}, headers=kit.token("manager")
            )
            assert [c["id"] for c in mine.json()["results"]] == [cart.id]
    assert cart.doc["version"] == 2


SOME_CART = str(uuid.uuid4())


def change(**payload: Any) -> dict[str, Any]:
    return {"cart": SOME_CART, "version": 1, **payload}


def pay(payments: list[dict[str, str]], key: str = "k", **extra: Any) -> dict[str, Any]:
    return change(payments=payments, idempotency_key=key, **extra)


CASH = [{"method": "cash", "amount": "1"}]


@pytest.mark.parametrize(
    ("type_", "payload", "field"),
    [
        ("cart.open", {}, "session"),
        ("cart.open", {"session": "nope"}, "session"),
        ("cart.add", {"version": 1, "product": str(uuid.uuid4())}, "cart"),
        ("cart.add", {"cart": SOME_CART, "product": str(uuid.uuid4())}, "version"),
        ("cart.add", change(version=0, barcode="1"), "version"),
        ("cart.add", change(), "payload"),
        ("cart.add", change(barcode="1", product=str(uuid.uuid4())), "payload"),
        ("cart.add", change(barcode="x y"), "barcode"),
        ("cart.add", change(barcode="1", quantity="0"), "quantity"),
        ("cart.add", change(barcode="1", quantity="NaN"), "quantity"),
        ("cart.add", change(barcode="1", quantity="0.0001"), "quantity"),
        ("cart.set_quantity", change(barcode="1", quantity="-1"), "quantity"),
        ("cart.discount", change(percent="101"), "percent"),
        ("cart.discount", change(percent=5, amount=1), "payload"),
        ("cart.discount_line", change(barcode="1", amount="-1"), "amount"),
        ("cart.bonus", change(amount="0.001"), "amount"),
        ("cart.customer", change(customer="x"), "customer"),
        ("cart.pay", pay(CASH * 9), "payments"),  # an empty list is a sale with nothing to pay
        ("cart.pay", pay([{"method": "bonus", "amount": "1"}]), "payments.0.method"),
        ("cart.pay", pay([{"method": "cash", "amount": "0"}]), "payments.0.amount"),
        ("cart.pay", pay(CASH, key=""), "idempotency_key"),
        ("cart.pay", pay(CASH, key="k" * 101), "idempotency_key"),
        ("cart.pay", pay(CASH, extra=1), "extra"),
    ],
)
async def test_bad_cart_requests_are_refused_by_field(
    live_hub: LiveHub, type_: str, payload: dict[str, Any], field: str
) -> None:
    kit = await tenant(live_hub)
    async with hub_client(live_hub, kit.members["cashier"].token) as ws:
        with pytest.raises(RequestFailed) as refused:
            await ws.request(type_, payload)
        assert refused.value.code == "validation_error"
        assert field in refused.value.fields, refused.value.fields
        pong = await ws.request("ping")  # the connection lives on
    assert "time" in pong


async def test_domain_refusals_name_the_problem(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        milk = await stocked(http, kit, "10.00", "5")
        weighed = await create_product(http, kit, price="100.00", unit="kg")
        await receive(http, kit, weighed["id"], "10")
        async with till_on(live_hub, kit, http) as cart:
            cases: list[tuple[str, dict[str, Any], str]] = [
                ("cart.add", {"barcode": "0000000"}, "not_found"),
                ("cart.add", {"product": milk, "quantity": "1.5"}, "validation_error"),
                ("cart.remove", {"product": milk}, "not_found"),
                ("cart.pay", {"payments": CASH, "idempotency_key": "e"}, "validation_error"),
                ("cart.customer", {"customer": str(uuid.uuid4())}, "not_found"),
            ]
            for type_, payload, code in cases:
                with pytest.raises(RequestFailed) as refused:
                    await cart.do(type_, **payload)
                assert refused.value.code == code, (type_, refused.value)
            await cart.do("cart.add", product=weighed["id"], quantity="0.375")
            assert cart.doc["total"] == "37.50"
            with pytest.raises(RequestFailed) as too_much:
                await cart.do("cart.discount_line", product=weighed["id"], amount="40.00")
            assert too_much.value.code == "validation_error"
            # named as the request said it, not as the pricing rule's REST names
            assert too_much.value.fields == {"amount": "at most 37.50"}
            with pytest.raises(RequestFailed) as too_much_off:
                await cart.do("cart.discount", amount="37.51")
            assert too_much_off.value.fields == {"amount": "at most 37.50"}
            with pytest.raises(RequestFailed) as short:
                await cart.do(
                    "cart.pay",
                    payments=[{"method": "cash", "amount": "30.00"}],
                    idempotency_key="short",
                )
            assert short.value.code == "validation_error"
            assert cart.doc["status"] == "open"
    assert cart.doc["version"] == 2
