"""Cash registers and shifts over HTTP: open with a float, cash in and out, X-report,
close with counted cash; one open shift per register, also under a race."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import httpx
import pytest

from protocol import channels
from tests.conftest import LiveHub
from tests.e2e.ws_support import api, drain_events, hub_client, tenant
from tests.helpers import TenantKit, build_tenant


async def new_register(client: httpx.AsyncClient, kit: TenantKit, name: str = "Till 1") -> str:
    response = await client.post(
        "/api/sales/cash-registers/",
        json={"name": name, "shop": kit.shop_id},
        headers=kit.token("manager"),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def open_shift(
    client: httpx.AsyncClient, kit: TenantKit, register: str, role: str = "cashier"
) -> dict[str, object]:
    response = await client.post(
        "/api/sales/sessions/",
        json={"cash_register": register, "opening_cash": "1000.00"},
        headers=kit.token(role),
    )
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


async def test_appendix_a_open_and_close(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    register = await new_register(client, kit)
    shift = await open_shift(client, kit, register)
    assert shift["status"] == "open"
    assert shift["report"] == "x"
    assert (shift["number"], shift["cashier"]) == (1, kit.members["cashier"].id)
    assert shift["expected_cash"] == "1000.00"
    path = f"/api/sales/sessions/{shift['id']}/"
    cashier = kit.token("cashier")
    moved_in = await client.post(
        path + "cash/", json={"kind": "in", "amount": "250.50", "reason": "change"}, headers=cashier
    )
    assert moved_in.status_code == 200, moved_in.text
    moved_out = await client.post(
        path + "cash/",
        json={"kind": "out", "amount": "500", "reason": "to the safe"},
        headers=cashier,
    )
    assert moved_out.json()["expected_cash"] == "750.50"
    too_much = await client.post(
        path + "cash/", json={"kind": "out", "amount": "750.51", "reason": "x"}, headers=cashier
    )
    assert too_much.status_code == 400
    assert "amount" in too_much.json()["error"]["fields"]
    x = await client.get(path + "x-report/", headers=cashier)
    assert (x.json()["report"], x.json()["cash_in"], x.json()["cash_out"]) == (
        "x",
        "250.50",
        "500.00",
    )
    assert x.json()["payments"]["cash"] == {
        "sales": "0.00",
        "refunds": "0.00",
        "net": "0.00",
        "count": 0,
    }

    closed = await client.post(path + "close/", json={"closing_cash": "745.00"}, headers=cashier)
    assert closed.status_code == 200, closed.text
    z = closed.json()
    assert (z["status"], z["report"]) == ("closed", "z")
    assert (z["expected_cash"], z["closing_cash"], z["difference"]) == ("750.50", "745.00", "-5.50")
    assert set(z["payments"]) == {"cash", "card", "credit", "bonus", "balance"}
    assert (z["receipts"], z["sales_total"], z["first_receipt"]) == (0, "0.00", None)
    # Closed is final: no cash moves, no second close; the register is free again.
    again = await client.post(path + "close/", json={"closing_cash": "1"}, headers=cashier)
    assert again.status_code == 409
    late = await client.post(
        path + "cash/", json={"kind": "in", "amount": "1", "reason": "x"}, headers=cashier
    )
    assert late.status_code == 409
    second = await open_shift(client, kit, register)
    assert second["number"] == 2
    listed = await client.get(
        "/api/sales/sessions/", params={"cash_register": register}, headers=kit.token("manager")
    )
    assert [s["number"] for s in listed.json()["results"]] == [2, 1]
    only_open = await client.get(
        "/api/sales/sessions/", params={"status": "open"}, headers=kit.token("manager")
    )
    assert [s["id"] for s in only_open.json()["results"]] == [second["id"]]


async def test_one_open_shift_per_register(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    register = await new_register(client, kit)
    await open_shift(client, kit, register)
    clash = await client.post(
        "/api/sales/sessions/",
        json={"cash_register": register, "opening_cash": "0"},
        headers=kit.token("manager"),
    )
    assert clash.status_code == 409
    assert "cash_register" in clash.json()["error"]["fields"]
    # Another register is free, and a disabled one cannot be opened.
    other = await new_register(client, kit, "Till 2")
    await open_shift(client, kit, other, role="manager")
    busy = await client.patch(
        f"/api/sales/cash-registers/{register}/",
        json={"is_active": False},
        headers=kit.token("owner"),
    )
    assert busy.status_code == 409


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_two_tills_opening_one_register_at_once(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    register = await new_register(client, kit)

    async def attempt(role: str) -> int:
        response = await client.post(
            "/api/sales/sessions/",
            json={"cash_register": register, "opening_cash": "10"},
            headers=kit.token(role),
        )
        return response.status_code

    outcomes = await asyncio.gather(*(attempt(r) for r in ["cashier", "manager", "owner"] * 3))
    assert sorted(outcomes) == [201] + [409] * 8


async def test_whose_shift_it_is(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    register = await new_register(client, kit)
    shift = await open_shift(client, kit, register, role="manager")
    path = f"/api/sales/sessions/{shift['id']}/"
    # A cashier may not close, move cash in or even read a manager's (another person's)
    # shift: seeing every shift is `shifts.manage`...
    for method, suffix, body in (
        ("POST", "close/", {"closing_cash": "0"}),
        ("POST", "cash/", {"kind": "in", "amount": "1", "reason": "x"}),
        ("GET", "x-report/", None),
        ("GET", "", None),
        ("GET", "cash/", None),
    ):
        response = await client.request(
            method, path + suffix, json=body, headers=kit.token("cashier")
        )
        assert response.status_code == 403, (suffix, response.text)
    # ...a manager may close a cashier's, and a stockkeeper runs no shifts at all.
    mine = await open_shift(client, kit, await new_register(client, kit, "Till 2"))
    closed = await client.post(
        f"/api/sales/sessions/{mine['id']}/close/",
        json={"closing_cash": "1000"},
        headers=kit.token("manager"),
    )
    assert closed.json()["difference"] == "0.00"
    # The list: a cashier's own shifts; managers every shift of their shops.
    for role, params, expected in (
        ("cashier", {}, [mine["id"]]),
        ("cashier", {"cashier": kit.members["manager"].id}, []),
        ("cashier", {"cash_register": register}, []),
        ("manager", {}, [shift["id"], mine["id"]]),
    ):
        for table in ({}, {"format": "csv"}):
            listed = await client.get(
                "/api/sales/sessions/", params=params | table, headers=kit.token(role)
            )
            assert listed.status_code == 200, listed.text
            if table:
                assert listed.text.count("\n") - 1 == len(expected), (role, params, listed.text)
            else:
                found = sorted(s["id"] for s in listed.json()["results"])
                assert found == sorted(expected), (role, params)
    refused = await client.post(
        "/api/sales/sessions/",
        json={"cash_register": register, "opening_cash": "0"},
        headers=kit.token("stockkeeper"),
    )
    assert refused.status_code == 403


async def test_registers_of_other_shops_are_hidden(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    elsewhere = await client.post(
        "/api/sales/cash-registers/",
        json={"name": "Far till", "shop": kit.second_shop_id},
        headers=kit.token("owner"),
    )
    assert elsewhere.status_code == 201
    far = elsewhere.json()["id"]
    for role in ("cashier", "manager"):
        seen = await client.get(f"/api/sales/cash-registers/{far}/", headers=kit.token(role))
        assert seen.status_code == 404
        opened = await client.post(
            "/api/sales/sessions/",
            json={"cash_register": far, "opening_cash": "0"},
            headers=kit.token(role),
        )
        assert opened.status_code == 404
    made = await client.post(
        "/api/sales/cash-registers/",
        json={"name": "Sneaky", "shop": kit.second_shop_id},
        headers=kit.token("manager"),
    )
    assert made.status_code == 404
    twin = await client.post(
        "/api/sales/cash-registers/",
        json={"name": "Far till", "shop": kit.second_shop_id},
        headers=kit.token("owner"),
    )
    assert twin.status_code == 409


async def test_a_manager_watches_shifts_open_and_close(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    channel = channels.sales(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    async with api(live_hub) as http:
        register = await new_register(http, kit)
        async with hub_client(live_hub, kit.members["manager"].token) as watcher:
            await watcher.subscribe(channel)
            shift = await open_shift(http, kit, register)
            await http.post(
                f"/api/sales/sessions/{shift['id']}/close/",
                json={"closing_cash": "990"},
                headers=kit.token("cashier"),
            )
            events = await drain_events(watcher, 2)
    assert [e["type"] for e in events] == ["shift.opened", "shift.closed"]
    assert events[0]["payload"]["opening_cash"] == "1000.00"
    assert Decimal(events[1]["payload"]["difference"]) == Decimal("-10.00")
