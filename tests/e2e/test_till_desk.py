"""The money desk at a till: a customer's debt repaid, or balance topped up or paid back,
in cash through an open shift's drawer. The shift's expected cash follows, once per
Idempotency-Key, and a drawer is only ever the cashier's own open one."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.e2e.test_customers import CUSTOMERS, charge, new_customer
from tests.e2e.test_shifts import new_register, open_shift
from tests.helpers import TenantKit, build_tenant


async def desk(
    client: httpx.AsyncClient,
    kit: TenantKit,
    customer: str,
    action: str,
    body: dict[str, Any],
    *,
    role: str = "cashier",
    key: str | None = None,
) -> httpx.Response:
    headers = kit.token(role) | ({"Idempotency-Key": key} if key else {})
    return await client.post(f"{CUSTOMERS}{customer}/{action}/", json=body, headers=headers)


async def drawer(client: httpx.AsyncClient, kit: TenantKit, shift: str) -> tuple[str, str, str]:
    """The shift's cash in, cash out and expected cash, from its X-report."""
    x = await client.get(f"/api/sales/sessions/{shift}/x-report/", headers=kit.token("manager"))
    assert x.status_code == 200, x.text
    return x.json()["cash_in"], x.json()["cash_out"], x.json()["expected_cash"]


async def test_a_debt_repaid_in_cash_goes_into_the_drawer_once(
    client: httpx.AsyncClient,
) -> None:
    kit = await build_tenant(client)
    customer = (await new_customer(client, kit, credit_limit="500"))["id"]
    await charge(client, kit, customer, "300")
    shift = str((await open_shift(client, kit, await new_register(client, kit)))["id"])
    body = {"amount": "120.50", "session": shift}
    key = str(uuid.uuid4())
    paid = await desk(client, kit, customer, "repay", body, key=key)
    assert paid.status_code == 200, paid.text
    assert (paid.json()["debt"], paid.json()["entry"]["kind"]) == ("179.50", "repayment")
    assert await drawer(client, kit, shift) == ("120.50", "0.00", "1120.50")
    # A till that lost the answer sends the same request again: one repayment, one cash-in.
    again = await desk(client, kit, customer, "repay", body, key=key)
    assert again.json() == paid.json()
    assert await drawer(client, kit, shift) == ("120.50", "0.00", "1120.50")
    assert paid.json()["entry"]["session"] == shift
    # The same key on the same debt, but now "by card" (no drawer): not the same request.
    switched = await desk(client, kit, customer, "repay", {"amount": "120.50"}, key=key)
    assert (switched.status_code, switched.json()["error"]["code"]) == (
        409,
        "idempotency_key_reused",
    )
    # Paid by card at the till: the debt falls, the drawer does not move.
    card = await desk(client, kit, customer, "repay", {"amount": "79.50", "reference": "card"})
    assert card.json()["debt"] == "100.00"
    assert await drawer(client, kit, shift) == ("120.50", "0.00", "1120.50")
    # The till's drawer was asked to open once, for the cash; not for the card.
    jobs = await client.get(
        "/api/devices/jobs/", params={"kind": "open_drawer"}, headers=kit.token("manager")
    )
    (drawer_job,) = jobs.json()["results"]
    till = (await client.get(f"/api/sales/sessions/{shift}/", headers=kit.token("manager"))).json()
    assert drawer_job["payload"]["register"] == till["cash_register"]
    assert drawer_job["payload"]["reason"] == "repayment: Иван Петров"
    # The shift's cash movements say why its cash_in is what it is.
    moved = await client.get(f"/api/sales/sessions/{shift}/cash/", headers=kit.token("cashier"))
    assert [(m["kind"], m["amount"], m["reason"]) for m in moved.json()["results"]] == [
        ("in", "120.50", "repayment: Иван Петров")
    ]
    assert moved.json()["results"][0]["user"] == kit.members["cashier"].id
    # Closing the shift counts the repayment in the cash expected.
    closed = await client.post(
        f"/api/sales/sessions/{shift}/close/",
        json={"closing_cash": "1120.50"},
        headers=kit.token("cashier"),
    )
    assert (closed.json()["expected_cash"], closed.json()["difference"]) == ("1120.50", "0.00")
    # An answer lost just before closing: the retry still finds its repayment.
    late = await desk(client, kit, customer, "repay", body, key=key)
    assert late.json() == paid.json()


async def test_top_up_and_balance_refund_move_the_drawer_both_ways(
    client: httpx.AsyncClient,
) -> None:
    kit = await build_tenant(client)
    customer = (await new_customer(client, kit))["id"]
    shift = str((await open_shift(client, kit, await new_register(client, kit)))["id"])
    topped = await desk(client, kit, customer, "top-up", {"amount": "1500", "session": shift})
    assert topped.json()["balance"] == "1500.00"
    assert await drawer(client, kit, shift) == ("1500.00", "0.00", "2500.00")
    # A manager pays prepaid money back from the drawer, never more than the drawer holds.
    refund = await desk(
        client, kit, customer, "refund", {"amount": "1500", "session": shift}, role="manager"
    )
    assert refund.json()["balance"] == "0.00"
    assert await drawer(client, kit, shift) == ("1500.00", "1500.00", "1000.00")
    another = await desk(client, kit, customer, "top-up", {"amount": "2000"})
    assert another.json()["balance"] == "2000.00"
    beyond = await desk(
        client, kit, customer, "refund", {"amount": "1000.01", "session": shift}, role="manager"
    )
    assert beyond.status_code == 400, beyond.text
    assert "amount" in beyond.json()["error"]["fields"]
    # Refused whole: neither the balance nor the drawer moved.
    listed = await client.get(f"{CUSTOMERS}{customer}/", headers=kit.token("manager"))
    assert listed.json()["balance"] == "2000.00"
    assert await drawer(client, kit, shift) == ("1500.00", "1500.00", "1000.00")


async def test_only_the_cashiers_own_open_drawer_takes_the_cash(
    client: httpx.AsyncClient,
) -> None:
    kit = await build_tenant(client)
    customer = (await new_customer(client, kit, credit_limit="500"))["id"]
    await charge(client, kit, customer, "300")
    # The manager's shift is not the cashier's drawer.
    theirs = str((await open_shift(client, kit, await new_register(client, kit), "manager"))["id"])
    foreign = await desk(client, kit, customer, "repay", {"amount": "10", "session": theirs})
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (403, "permission_denied")
    # Neither a shift that does not exist nor another business's open shift is seen.
    elsewhere = await build_tenant(client)
    their_shift = str(
        (await open_shift(client, elsewhere, await new_register(client, elsewhere)))["id"]
    )
    for unseen in (str(uuid.uuid4()), their_shift):
        missing = await desk(client, kit, customer, "repay", {"amount": "10", "session": unseen})
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert await drawer(client, elsewhere, their_shift) == ("0.00", "0.00", "1000.00")
    mine = str((await open_shift(client, kit, await new_register(client, kit, "Till 2")))["id"])
    await client.post(
        f"/api/sales/sessions/{mine}/close/",
        json={"closing_cash": "1000.00"},
        headers=kit.token("cashier"),
    )
    late = await desk(client, kit, customer, "repay", {"amount": "10", "session": mine})
    assert (late.status_code, late.json()["error"]["fields"]) == (409, {"session": "closed"})
    not_an_id = await desk(client, kit, customer, "repay", {"amount": "10", "session": "till"})
    assert (not_an_id.status_code, list(not_an_id.json()["error"]["fields"])) == (400, ["session"])
    # Nothing of it reached the customer's debt.
    debt = await client.get(f"{CUSTOMERS}{customer}/", headers=kit.token("cashier"))
    assert debt.json()["debt"] == "300.00"
