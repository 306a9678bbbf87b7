"""Receipt jobs for the shop's edge agent, over HTTP and the websocket: a sale enqueues
one job with the whole receipt, a replayed sale none; agents see their own shop's queue
only; done / failed / retry; `job.created` reaches the agents and `job.updated` the shop."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.expiry import Expiry
from hub.services import device_jobs
from protocol import channels
from tests.conftest import LiveHub
from tests.e2e.ws_support import api, drain_events, hub_client, no_more_events, tenant, wait_for
from tests.helpers import (
    TenantKit,
    bearer,
    build_tenant,
    create_product,
    receive,
    unique,
)

D = Decimal
JOBS = "/api/devices/jobs/"
FISCAL = {
    "document_number": 1234,
    "fiscal_sign": "3522140181",
    "registered_at": "2026-03-02T12:30:00+03:00",
    "shift_number": 7,
    "receipt_number": 12,
}


async def open_shift(client: httpx.AsyncClient, kit: TenantKit, shop: str | None = None) -> str:
    register = await client.post(
        "/api/sales/cash-registers/",
        json={"name": unique("Till"), "shop": shop or kit.shop_id},
        headers=kit.token("manager"),
    )
    assert register.status_code == 201, register.text
    shift = await client.post(
        "/api/sales/sessions/",
        json={"cash_register": register.json()["id"], "opening_cash": "100.00"},
        headers=kit.token("cashier"),
    )
    assert shift.status_code == 201, shift.text
    return str(shift.json()["id"])


async def sell(
    client: httpx.AsyncClient,
    kit: TenantKit,
    shift: str,
    *,
    shop: str | None = None,
    key: str | None = None,
    price: str = "10.00",
    **extra: Any,
) -> dict[str, Any]:
    product = await create_product(client, kit, price=price)
    await receive(client, kit, product["id"], "5", shop=shop)
    headers = kit.token("cashier") | ({"Idempotency-Key": key} if key else {})
    sale = await client.post(
        "/api/sales/sales/",
        json={
            "session": shift,
            "items": [{"product": product["id"], "quantity": "1"}],
            "payments": [{"method": "card", "amount": price}],
            **extra,
        },
        headers=headers,
    )
    assert sale.status_code == 201, sale.text
    result: dict[str, Any] = sale.json()
    return result


async def jobs_of(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str
) -> list[dict[str, Any]]:
    listed = await client.get(JOBS, params={"page_size": "200", **params}, headers=headers)
    assert listed.status_code == 200, listed.text
    results: list[dict[str, Any]] = listed.json()["results"]
    assert listed.json()["count"] == len(results)
    return results


async def job_of(client: httpx.AsyncClient, kit: TenantKit, sale_id: str) -> dict[str, Any]:
    (job,) = await jobs_of(client, bearer(kit.device_token), ref=sale_id)
    return job


async def next_job_event(client: Any, wait: float = 5.0) -> dict[str, Any]:
    """The next `job.*` event, skipping others on the channel (the sale's stock.changed)."""
    async with asyncio.timeout(wait):
        while True:
            event: dict[str, Any] = await client.events.get()
            if str(event.get("type", "")).startswith("job."):
                return event


async def no_more_job_events(client: Any, wait: float = 0.3) -> None:
    await asyncio.sleep(wait)
    while not client.events.empty():
        event = client.events.get_nowait()
        assert not str(event.get("type", "")).startswith("job."), event


async def second_device(client: httpx.AsyncClient, kit: TenantKit, shop: str) -> dict[str, Any]:
    made = await client.post(
        "/api/users/device-tokens/",
        json={"name": unique("agent"), "shop": shop},
        headers=kit.token("owner"),
    )
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()
    return result


async def test_a_sale_enqueues_one_job_with_the_whole_receipt(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    owner = kit.token("owner")
    renamed = await client.patch(
        f"/api/core/shops/{kit.shop_id}/",
        json={"address": "1 High St", "timezone": "Europe/Moscow"},
        headers=owner,
    )
    assert renamed.status_code == 200, renamed.text
    milk = await create_product(client, kit, price="89.90", vat_rate="10", unit="piece")
    cheese = await create_product(client, kit, price="450.00", vat_rate="20", unit="kg")
    tea = await create_product(client, kit, price="12.50")  # no VAT rate
    for product in (milk, cheese, tea):
        await receive(client, kit, product["id"], "10")
    customer = await client.post(
        "/api/customers/customers/",
        json={"name": "Анна Петрова", "phone": "+79161234567", "email": "anna@example.com"},
        headers=owner,
    )
    assert customer.status_code == 201, customer.text
    shift = await open_shift(client, kit)
    sale = await client.post(
        "/api/sales/sales/",
        json={
            "session": shift,
            "items": [
                {"product": milk["id"], "quantity": "2", "discount_percent": "10"},
                {"product": cheese["id"], "quantity": "0.350"},
                {"product": tea["id"], "quantity": "1"},
            ],
            "payments": [
                {"method": "card", "amount": "100.00"},
                {"method": "cash", "amount": "300.00"},
            ],
            "customer": customer.json()["id"],
            "discount_amount": "5.00",
        },
        headers=kit.token("cashier"),
    )
    assert sale.status_code == 201, sale.text
    sold = sale.json()

    jobs = await jobs_of(client, bearer(kit.device_token), status="pending")
    assert len(jobs) == 1
    job = jobs[0]
    assert (job["kind"], job["ref"], job["shop"]) == ("receipt", sold["id"], kit.shop_id)
    assert (job["status"], job["attempts"], job["device"], job["result"]) == (
        "pending", 0, None, None
    )  # fmt: skip
    receipt = job["payload"]
    assert receipt["version"] == 1
    assert (receipt["sale"], receipt["number"], receipt["business"]) == (
        sold["id"], 1, "Test Traders"
    )  # fmt: skip
    assert receipt["shop"] == {"id": kit.shop_id, "name": "Main Street", "address": "1 High St"}
    assert receipt["register"]["id"] == sold["cash_register"]
    assert receipt["register"]["name"].startswith("Till_")
    assert receipt["shift"] == {"id": shift, "number": 1}
    assert receipt["cashier"] == {
        "id": kit.members["cashier"].id,
        "name": kit.members["cashier"].username,
    }
    # The shop's local time, with its offset.
    created = datetime.fromisoformat(receipt["created_at"])
    assert receipt["timezone"] == "Europe/Moscow"
    assert created.utcoffset() == timedelta(hours=3)
    assert created == datetime.fromisoformat(sold["created_at"])

    lines = receipt["lines"]
    assert [(x["name"], x["quantity"], x["unit"], x["price"]) for x in lines] == [
        (milk["name"], "2.000", "piece", "89.90"),
        (cheese["name"], "0.350", "kg", "450.00"),
        (tea["name"], "1.000", "piece", "12.50"),
    ]
    # Each line: amount - its own discount - its share of the receipt's = total.
    for line, out in zip(lines, sold["items"], strict=True):
        assert line["total"] == out["total"]
        assert D(line["amount"]) - D(line["line_discount"]) - D(line["receipt_discount"]) == D(
            line["total"]
        )
        assert D(line["discount"]) == D(line["line_discount"]) + D(line["receipt_discount"])
    assert lines[0]["line_discount"] == "17.98"  # 10 % of 179.80
    assert sum(D(x["receipt_discount"]) for x in lines) == D("5.00")
    # VAT included in the price: total x rate / (100 + rate), per line and per rate.
    assert [x["vat_rate"] for x in lines] == ["10.00", "20.00", None]
    milk_vat = (D(lines[0]["total"]) * 10 / 110).quantize(D("0.01"))
    cheese_vat = (D(lines[1]["total"]) * 20 / 120).quantize(D("0.01"))
    assert [x["vat_amount"] for x in lines] == [str(milk_vat), str(cheese_vat), None]
    totals = receipt["totals"]
    assert totals["vat"] == [
        {"rate": "10.00", "amount": str(milk_vat)},
        {"rate": "20.00", "amount": str(cheese_vat)},
    ]
    assert (totals["subtotal"], totals["discount_total"], totals["total"]) == (
        sold["subtotal"], sold["discount_total"], sold["total"]
    )  # fmt: skip
    assert (totals["receipt_discount"], totals["receipt_discount_percent"]) == ("5.00", None)
    total = D(sold["total"])
    assert receipt["payments"] == {"card": "100.00", "cash": str(total - D("100.00"))}
    assert receipt["tendered_cash"] == "300.00"
    assert D(receipt["change"]) == D("400.00") - total == D(sold["change"])
    assert receipt["customer"]["name"] == "Анна Петрова"
    assert (receipt["customer"]["phone"], receipt["customer"]["email"]) == (
        "+79161234567", "anna@example.com"
    )  # fmt: skip

    # A sale without a customer says so.
    other = await sell(client, kit, shift)
    assert (await job_of(client, kit, other["id"]))["payload"]["customer"] is None
    assert len(await jobs_of(client, bearer(kit.device_token))) == 2


async def test_a_replayed_sale_enqueues_nothing(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    shift = await open_shift(client, kit)
    product = await create_product(client, kit, price="10.00")
    await receive(client, kit, product["id"], "5")
    body = {
        "session": shift,
        "items": [{"product": product["id"], "quantity": "1"}],
        "payments": [{"method": "card", "amount": "10.00"}],
    }
    headers = kit.token("cashier") | {"Idempotency-Key": "till-1/receipt-1"}
    first = await client.post("/api/sales/sales/", json=body, headers=headers)
    again = await client.post("/api/sales/sales/", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    jobs = await jobs_of(client, kit.token("manager"))
    assert [j["ref"] for j in jobs] == [first.json()["id"]]
    # A refused sale writes no job either.
    refused = await client.post(
        "/api/sales/sales/",
        json={
            **body,
            "items": [{"product": product["id"], "quantity": "50"}],
            "payments": [{"method": "card", "amount": "500.00"}],
        },
        headers=kit.token("cashier"),
    )
    assert refused.status_code == 409, refused.text
    assert len(await jobs_of(client, kit.token("manager"))) == 1


async def test_agents_see_only_their_own_shops_jobs(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client, both_shops=True)
    other_tenant = await build_tenant(client)
    mine = await sell(client, kit, await open_shift(client, kit))
    second_shift = await open_shift(client, kit, kit.second_shop_id)
    theirs = await sell(client, kit, second_shift, shop=kit.second_shop_id)
    elsewhere = await sell(client, other_tenant, await open_shift(client, other_tenant))
    agent2 = await second_device(client, kit, kit.second_shop_id)

    first_agent = await jobs_of(client, bearer(kit.device_token), status="pending")
    assert [j["ref"] for j in first_agent] == [mine["id"]]
    second_agent = await jobs_of(client, bearer(agent2["token"]), status="pending")
    assert [j["ref"] for j in second_agent] == [theirs["id"]]
    # An agent's shop filter cannot widen its view: another shop is no shop to it.
    widened = await client.get(
        JOBS, params={"shop": kit.second_shop_id}, headers=bearer(kit.device_token)
    )
    assert widened.status_code == 404, widened.text
    assert widened.json()["error"]["fields"] == {"shop": "no such shop"}
    foreign = await jobs_of(client, bearer(other_tenant.device_token))
    assert [j["ref"] for j in foreign] == [elsewhere["id"]]

    # Managers (here of both shops) and owners read every queue they can see, oldest first.
    for role in ("manager", "owner"):
        listed = await jobs_of(client, kit.token(role))
        assert [j["ref"] for j in listed] == [mine["id"], theirs["id"]], role
        one_shop = await jobs_of(client, kit.token(role), shop=kit.second_shop_id)
        assert [j["ref"] for j in one_shop] == [theirs["id"]], role
    for role in ("cashier", "stockkeeper"):
        refused = await client.get(JOBS, headers=kit.token(role))
        assert refused.status_code == 403, role
        assert refused.json()["error"]["code"] == "permission_denied"

    # Another shop's or tenant's job is not there for an agent.
    their_job = second_agent[0]["id"]
    for token, job_id in (
        (kit.device_token, their_job),
        (other_tenant.device_token, first_agent[0]["id"]),
    ):
        for outcome, body in (("done", {}), ("failed", {"error": "x"})):
            response = await client.post(
                f"{JOBS}{job_id}/{outcome}/", json=body, headers=bearer(token)
            )
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "not_found"
    assert (await job_of(client, kit, mine["id"]))["status"] == "pending"

    # A manager of one shop only does not see the other's queue.
    single = await client.post(
        "/api/users/users/",
        json={
            "username": unique("mgr"),
            "password": "correct-horse-9",
            "role": "manager",
            "shops": [kit.shop_id],
        },
        headers=kit.token("owner"),
    )
    assert single.status_code == 201, single.text
    login = await client.post(
        "/api/users/auth/login/",
        json={"username": single.json()["username"], "password": "correct-horse-9"},
    )
    manager = bearer(login.json()["access"])
    assert [j["ref"] for j in await jobs_of(client, manager)] == [mine["id"]]
    hidden = await client.post(f"{JOBS}{their_job}/retry/", headers=manager)
    assert hidden.status_code == 404


async def test_done_failed_and_retry(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    shift = await open_shift(client, kit)
    agent = bearer(kit.device_token)
    printed = await job_of(client, kit, (await sell(client, kit, shift))["id"])
    jammed = await job_of(client, kit, (await sell(client, kit, shift))["id"])

    done = await client.post(f"{JOBS}{printed['id']}/done/", json={"fiscal": FISCAL}, headers=agent)
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["attempts"], body["device"]) == ("done", 1, kit.device_id)
    assert body["result"] == {"fiscal": FISCAL}
    assert body["done_at"] is not None
    # The agent's outbox replays the report: nothing changes.
    repeat = await client.post(
        f"{JOBS}{printed['id']}/done/", json={"fiscal": FISCAL}, headers=agent
    )
    assert repeat.status_code == 200, repeat.text
    assert repeat.json() == body
    # Anything else on a done job contradicts it.
    for outcome, report in (
        ("done", {"fiscal": {**FISCAL, "document_number": 1235}}),
        ("failed", {"error": "paper out"}),
    ):
        path = f"{JOBS}{printed['id']}/{outcome}/"
        response = await client.post(path, json=report, headers=agent)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "job_finished"
    retried_done = await client.post(f"{JOBS}{printed['id']}/retry/", headers=kit.token("manager"))
    assert retried_done.status_code == 409
    assert retried_done.json()["error"]["code"] == "job_finished"

    failed = await client.post(
        f"{JOBS}{jammed['id']}/failed/", json={"error": "paper out", "code": "paper_out"},
        headers=agent,
    )  # fmt: skip
    assert failed.status_code == 200, failed.text
    assert (failed.json()["status"], failed.json()["attempts"]) == ("failed", 1)
    assert failed.json()["result"] == {"error": "paper out", "code": "paper_out"}
    assert failed.json()["done_at"] is None
    again = await client.post(
        f"{JOBS}{jammed['id']}/failed/", json={"error": "paper out", "code": "paper_out"},
        headers=agent,
    )  # fmt: skip
    assert again.json() == failed.json()
    late = await client.post(f"{JOBS}{jammed['id']}/done/", json={}, headers=agent)
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "job_finished"
    assert await jobs_of(client, agent, status="pending") == []
    assert [j["id"] for j in await jobs_of(client, agent, status="failed")] == [jammed["id"]]

    # Only managers and owners retry; staff and agents do not report.
    for headers in (agent, kit.token("cashier"), kit.token("stockkeeper")):
        refused = await client.post(f"{JOBS}{jammed['id']}/retry/", headers=headers)
        assert refused.status_code == 403, refused.text
    for role in ("owner", "manager", "cashier"):
        refused = await client.post(f"{JOBS}{jammed['id']}/done/", json={}, headers=kit.token(role))
        assert refused.status_code == 403, refused.text

    retried = await client.post(f"{JOBS}{jammed['id']}/retry/", headers=kit.token("manager"))
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 1)
    # Back to the agent that failed it: only its register knows what it registered.
    assert (retried.json()["result"], retried.json()["device"]) == (None, kit.device_id)
    twice = await client.post(f"{JOBS}{jammed['id']}/retry/", headers=kit.token("owner"))
    assert twice.json() == retried.json()  # already queued: unchanged
    assert [j["id"] for j in await jobs_of(client, agent, status="pending")] == [jammed["id"]]
    finally_done = await client.post(f"{JOBS}{jammed['id']}/done/", json={}, headers=agent)
    assert finally_done.status_code == 200, finally_done.text
    assert (finally_done.json()["status"], finally_done.json()["attempts"]) == ("done", 2)
    assert finally_done.json()["result"] == {}

    # Reports are validated.
    for report, field in (
        ({}, "error"),
        ({"error": ""}, "error"),
        ({"error": "x", "code": "Not A Code"}, "code"),
    ):
        response = await client.post(f"{JOBS}{printed['id']}/failed/", json=report, headers=agent)
        assert response.status_code == 400, response.text
        assert field in response.json()["error"]["fields"]
    naive = {**FISCAL, "registered_at": "2026-03-02T12:30:00"}
    response = await client.post(
        f"{JOBS}{printed['id']}/done/", json={"fiscal": naive}, headers=agent
    )
    assert response.status_code == 400
    assert "fiscal.registered_at" in response.json()["error"]["fields"]


async def test_job_created_goes_to_every_active_agent_of_the_shop(
    client: httpx.AsyncClient,
) -> None:
    kit = await build_tenant(client)
    spare = await second_device(client, kit, kit.shop_id)
    revoked = await second_device(client, kit, kit.shop_id)
    gone = await client.delete(
        f"/api/users/device-tokens/{revoked['id']}/", headers=kit.token("owner")
    )
    assert gone.status_code == 204
    await second_device(client, kit, kit.second_shop_id)
    shift = await open_shift(client, kit)
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    relay = db.after_commit
    published: list[tuple[str, str, Any]] = []

    async def spy(tenant_id: uuid.UUID, events: list[Any]) -> None:
        published.extend((e.channel, e.type, e.payload) for e in events)
        await relay(tenant_id, events)

    db.after_commit = spy
    try:
        sold = await sell(client, kit, shift)
    finally:
        db.after_commit = relay
    t = uuid.UUID(kit.tenant_id)
    created = [(c, p) for c, kind, p in published if kind == "job.created"]
    assert sorted(c for c, _ in created) == sorted(
        channels.device(t, uuid.UUID(d)).name for d in (kit.device_id, spare["id"])
    )
    job = await job_of(client, kit, sold["id"])
    for _, payload in created:
        assert set(payload) == {"id", "kind", "payload", "attempts", "device", "created_at"}
        assert payload["device"] is None  # no agent announced devices: every agent's
        assert (payload["id"], payload["payload"]) == (job["id"], job["payload"])
    # The sale's own event still goes out, once.
    assert [k for _, k, _ in published].count("sale.completed") == 1


async def test_each_tills_jobs_go_to_the_one_agent_serving_it(live_hub: LiveHub) -> None:
    """Two agents in one shop: one drives till 1's printer and register, the other the
    shop's unbound ones. Each receipt goes to exactly one of them, so none is printed
    or fiscalised twice; the other never hears of it, cannot list it, cannot report it."""
    kit = await tenant(live_hub)
    t = uuid.UUID(kit.tenant_id)
    async with api(live_hub) as http:
        shifts = [await open_shift(http, kit) for _ in range(2)]
        tills = [
            (await http.get(f"/api/sales/sessions/{s}/", headers=kit.token("owner"))).json()[
                "cash_register"
            ]
            for s in shifts
        ]
        spare = await second_device(http, kit, kit.shop_id)
        async with (
            hub_client(live_hub, kit.device_token) as bound,
            hub_client(live_hub, spare["token"]) as unbound,
        ):
            for agent, devices in (
                (bound, [{"kind": "printer", "cash_register": tills[0]}, {"kind": "fiscal",
                          "cash_register": tills[0]}]),
                (unbound, [{"kind": "printer"}, {"kind": "fiscal"}]),
            ):  # fmt: skip
                announced = [{"name": d["kind"], "status": "online", **d} for d in devices]
                await agent.request(
                    "agent.announce", {"version": "1", "epoch": "e1", "devices": announced}
                )
            first = await sell(http, kit, shifts[0])
            second = await sell(http, kit, shifts[1])
            (heard_bound,) = await drain_events(bound, 1)
            (heard_unbound,) = await drain_events(unbound, 1)
            await asyncio.gather(no_more_events(bound), no_more_events(unbound))
        assert heard_bound["channel"] == channels.device(t, uuid.UUID(kit.device_id)).name
        assert heard_bound["payload"]["payload"]["sale"] == first["id"]
        assert heard_unbound["payload"]["payload"]["sale"] == second["id"]
        mine = await jobs_of(http, bearer(kit.device_token), status="pending")
        theirs = await jobs_of(http, bearer(spare["token"]), status="pending")
        assert [j["ref"] for j in mine] == [first["id"]]
        assert [j["ref"] for j in theirs] == [second["id"]]
        assert mine[0]["device"] == kit.device_id  # a manager sees whose it is
        # The other agent may not report it; its own agent may.
        wrong = await http.post(
            f"{JOBS}{mine[0]['id']}/done/", json={"fiscal": FISCAL}, headers=bearer(spare["token"])
        )
        assert wrong.status_code == 403, wrong.text
        right = await http.post(
            f"{JOBS}{mine[0]['id']}/done/",
            json={"fiscal": FISCAL},
            headers=bearer(kit.device_token),
        )
        assert right.status_code == 200, right.text


async def test_a_revoked_agents_jobs_go_to_another(live_hub: LiveHub) -> None:
    """Two agents that could both take the shop's receipts: each job is one agent's; when
    its token is revoked, its pending jobs go to the other, which hears of them."""
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        shift = await open_shift(http, kit)
        spare = await second_device(http, kit, kit.shop_id)
        tokens = {kit.device_id: kit.device_token, spare["id"]: spare["token"]}
        async with (
            hub_client(live_hub, kit.device_token) as first,
            hub_client(live_hub, spare["token"]) as second,
        ):
            printer = [{"name": "p", "kind": "printer", "status": "online"}]
            for agent in (first, second):
                await agent.request(
                    "agent.announce", {"version": "1", "epoch": "e1", "devices": printer}
                )
            sold = await sell(http, kit, shift)
            (job,) = await jobs_of(http, kit.token("manager"), ref=sold["id"])
            given = job["device"]
            assert given == min(tokens, key=str)  # of two that could, the first by id
            other = ({kit.device_id, spare["id"]} - {given}).pop()
            listener = first if other == kit.device_id else second
            await no_more_events(listener)  # the job was not theirs
            gone = await http.delete(
                f"/api/users/device-tokens/{given}/", headers=kit.token("owner")
            )
            assert gone.status_code == 204, gone.text
            (heard,) = await drain_events(listener, 1)
        assert (heard["type"], heard["payload"]["id"]) == ("job.created", job["id"])
        (moved,) = await jobs_of(http, kit.token("manager"), ref=sold["id"])
        assert (moved["device"], moved["status"]) == (other, "pending")
        theirs = await jobs_of(http, bearer(tokens[other]), status="pending")
        assert [j["id"] for j in theirs] == [job["id"]]


async def test_agents_hear_of_jobs_and_managers_of_outcomes(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    t = uuid.UUID(kit.tenant_id)
    async with api(live_hub) as http:
        shift = await open_shift(http, kit)
        spare = await second_device(http, kit, kit.shop_id)
        elsewhere = await second_device(http, kit, kit.second_shop_id)
        async with (
            hub_client(live_hub, kit.device_token) as agent,
            hub_client(live_hub, spare["token"]) as spare_agent,
            hub_client(live_hub, elsewhere["token"]) as other_shop_agent,
            hub_client(live_hub, kit.members["manager"].token) as manager,
        ):
            for client, device_id in (
                (agent, kit.device_id),
                (spare_agent, spare["id"]),
                (other_shop_agent, elsewhere["id"]),
            ):
                own = channels.device(t, uuid.UUID(device_id)).name
                await wait_for(lambda c=client, o=own: o in c.positions)  # type: ignore[misc]
            await manager.subscribe(channels.shop(t, uuid.UUID(kit.shop_id)).name)

            sold = await sell(http, kit, shift)
            (created,) = await drain_events(agent, 1)
            (spare_created,) = await drain_events(spare_agent, 1)
            assert created["type"] == spare_created["type"] == "job.created"
            assert created["channel"] == channels.device(t, uuid.UUID(kit.device_id)).name
            job = created["payload"]
            assert spare_created["payload"] == job
            assert (job["kind"], job["attempts"]) == ("receipt", 0)
            assert (job["payload"]["sale"], job["payload"]["number"]) == (sold["id"], 1)
            listed = await job_of(http, kit, sold["id"])
            assert (job["id"], job["payload"]) == (listed["id"], listed["payload"])
            assert datetime.fromisoformat(job["created_at"]) == datetime.fromisoformat(
                listed["created_at"]
            )
            await no_more_events(other_shop_agent)

            failed = await http.post(
                f"{JOBS}{job['id']}/failed/",
                json={"error": "cover open", "code": "cover_open"},
                headers=bearer(kit.device_token),
            )
            assert failed.status_code == 200, failed.text
            updated = await next_job_event(manager)
            assert updated["type"] == "job.updated"
            assert updated["payload"]["id"] == job["id"]
            assert updated["payload"]["ref"] == sold["id"]
            assert updated["payload"]["status"] == "failed"
            assert updated["payload"]["result"] == {"error": "cover open", "code": "cover_open"}
            assert updated["payload"]["device"] == kit.device_id
            assert "payload" not in updated["payload"]

            # The retry goes back to the agent that failed it, and to no other: only its
            # register can say whether it registered the receipt after all.
            retried = await http.post(f"{JOBS}{job['id']}/retry/", headers=kit.token("manager"))
            assert retried.status_code == 200, retried.text
            (again,) = await drain_events(agent, 1)
            assert again["type"] == "job.created"
            assert (again["payload"]["id"], again["payload"]["attempts"]) == (job["id"], 1)
            assert again["payload"]["device"] == kit.device_id
            assert again["payload"]["payload"] == job["payload"]
            pending = await next_job_event(manager)
            assert (pending["payload"]["status"], pending["payload"]["attempts"]) == (
                "pending", 1
            )  # fmt: skip
            stolen = await http.post(
                f"{JOBS}{job['id']}/done/", json={"fiscal": FISCAL}, headers=bearer(spare["token"])
            )
            assert stolen.status_code == 403, stolen.text

            done = await http.post(
                f"{JOBS}{job['id']}/done/",
                json={"fiscal": FISCAL},
                headers=bearer(kit.device_token),
            )
            assert done.status_code == 200, done.text
            finished = await next_job_event(manager)
            assert finished["payload"]["status"] == "done"
            assert finished["payload"]["device"] == kit.device_id
            # A repeated report publishes nothing.
            repeat = await http.post(
                f"{JOBS}{job['id']}/done/",
                json={"fiscal": FISCAL},
                headers=bearer(kit.device_token),
            )
            assert repeat.status_code == 200
            await asyncio.gather(
                no_more_job_events(manager),
                no_more_events(agent),
                no_more_events(spare_agent),
                no_more_events(other_shop_agent),
            )


async def test_staff_ask_the_agent_to_open_the_drawer_or_show_lines(
    client: httpx.AsyncClient,
) -> None:
    kit = await build_tenant(client)
    other = await build_tenant(client)
    drawer = {"kind": "open_drawer", "shop": kit.shop_id, "reason": "change for a 5000 note"}
    made = await client.post("/api/devices/jobs/", json=drawer, headers=kit.token("cashier"))
    assert made.status_code == 201, made.text
    job = made.json()
    assert (job["kind"], job["status"], job["payload"]["reason"]) == (
        "open_drawer",
        "pending",
        "change for a 5000 note",
    )
    assert job["payload"]["requested_by"] == kit.members["cashier"].id
    show = {"kind": "display", "shop": kit.shop_id, "lines": ["Кефир", "ИТОГО 12.30"]}
    shown = await client.post("/api/devices/jobs/", json=show, headers=kit.token("manager"))
    assert shown.status_code == 201, shown.text
    agent = {"Authorization": f"Bearer {kit.device_token}"}
    queue = await client.get("/api/devices/jobs/", params={"status": "pending"}, headers=agent)
    assert [j["kind"] for j in queue.json()["results"]] == ["open_drawer", "display"]
    done = await client.post(
        f"/api/devices/jobs/{job['id']}/done/", json={"note": "opened"}, headers=agent
    )
    assert done.json()["status"] == "done"
    for body, field in (
        ({**drawer, "reason": None}, "body"),
        ({**drawer, "lines": ["x"]}, "body"),
        ({**show, "lines": []}, "lines"),
        ({**show, "lines": ["x" * 41]}, "lines.0"),
        ({**show, "lines": ["a", "b", "c", "d", "e"]}, "lines"),
        ({**drawer, "kind": "receipt"}, "kind"),
    ):
        refused = await client.post("/api/devices/jobs/", json=body, headers=kit.token("owner"))
        assert refused.status_code == 400, (body, refused.text)
        assert any(k.startswith(field) for k in refused.json()["error"]["fields"]), refused.json()
    foreign = await client.post(
        "/api/devices/jobs/", json={**drawer, "shop": other.shop_id}, headers=kit.token("owner")
    )
    assert foreign.status_code == 404
    keeper = await client.post("/api/devices/jobs/", json=drawer, headers=kit.token("stockkeeper"))
    assert keeper.status_code == 403
    # Naming the till: its agent's devices bound to it do the job.
    shift = await client.get(
        f"/api/sales/sessions/{await open_shift(client, kit)}/", headers=kit.token("manager")
    )
    till = shift.json()["cash_register"]
    at_till = await client.post(
        "/api/devices/jobs/", json={**drawer, "cash_register": till}, headers=kit.token("cashier")
    )
    assert at_till.status_code == 201, at_till.text
    assert at_till.json()["payload"]["register"] == till
    elsewhere = await client.post(
        "/api/devices/jobs/",
        json={**drawer, "cash_register": str(uuid.uuid4())},
        headers=kit.token("cashier"),
    )
    assert elsewhere.status_code == 400
    assert "cash_register" in elsewhere.json()["error"]["fields"]


async def test_a_till_request_nobody_does_expires_on_the_hub(live_hub: LiveHub) -> None:
    """A drawer request in a shop whose agent never comes does not stay pending for
    ever: a minute after no agent would do it, the sweep fails it and tells the shop. A
    receipt job waits for its agent however old it is."""
    kit = await tenant(live_hub)
    t = uuid.UUID(kit.tenant_id)
    db = live_hub.app.state.deps.db
    async with api(live_hub) as http:
        sold = await sell(http, kit, await open_shift(http, kit))
        asked = await http.post(
            JOBS,
            json={"kind": "open_drawer", "shop": kit.shop_id, "reason": "change"},
            headers=kit.token("cashier"),
        )
        assert asked.status_code == 201, asked.text
        drawer = asked.json()
        assert await Expiry(db, sweep_seconds=60).sweep() == 0  # asked just now
        async with hub_client(live_hub, kit.members["manager"].token) as manager:
            await manager.subscribe(channels.shop(t, uuid.UUID(kit.shop_id)).name)
            async with UnitOfWork(db, t, write=True) as uow:
                almost = utcnow() + device_jobs.UNCLAIMED_AFTER - timedelta(seconds=5)
                assert await device_jobs.expire_unclaimed(uow, almost) == 0
            async with UnitOfWork(db, t, write=True) as uow:
                later = utcnow() + timedelta(days=2)
                assert await device_jobs.expire_unclaimed(uow, later) == 1
            updated = await next_job_event(manager)
            assert (updated["type"], updated["payload"]["id"]) == ("job.updated", drawer["id"])
            assert updated["payload"]["status"] == "failed"
            assert updated["payload"]["result"]["error"].startswith("expired")
            await no_more_job_events(manager)
        jobs = {j["id"]: j for j in await jobs_of(http, kit.token("manager"))}
        assert jobs[drawer["id"]]["status"] == "failed"
        assert jobs[drawer["id"]]["attempts"] == 0  # no agent tried it
        receipt = await job_of(http, kit, sold["id"])
        assert jobs[receipt["id"]]["status"] == "pending"
        # The agent, back after all that time, is told the request is over.
        late = await http.post(
            f"{JOBS}{drawer['id']}/done/", json={"note": "opened"}, headers=bearer(kit.device_token)
        )
        assert late.status_code == 409
        assert late.json()["error"]["code"] == "job_finished"


async def test_of_two_agents_claiming_a_job_given_to_none_exactly_one_gets_it(
    live_hub: LiveHub,
) -> None:
    """A sale made before any agent announced its devices is every agent's job: each
    claims it before working it, and the hub gives it to exactly one."""
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        shift = await open_shift(http, kit)
        spare = await second_device(http, kit, kit.shop_id)
        sold = await sell(http, kit, shift)
        (job,) = await jobs_of(http, kit.token("manager"), ref=sold["id"])
        assert job["device"] is None
        tokens = {kit.device_id: kit.device_token, spare["id"]: spare["token"]}
        claimed = await asyncio.gather(
            *(
                http.post(f"{JOBS}{job['id']}/claim/", headers=bearer(token))
                for token in tokens.values()
            )
        )
        codes = sorted(r.status_code for r in claimed)
        winner = next(r.json() for r in claimed if r.status_code == 200)["device"]
        loser = next(r.json() for r in claimed if r.status_code == 409)
        again = await http.post(f"{JOBS}{job['id']}/claim/", headers=bearer(tokens[winner]))
        (listed,) = await jobs_of(http, kit.token("manager"), ref=sold["id"])
        async with hub_client(live_hub, tokens[winner]) as agent:
            over_ws = await agent.request("agent.claim", {"job": job["id"]})
        staff = await http.post(f"{JOBS}{job['id']}/claim/", headers=kit.token("manager"))
        done = await http.post(
            f"{JOBS}{job['id']}/done/", json={"fiscal": FISCAL}, headers=bearer(tokens[winner])
        )
        late = await http.post(f"{JOBS}{job['id']}/claim/", headers=bearer(tokens[winner]))
    assert codes == [200, 409]
    assert loser["error"]["code"] == "job_taken"
    assert winner in tokens
    assert (again.status_code, again.json()["device"]) == (200, winner)  # already its own
    assert listed["device"] == winner
    assert (over_ws["job"]["id"], over_ws["job"]["device"]) == (job["id"], winner)
    assert staff.status_code == 403
    assert done.status_code == 200, done.text
    assert (late.status_code, late.json()["error"]["code"]) == (409, "job_finished")
