"""Edge agents on the hub: announcing devices, an event stream applied exactly once and
in order (scans landing in a till's live cart, device statuses), and only agents may
speak as agents."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from protocol import channels
from protocol.client import HubClient, RequestFailed
from protocol.codec import MSGPACK
from tests.conftest import LiveHub
from tests.e2e.test_carts import Cart
from tests.e2e.test_sales import Till, stocked
from tests.e2e.ws_support import api, drain_events, hub_client, tenant
from tests.helpers import create_product, ean13, receive

EPOCH = "store-1"
PRINTER = {"name": "receipts", "kind": "printer", "model": "generic", "status": "online"}


def event(seq: int, type_: str, payload: dict[str, Any], id_: str | None = None) -> dict[str, Any]:
    return {"seq": seq, "id": id_ or f"e{seq}-{uuid.uuid4().hex[:8]}", "type": type_,
            "payload": payload}  # fmt: skip


async def announce(agent: HubClient, epoch: str = EPOCH) -> int:
    data = await agent.request(
        "agent.announce", {"version": "0.1.0", "epoch": epoch, "devices": [PRINTER]}
    )
    return int(data["acked"])


async def send(agent: HubClient, *events: dict[str, Any], epoch: str = EPOCH) -> int:
    data = await agent.request("agent.events", {"epoch": epoch, "events": list(events)})
    return int(data["acked"])


async def test_scans_land_in_the_tills_cart_exactly_once_and_in_order(
    live_hub: LiveHub,
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        codes = [ean13() for _ in range(2)]
        products = []
        for code in codes:
            made = await create_product(http, kit, price="10.00", barcodes=[code])
            await receive(http, kit, made["id"], "10")
            products.append(made["id"])
        till = await Till(http, kit).open()
        shift = await http.get(f"/api/sales/sessions/{till.shift}/", headers=kit.token("owner"))
        register = shift.json()["cash_register"]
        async with (
            hub_client(live_hub, kit.members["cashier"].token) as cashier,
            hub_client(live_hub, kit.device_token, codec=MSGPACK) as agent,
        ):
            cart = await Cart.open(cashier, till.shift)
            await cashier.subscribe(
                channels.cart(
                    uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id), uuid.UUID(cart.id)
                ).name
            )
            assert await announce(agent) == 0
            first = event(1, "scan", {"scanner": "s1", "register": register, "code": codes[0]})
            second = event(2, "scan", {"scanner": "s1", "register": register, "code": codes[1]})
            third = event(3, "scan", {"scanner": "s1", "register": register, "code": codes[0]})
            assert await send(agent, first, third) == 1  # 3 waits for 2
            assert await send(agent, first, second, third) == 3  # 1 again is skipped
            assert await send(agent, third) == 3
            renamed = {**third, "seq": 4}  # the same event id under a new number
            assert await send(agent, renamed) == 4
            assert await announce(agent) == 4  # a reconnect learns where the hub stands
            updates = await drain_events(cashier, 3)
        snapshot = await http.get(f"/api/sales/carts/{cart.id}/", headers=kit.token("cashier"))
    assert [len(u["payload"]["lines"]) for u in updates] == [1, 2, 2]
    lines = {x["product"]: x["quantity"] for x in snapshot.json()["lines"]}
    assert lines == {products[0]: "2.000", products[1]: "1.000"}
    assert snapshot.json()["version"] == 4


async def test_a_scan_the_shop_cannot_use_is_acknowledged_and_shown(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        milk = await stocked(http, kit, "10.00", "1")
        till = await Till(http, kit).open()
        shift = await http.get(f"/api/sales/sessions/{till.shift}/", headers=kit.token("owner"))
        register = shift.json()["cash_register"]
        async with (
            hub_client(live_hub, kit.members["cashier"].token) as cashier,
            hub_client(live_hub, kit.device_token, codec=MSGPACK) as agent,
        ):
            cart = await Cart.open(cashier, till.shift)
            await cart.do("cart.add", product=milk)
            await cashier.subscribe(
                channels.cart(
                    uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id), uuid.UUID(cart.id)
                ).name
            )
            await announce(agent)
            unknown = event(1, "scan", {"scanner": "s1", "register": register, "code": "0000000"})
            malformed = event(2, "scan", {"scanner": "s1", "register": "x"})
            assert await send(agent, unknown, malformed) == 2
            refusals = await drain_events(cashier, 1)
        snapshot = await http.get(f"/api/sales/carts/{cart.id}/", headers=kit.token("cashier"))
    assert refusals[0]["type"] == "cart.scan_refused"
    assert (refusals[0]["payload"]["barcode"], refusals[0]["payload"]["code"]) == (
        "0000000",
        "not_found",
    )
    assert snapshot.json()["version"] == 2  # nothing changed


async def test_device_status_reaches_the_shop_and_a_new_store_starts_over(
    live_hub: LiveHub,
) -> None:
    kit = await tenant(live_hub)
    shop_channel = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    async with (
        hub_client(live_hub, kit.members["manager"].token) as manager,
        hub_client(live_hub, kit.device_token, codec=MSGPACK) as agent,
    ):
        await manager.subscribe(shop_channel)
        await announce(agent)
        status = {"name": "receipts", "status": "paper_out", "detail": "no paper"}
        assert await send(agent, event(1, "device.status", status)) == 1
        events = await drain_events(manager, 2)
        # a reinstalled agent: a new store, a new epoch, numbering from 1 again
        assert await announce(agent, epoch="store-2") == 0
        assert await send(agent, event(1, "device.status", status), epoch="store-2") == 1
        with pytest.raises(RequestFailed) as stale:
            await send(agent, event(2, "device.status", status), epoch=EPOCH)
        assert stale.value.code == "conflict"
    assert [e["type"] for e in events] == ["agent.status", "device.status"]
    assert events[0]["payload"]["devices"][0]["name"] == "receipts"
    assert (events[1]["payload"]["name"], events[1]["payload"]["status"]) == (
        "receipts",
        "paper_out",
    )


async def test_only_agents_speak_as_agents(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with hub_client(live_hub, kit.members["owner"].token) as owner:
        for type_, payload in (
            ("agent.announce", {"version": "1", "epoch": EPOCH, "devices": []}),
            ("agent.events", {"epoch": EPOCH, "events": [event(1, "scan", {})]}),
            ("agent.jobs", {}),
        ):
            with pytest.raises(RequestFailed) as refused:
                await owner.request(type_, payload)
            assert refused.value.code == "permission_denied"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"epoch": "a b", "events": [event(1, "scan", {})]}, "epoch"),
        ({"epoch": EPOCH, "events": []}, "events"),
        ({"epoch": EPOCH, "events": [event(0, "scan", {})]}, "events.0.seq"),
        ({"epoch": EPOCH, "events": [event(1, "launch", {})]}, "events.0.type"),
        ({"epoch": EPOCH, "events": [{**event(1, "scan", {}), "id": "x" * 65}]}, "events.0.id"),
    ],
)
async def test_bad_event_batches_are_refused_by_field(
    live_hub: LiveHub, payload: dict[str, Any], field: str
) -> None:
    kit = await tenant(live_hub)
    async with hub_client(live_hub, kit.device_token, codec=MSGPACK) as agent:
        with pytest.raises(RequestFailed) as refused:
            await agent.request("agent.events", payload)
    assert refused.value.code == "validation_error"
    assert field in refused.value.fields
