"""Returns over HTTP: partial then the rest, never more than sold, refunds to the sale's
own tenders (cash from the drawer, credit off the debt), stock back, shift reports."""

from __future__ import annotations

import httpx

from tests.e2e.test_sales import Till, customer_in_vip, stocked
from tests.helpers import build_tenant, stock_of


async def give_back(
    client: httpx.AsyncClient, kit: object, sale: str, items: list[dict[str, str]], **extra: str
) -> httpx.Response:
    return await client.post(
        "/api/sales/returns/",
        json={"sale": sale, "items": items, **extra},
        headers=kit.token("manager"),  # type: ignore[attr-defined]
    )


async def test_partial_then_full_return_of_a_mixed_sale(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    tea = await stocked(client, kit, "100.00", "10")
    anna = await customer_in_vip(client, kit, credit_limit="1000.00")
    till = await Till(client, kit).open("200.00")
    # 3 x 100 with the VIP 10 %: 270.00; 90 on credit, 180 in cash (tendered 200).
    sold = await till.sell(
        [{"product": tea, "quantity": "3"}],
        [{"method": "credit", "amount": "90.00"}, {"method": "cash", "amount": "200.00"}],
        customer=anna,
    )
    assert sold.json()["total"] == "270.00"
    sale = sold.json()["id"]

    first = await give_back(client, kit, sale, [{"product": tea, "quantity": "1"}])
    assert first.status_code == 201, first.text
    assert first.json()["refund_total"] == "90.00"
    assert {r["method"]: r["amount"] for r in first.json()["refunds"]} == {
        "cash": "60.00",
        "credit": "30.00",
    }
    customer = await client.get(f"/api/customers/customers/{anna}/", headers=kit.token("owner"))
    assert customer.json()["debt"] == "60.00"
    assert (await stock_of(client, kit, tea))["on_hand"] == "8.000"

    too_many = await give_back(client, kit, sale, [{"product": tea, "quantity": "3"}])
    assert too_many.status_code == 400
    assert "items.0.quantity" in too_many.json()["error"]["fields"]

    rest = await give_back(client, kit, sale, [{"product": tea, "quantity": "2"}])
    assert rest.json()["refund_total"] == "180.00"
    customer = await client.get(f"/api/customers/customers/{anna}/", headers=kit.token("owner"))
    assert customer.json()["debt"] == "0.00"
    assert (await stock_of(client, kit, tea))["on_hand"] == "10.000"
    nothing_left = await give_back(client, kit, sale, [{"product": tea, "quantity": "1"}])
    assert nothing_left.status_code == 400

    x = await client.get(
        f"/api/sales/sessions/{till.shift}/x-report/", headers=kit.token("manager")
    )
    report = x.json()
    assert (report["returns"], report["returns_total"], report["net_total"]) == (
        2,
        "270.00",
        "0.00",
    )
    assert report["payments"]["cash"] == {
        "sales": "180.00",
        "refunds": "180.00",
        "net": "0.00",
        "count": 3,
    }
    assert report["expected_cash"] == "200.00"


async def test_thirds_come_back_to_the_cent(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    item = await stocked(client, kit, "3.33", "9")
    till = await Till(client, kit).open()
    sold = await till.sell(
        [{"product": item, "quantity": "3"}], [{"method": "card", "amount": "9.99"}]
    )
    sale = sold.json()["id"]
    refunds = []
    for _ in range(3):
        back = await give_back(client, kit, sale, [{"product": item, "quantity": "1"}])
        assert back.status_code == 201, back.text
        refunds.append(back.json()["refund_total"])
    assert refunds == ["3.33", "3.33", "3.33"]


async def test_who_may_return_and_retries(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    tea = await stocked(client, kit, "10.00", "5")
    till = await Till(client, kit).open()
    sold = await till.sell(
        [{"product": tea, "quantity": "2"}], [{"method": "cash", "amount": "20"}]
    )
    body = {"sale": sold.json()["id"], "items": [{"product": tea, "quantity": "1"}]}
    cashier = await client.post("/api/sales/returns/", json=body, headers=kit.token("cashier"))
    assert cashier.status_code == 403
    headers = {**kit.token("manager"), "Idempotency-Key": "ret-1"}
    first = await client.post("/api/sales/returns/", json=body, headers=headers)
    again = await client.post("/api/sales/returns/", json=body, headers=headers)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert (await stock_of(client, kit, tea))["on_hand"] == "4.000"
    # A closed shift pays nothing out.
    await client.post(
        f"/api/sales/sessions/{till.shift}/close/",
        json={"closing_cash": "510"},
        headers=kit.token("cashier"),
    )
    closed = await client.post("/api/sales/returns/", json=body, headers=kit.token("manager"))
    assert closed.status_code == 409
    assert "session" in closed.json()["error"]["fields"]
