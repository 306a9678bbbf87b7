"""Stock over HTTP: goods in, levels, counts, write-offs, transfers, the ledger, and
`stock.changed` reaching a manager's websocket."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import httpx

from protocol import channels
from tests.conftest import LiveHub
from tests.e2e.ws_support import api, drain_events, hub_client, tenant
from tests.helpers import build_tenant, create_product, receive, stock_of


async def test_appendix_a_batch_and_stock(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    product = await create_product(client, kit, cost="4.00")
    before = await stock_of(client, kit, product["id"])
    assert (before["on_hand"], before["reserved"], before["available"]) == ("0.000",) * 3
    batch = await client.post(
        "/api/products/batches/",
        json={
            "product": product["id"],
            "shop": kit.shop_id,
            "quantity": "24",
            "cost": "3.5",
            "batch_number": "B-2026-11",
            "expiry_date": (date.today() + timedelta(days=90)).isoformat(),
        },
        headers=kit.token("stockkeeper"),
    )
    assert batch.status_code == 201, batch.text
    # As every read shows them, whatever the client typed.
    assert (batch.json()["quantity"], batch.json()["remaining"]) == ("24.000", "24.000")
    assert batch.json()["cost"] == "3.50"
    after = await stock_of(client, kit, product["id"])
    assert Decimal(after["on_hand"]) == 24
    assert Decimal(after["available"]) == 24
    assert Decimal(after["reserved"]) == 0
    # Without a cost the product's own is used.
    plain = await receive(client, kit, product["id"], "1", cost=None)
    assert plain["cost"] == "4.00"


async def test_count_write_off_and_ledger(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    product = await create_product(client, kit)
    await receive(client, kit, product["id"], "10")
    keeper = kit.token("stockkeeper")
    counted = await client.post(
        "/api/products/stock/adjustments/",
        json={"shop": kit.shop_id, "product": product["id"], "counted": "8", "reason": "count"},
        headers=keeper,
    )
    assert counted.status_code == 200, counted.text
    assert Decimal(counted.json()["on_hand"]) == 8
    surplus = await client.post(
        "/api/products/stock/adjustments/",
        json={"shop": kit.shop_id, "product": product["id"], "counted": "9", "reason": "found"},
        headers=keeper,
    )
    assert Decimal(surplus.json()["on_hand"]) == 9
    no_reason = await client.post(
        "/api/products/stock/write-offs/",
        json={"shop": kit.shop_id, "product": product["id"], "quantity": "1", "reason": ""},
        headers=keeper,
    )
    assert no_reason.status_code == 400
    too_many = await client.post(
        "/api/products/stock/write-offs/",
        json={"shop": kit.shop_id, "product": product["id"], "quantity": "10", "reason": "x"},
        headers=keeper,
    )
    assert too_many.status_code == 409
    assert too_many.json()["error"]["code"] == "insufficient_stock"
    broken = await client.post(
        "/api/products/stock/write-offs/",
        json={"shop": kit.shop_id, "product": product["id"], "quantity": "2", "reason": "broken"},
        headers=keeper,
    )
    assert Decimal(broken.json()["on_hand"]) == 7

    ledger = await client.get(
        "/api/products/stock/movements/",
        params={"product": product["id"]},
        headers=kit.token("manager"),
    )
    moves = ledger.json()["results"]
    assert [m["kind"] for m in moves] == ["write_off", "adjustment", "adjustment", "receipt"]
    assert [Decimal(m["quantity"]) for m in moves] == [-2, 1, -2, 10]
    assert sum(Decimal(m["quantity"]) for m in moves) == 7
    assert moves[0]["reason"] == "broken"
    assert moves[0]["user"] == kit.members["stockkeeper"].id
    only_counts = await client.get(
        "/api/products/stock/movements/",
        params={"product": product["id"], "kind": "adjustment"},
        headers=kit.token("manager"),
    )
    assert only_counts.json()["count"] == 2


async def test_transfer_between_shops_keeps_batches(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    product = await create_product(client, kit)
    expiry = (date.today() + timedelta(days=20)).isoformat()
    await receive(client, kit, product["id"], "5", batch_number="LOT-7", expiry_date=expiry)
    moved = await client.post(
        "/api/products/stock/transfers/",
        json={
            "from_shop": kit.shop_id,
            "to_shop": kit.second_shop_id,
            "items": [{"product": product["id"], "quantity": "3"}],
            "reason": "restock",
        },
        headers=kit.token("owner"),
    )
    assert moved.status_code == 201, moved.text
    kinds = sorted(m["kind"] for m in moved.json()["movements"])
    assert kinds == ["transfer_in", "transfer_out"]
    assert Decimal((await stock_of(client, kit, product["id"]))["on_hand"]) == 2
    there = await stock_of(client, kit, product["id"], kit.second_shop_id)
    assert Decimal(there["on_hand"]) == 3
    batches = await client.get(
        "/api/products/batches/",
        params={"shop": kit.second_shop_id, "product": product["id"]},
        headers=kit.token("owner"),
    )
    arrived = batches.json()["results"]
    assert [(b["batch_number"], b["expiry_date"], b["remaining"]) for b in arrived] == [
        ("LOT-7", expiry, "3.000")
    ]
    short = await client.post(
        "/api/products/stock/transfers/",
        json={
            "from_shop": kit.shop_id,
            "to_shop": kit.second_shop_id,
            "items": [{"product": product["id"], "quantity": "3"}],
        },
        headers=kit.token("owner"),
    )
    assert short.status_code == 409
    assert short.json()["error"]["code"] == "insufficient_stock"
    # A manager bound to the first shop only cannot move goods into a shop they don't see.
    hidden = await client.post(
        "/api/products/stock/transfers/",
        json={
            "from_shop": kit.shop_id,
            "to_shop": kit.second_shop_id,
            "items": [{"product": product["id"], "quantity": "1"}],
        },
        headers=kit.token("manager"),
    )
    assert hidden.status_code == 404


async def test_staff_see_only_their_shops_stock(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    product = await create_product(client, kit)
    await receive(client, kit, product["id"], "4", shop=kit.second_shop_id)
    hidden = await client.get(
        "/api/products/stock/",
        params={"shop": kit.second_shop_id, "product": product["id"]},
        headers=kit.token("cashier"),
    )
    assert hidden.status_code == 404
    listed = await client.get("/api/products/stock/", headers=kit.token("cashier"))
    assert listed.json()["count"] == 0
    owner_list = await client.get("/api/products/stock/", headers=kit.token("owner"))
    assert owner_list.json()["count"] == 1
    refused = await client.post(
        "/api/products/batches/",
        json={"product": product["id"], "shop": kit.second_shop_id, "quantity": "1"},
        headers=kit.token("stockkeeper"),
    )
    assert refused.status_code == 404


async def test_stock_export(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    product = await create_product(client, kit, name="Молоко 3,2%", sku="MILK")
    await receive(client, kit, product["id"], "6")
    csv = await client.get(
        "/api/products/stock/", params={"format": "csv"}, headers=kit.token("owner")
    )
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "shop,product,sku,name,on_hand,reserved,expired,available"
    assert lines[1].split(",")[2:] == [
        "MILK",
        '"Молоко 3',
        '2%"',
        "6.000",
        "0.000",
        "0.000",
        "6.000",
    ]


async def test_stock_changed_reaches_a_managers_connection(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    channel = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    async with api(live_hub) as http:
        product = await create_product(http, kit)
        async with hub_client(live_hub, kit.members["manager"].token) as watcher:
            await watcher.subscribe(channel)
            await receive(http, kit, product["id"], "3")
            await http.post(
                "/api/products/stock/write-offs/",
                json={
                    "shop": kit.shop_id,
                    "product": product["id"],
                    "quantity": "1",
                    "reason": "x",
                },
                headers=kit.token("owner"),
            )
            events = await drain_events(watcher, 2)
    assert [e["type"] for e in events] == ["stock.changed", "stock.changed"]
    assert [e["payload"]["kind"] for e in events] == ["receipt", "write_off"]
    assert [e["payload"]["on_hand"] for e in events] == ["3.000", "2.000"]
    assert events[0]["payload"]["product"] == product["id"]


async def test_a_page_of_levels_counts_each_ones_expired_goods(client: httpx.AsyncClient) -> None:
    """Expired quantities per (shop, product) on a page of levels (read in one query)."""
    kit = await build_tenant(client)
    milk, tea = await create_product(client, kit), await create_product(client, kit)
    gone = (date.today() - timedelta(days=2)).isoformat()
    fresh = (date.today() + timedelta(days=9)).isoformat()
    await receive(client, kit, milk["id"], "5", expiry_date=gone)
    await receive(client, kit, milk["id"], "4", expiry_date=fresh)
    await receive(client, kit, milk["id"], "2", shop=kit.second_shop_id, expiry_date=fresh)
    await receive(client, kit, tea["id"], "3", shop=kit.second_shop_id, expiry_date=gone)
    await receive(client, kit, tea["id"], "6")
    listed = await client.get(
        "/api/products/stock/", params={"page_size": "50"}, headers=kit.token("owner")
    )
    assert listed.status_code == 200, listed.text
    found = {
        (row["shop"], row["product"]): (row["on_hand"], row["expired"], row["available"])
        for row in listed.json()["results"]
    }
    assert found == {
        (kit.shop_id, milk["id"]): ("9.000", "5.000", "4.000"),
        (kit.second_shop_id, milk["id"]): ("2.000", "0.000", "2.000"),
        (kit.second_shop_id, tea["id"]): ("3.000", "3.000", "0.000"),
        (kit.shop_id, tea["id"]): ("6.000", "0.000", "6.000"),
    }
