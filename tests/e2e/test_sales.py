"""Sales over HTTP: the seed's pilot scenario with Appendix A fields, idempotent retries,
the last unit sold once, credit limits, and what a shift's Z-report adds up to."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from protocol import channels
from tests import services
from tests.conftest import LiveHub
from tests.e2e.ws_support import api, drain_events, hub_client, tenant
from tests.helpers import TenantKit, build_tenant, create_product, receive, stock_of

D = Decimal
store = services.stores_with_clusters()


class Till:
    """A register with an open shift, run by the kit's cashier."""

    def __init__(self, client: httpx.AsyncClient, kit: TenantKit) -> None:
        self.client = client
        self.kit = kit
        self.shift = ""

    async def open(self, float_: str = "500.00") -> Till:
        register = await self.client.post(
            "/api/sales/cash-registers/",
            json={"name": f"Till {uuid.uuid4().hex[:6]}", "shop": self.kit.shop_id},
            headers=self.kit.token("manager"),
        )
        assert register.status_code == 201, register.text
        shift = await self.client.post(
            "/api/sales/sessions/",
            json={"cash_register": register.json()["id"], "opening_cash": float_},
            headers=self.kit.token("cashier"),
        )
        assert shift.json()["status"] == "open"
        self.shift = shift.json()["id"]
        return self

    async def sell(
        self, items: list[dict[str, Any]], payments: list[dict[str, Any]], key: str | None = None,
        **extra: Any,
    ) -> httpx.Response:  # fmt: skip
        headers = self.kit.token("cashier")
        if key is not None:
            headers = {**headers, "Idempotency-Key": key}
        return await self.client.post(
            "/api/sales/sales/",
            json={"session": self.shift, "items": items, "payments": payments, **extra},
            headers=headers,
        )


async def stocked(client: httpx.AsyncClient, kit: TenantKit, price: str, quantity: str) -> str:
    product = await create_product(client, kit, price=price, cost="1.00")
    await receive(client, kit, product["id"], quantity)
    return str(product["id"])


async def customer_in_vip(client: httpx.AsyncClient, kit: TenantKit, credit_limit: str) -> str:
    group = await client.post(
        "/api/customers/groups/",
        json={"name": f"VIP {uuid.uuid4().hex[:4]}", "discount_percent": "10"},
        headers=kit.token("owner"),
    )
    assert group.status_code == 201, group.text
    customer = await client.post(
        "/api/customers/customers/",
        json={
            "name": "Анна Петрова",
            "phone": f"+7916{uuid.uuid4().int % 10**7:07d}",
            "group": group.json()["id"],
            "credit_limit": credit_limit,
            "kind": "person",
        },
        headers=kit.token("owner"),
    )
    assert customer.status_code == 201, customer.text
    return str(customer.json()["id"])


async def test_pilot_scenario_sales_and_z_report(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    milk = await stocked(client, kit, "89.90", "20")
    bread = await stocked(client, kit, "45.00", "10")
    anna = await customer_in_vip(client, kit, credit_limit="1000.00")
    till = await Till(client, kit).open("500.00")

    cash = await till.sell(
        [{"product": milk, "quantity": "2"}, {"product": bread, "quantity": "1"}],
        [{"method": "cash", "amount": "300.00"}],
    )
    assert cash.status_code == 201, cash.text
    sale = cash.json()
    assert (sale["number"], sale["total"], sale["change"]) == (1, "224.80", "75.20")
    assert [i["total"] for i in sale["items"]] == ["179.80", "45.00"]

    card = await till.sell(
        [{"product": milk, "quantity": "1", "discount_percent": "50"}],
        [{"method": "card", "amount": "44.95"}],
    )
    assert card.status_code == 201, card.text
    assert (card.json()["number"], card.json()["total"]) == (2, "44.95")

    # The VIP group's 10 % applies by itself; part on credit, part in cash.
    credit = await till.sell(
        [{"product": bread, "quantity": "4"}],
        [{"method": "credit", "amount": "100.00"}, {"method": "cash", "amount": "100.00"}],
        customer=anna,
    )
    assert credit.status_code == 201, credit.text
    assert (credit.json()["total"], credit.json()["discount_total"]) == ("162.00", "18.00")
    assert credit.json()["change"] == "38.00"

    assert (await stock_of(client, kit, milk))["on_hand"] == "17.000"
    assert (await stock_of(client, kit, bread))["on_hand"] == "5.000"
    customer = await client.get(f"/api/customers/customers/{anna}/", headers=kit.token("owner"))
    assert customer.json()["debt"] == "100.00"

    closed = await client.post(
        f"/api/sales/sessions/{till.shift}/close/",
        json={"closing_cash": "786.80"},
        headers=kit.token("cashier"),
    )
    z = closed.json()
    assert (z["status"], z["receipts"], z["first_receipt"], z["last_receipt"]) == (
        "closed",
        3,
        1,
        3,
    )
    assert (z["sales_total"], z["discounts_total"]) == ("431.75", "62.95")
    assert z["payments"]["cash"]["net"] == "286.80"  # 224.80 + 62.00
    assert z["payments"]["card"]["net"] == "44.95"
    assert z["payments"]["credit"]["net"] == "100.00"
    assert (z["expected_cash"], z["difference"]) == ("786.80", "0.00")
    history = await client.get(
        "/api/sales/sales/", params={"session": till.shift}, headers=kit.token("manager")
    )
    assert [s["number"] for s in history.json()["results"]] == [3, 2, 1]

    # The pilot's last steps: a task for the staff, and the reports.
    task = await client.post(
        "/api/tasks/tasks/",
        json={
            "title": "Restock bread",
            "assignee": kit.members["stockkeeper"].id,
            "priority": "high",
            "due_at": "2030-01-01T10:00:00+03:00",
            "shop": kit.shop_id,
        },
        headers=kit.token("manager"),
    )
    assert task.status_code == 201, task.text
    today = datetime.now(UTC).date().isoformat()
    daily = await client.get(
        "/api/analytics/daily/",
        params={"shop": kit.shop_id, "date": today},
        headers=kit.token("owner"),
    )
    assert (daily.json()["receipts"], daily.json()["revenue"]) == (3, "431.75")
    assert daily.json()["payments"]["credit"]["net"] == "100.00"
    top = await client.get("/api/analytics/top-products/", headers=kit.token("owner"))
    assert {p["product"] for p in top.json()["results"]} == {milk, bread}
    rfm = await client.get("/api/analytics/rfm/", headers=kit.token("owner"))
    assert [c["customer"] for c in rfm.json()["results"]] == [anna]
    for fmt, media in (("xlsx", "spreadsheetml"), ("csv", "text/csv")):
        export = await client.get(
            "/api/analytics/daily/",
            params={"shop": kit.shop_id, "date": today, "format": fmt},
            headers=kit.token("owner"),
        )
        assert media in export.headers["content-type"]


async def test_a_retried_sale_is_one_sale(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    milk = await stocked(client, kit, "10.00", "100")
    till = await Till(client, kit).open()
    items = [{"product": milk, "quantity": "1"}]
    payments = [{"method": "card", "amount": "10.00"}]
    first = await till.sell(items, payments, key="till-1-sale-42")
    for _ in range(10):
        again = await till.sell(items, payments, key="till-1-sale-42")
        assert again.status_code == 201
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"
    # The same decimals written another way are the same sale.
    same = await till.sell(
        [{"product": milk, "quantity": "1.000"}],
        [{"method": "card", "amount": "10"}],
        key="till-1-sale-42",
    )
    assert (same.status_code, same.json()["id"]) == (201, first.json()["id"])
    assert (await stock_of(client, kit, milk))["on_hand"] == "99.000"
    other = await till.sell(items, [{"method": "cash", "amount": "20"}], key="till-1-sale-42")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    next_sale = await till.sell(items, payments, key="till-1-sale-43")
    assert next_sale.json()["number"] == 2
    longest = "k" * 100  # the longest key allowed is stored whole
    kept = await till.sell(items, payments, key=longest)
    assert kept.status_code == 201, kept.text
    assert (await till.sell(items, payments, key=longest)).json()["id"] == kept.json()["id"]
    assert (await till.sell(items, payments, key="k" * 101)).status_code == 400


async def test_refusals_leave_nothing_behind(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    milk = await stocked(client, kit, "600.00", "5")
    anna = await customer_in_vip(client, kit, credit_limit="500.00")
    till = await Till(client, kit).open()
    over_limit = await till.sell(
        [{"product": milk, "quantity": "1"}], [{"method": "credit", "amount": "540.00"}],
        customer=anna,
    )  # fmt: skip
    assert over_limit.status_code == 409
    assert over_limit.json()["error"]["code"] == "credit_limit_exceeded"
    no_customer = await till.sell(
        [{"product": milk, "quantity": "1"}], [{"method": "credit", "amount": "600.00"}]
    )
    assert no_customer.status_code == 400
    assert "customer" in no_customer.json()["error"]["fields"]
    too_many = await till.sell(
        [{"product": milk, "quantity": "6"}], [{"method": "card", "amount": "3600.00"}]
    )
    assert too_many.status_code == 409
    assert too_many.json()["error"]["code"] == "insufficient_stock"
    short = await till.sell(
        [{"product": milk, "quantity": "1"}], [{"method": "cash", "amount": "599.99"}]
    )
    assert short.status_code == 400
    unpaid = await till.sell([{"product": milk, "quantity": "1"}], [])
    assert unpaid.status_code == 400
    assert "payments" in unpaid.json()["error"]["fields"]
    off_a_line = await till.sell(
        [
            {"product": milk, "quantity": "1"},
            {"product": milk, "quantity": "1", "discount_amount": "600.01"},
        ],
        [{"method": "card", "amount": "600.00"}],
    )  # the line at fault, not the receipt's own discount_amount
    assert off_a_line.json()["error"]["fields"] == {"items.1.discount_amount": "at most 600.00"}
    assert (await stock_of(client, kit, milk))["on_hand"] == "5.000"
    customer = await client.get(f"/api/customers/customers/{anna}/", headers=kit.token("owner"))
    assert customer.json()["debt"] == "0.00"
    # No receipt number was spent on the refusals.
    ok = await till.sell(
        [{"product": milk, "quantity": "1"}], [{"method": "card", "amount": "600"}]
    )
    assert ok.json()["number"] == 1
    # Nothing left to pay after a whole-receipt discount: a sale with no payments.
    given = await till.sell([{"product": milk, "quantity": "1"}], [], discount_percent="100")
    assert given.status_code == 201, given.text
    assert (given.json()["total"], given.json()["payments"]) == ("0.00", [])
    assert (await stock_of(client, kit, milk))["on_hand"] == "3.000"


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_two_tills_race_for_the_last_unit(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    last = await stocked(client, kit, "99.00", "1")
    tills = [await Till(client, kit).open() for _ in range(2)]
    results = await asyncio.gather(
        *(
            t.sell([{"product": last, "quantity": "1"}], [{"method": "card", "amount": "99"}])
            for t in tills
        )
    )
    assert sorted(r.status_code for r in results) == [201, 409]
    assert (await stock_of(client, kit, last))["on_hand"] == "0.000"


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_fifty_concurrent_retries_make_one_sale(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    milk = await stocked(client, kit, "10.00", "100")
    till = await Till(client, kit).open()
    results = await asyncio.gather(
        *(
            till.sell(
                [{"product": milk, "quantity": "2"}],
                [{"method": "cash", "amount": "50"}],
                key="k-1",
            )
            for _ in range(50)
        )
    )
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["id"] for r in results}) == 1
    assert (await stock_of(client, kit, milk))["on_hand"] == "98.000"
    listed = await client.get(
        "/api/sales/sales/", params={"session": till.shift}, headers=kit.token("owner")
    )
    assert listed.json()["count"] == 1


async def test_a_manager_sees_each_sale_complete(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    channel = channels.sales(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    async with api(live_hub) as http:
        milk = await stocked(http, kit, "10.00", "10")
        till = await Till(http, kit).open()
        async with hub_client(live_hub, kit.members["manager"].token) as watcher:
            await watcher.subscribe(channel)
            sold = await till.sell(
                [{"product": milk, "quantity": "3"}], [{"method": "cash", "amount": "50"}]
            )
            events = await drain_events(watcher, 1)
    assert events[0]["type"] == "sale.completed"
    payload = events[0]["payload"]
    assert (payload["sale"], payload["number"], payload["total"]) == (sold.json()["id"], 1, "30.00")
    assert payload["payments"] == {"cash": "30.00"}
    assert D(sold.json()["change"]) == D("20.00")


async def test_sales_export(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    milk = await stocked(client, kit, "10.00", "10")
    till = await Till(client, kit).open()
    await till.sell(
        [{"product": milk, "quantity": "3"}],
        [{"method": "card", "amount": "10.00"}, {"method": "cash", "amount": "50.00"}],
    )
    response = await client.get(
        "/api/sales/sales/",
        params={"format": "csv", "session": till.shift},
        headers=kit.token("manager"),
    )
    assert response.status_code == 200
    header, row = response.content.decode("utf-8-sig").splitlines()
    columns = dict(zip(header.split(","), row.split(","), strict=True))
    assert (columns["number"], columns["total"], columns["change"]) == ("1", "30.00", "30.00")
    assert (columns["card"], columns["cash"], columns["credit"]) == ("10.00", "20.00", "0.00")


async def test_a_retry_after_the_shift_closed_still_finds_its_sale(
    client: httpx.AsyncClient,
) -> None:
    """A till whose reply was lost, and whose shift was closed since, can still learn
    what it sold; the first reply and the replay are the same document."""
    kit = await build_tenant(client)
    milk = await stocked(client, kit, "10.00", "10")
    till = await Till(client, kit).open()
    items = [{"product": milk, "quantity": "3"}]
    payments = [{"method": "cash", "amount": "30"}]
    first = await till.sell(items, payments, key="lost-reply")
    assert first.status_code == 201, first.text
    closed = await client.post(
        f"/api/sales/sessions/{till.shift}/close/",
        json={"closing_cash": "530.00"},
        headers=kit.token("cashier"),
    )
    assert closed.status_code == 200, closed.text
    again = await till.sell(items, payments, key="lost-reply")
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert first.json()["items"][0]["quantity"] == "3.000"
    fresh = await till.sell(items, payments, key="a-new-sale")
    assert fresh.status_code == 409
    assert fresh.json()["error"]["fields"] == {"session": "closed"}
