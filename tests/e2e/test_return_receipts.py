"""Return receipts: a return enqueues one receipt job for the shop's edge agent, a
document with `operation: "return"` that the agent itself reads as a return of income;
the agent's report lands on the return and is told to the sales feed."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx

from edge_agent.devices import fiscal_receipt
from edge_agent.drivers.escpos_layout import receipt_text
from edge_agent.drivers.shtrih import ReceiptKind
from edge_agent.receipt import Receipt
from protocol import channels
from tests.conftest import LiveHub
from tests.e2e.test_device_jobs import FISCAL, JOBS, jobs_of, open_shift
from tests.e2e.ws_support import api, drain_events, hub_client, tenant
from tests.helpers import TenantKit, bearer, build_tenant, create_product, receive

D = Decimal


async def cash_sale(client: httpx.AsyncClient, kit: TenantKit, shift: str) -> dict[str, Any]:
    """3 x 33.33 at 20 % VAT with 10 % off the receipt (89.99), 100.00 cash tendered."""
    product = await create_product(client, kit, price="33.33", vat_rate="20")
    await receive(client, kit, product["id"], "10")
    sold = await client.post(
        "/api/sales/sales/",
        json={
            "session": shift,
            "items": [{"product": product["id"], "quantity": "3"}],
            "payments": [{"method": "cash", "amount": "100.00"}],
            "discount_percent": "10",
        },
        headers=kit.token("cashier") | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert sold.status_code == 201, sold.text
    assert (sold.json()["total"], sold.json()["change"]) == ("89.99", "10.01")
    return {"sale": sold.json(), "product": product["id"]}


async def give_back(
    client: httpx.AsyncClient, kit: TenantKit, sale: str, product: str, quantity: str, key: str
) -> dict[str, Any]:
    made = await client.post(
        "/api/sales/returns/",
        json={"sale": sale, "items": [{"product": product, "quantity": quantity}]},
        headers=kit.token("manager") | {"Idempotency-Key": key},
    )
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()
    return result


async def test_a_return_enqueues_a_receipt_the_agent_registers_as_a_return(
    client: httpx.AsyncClient,
) -> None:
    kit = await build_tenant(client)
    shift = await open_shift(client, kit)
    sold = await cash_sale(client, kit, shift)
    sale = sold["sale"]
    made = await give_back(client, kit, sale["id"], sold["product"], "1", "back-1")
    assert made["receipt_status"] == "pending"
    assert made["fiscal"] is None
    agent = bearer(kit.device_token)

    (job,) = await jobs_of(client, agent, ref=made["id"])
    assert (job["kind"], job["status"]) == ("receipt", "pending")
    document = job["payload"]
    assert document["operation"] == "return"
    assert (document["return"], document["sale"]) == (made["id"], sale["id"])
    assert document["number"] == sale["number"]  # the receipt it is made against
    assert document["return_number"] == made["number"] == 1  # its own, per till
    (line,) = document["lines"]
    refund = made["refund_total"]
    assert (line["quantity"], line["price"], line["amount"]) == ("1.000", "33.33", "33.33")
    assert line["total"] == refund == "30.00"  # a third of 89.99, in cents half up
    assert D(line["discount"]) == D("33.33") - D(refund)
    assert document["totals"]["total"] == refund
    assert document["payments"] == {"cash": refund}
    assert (document["tendered_cash"], document["change"]) == (refund, "0.00")
    assert document["totals"]["vat"] == [{"rate": "20.00", "amount": "5.00"}]
    assert document["register"]["id"] == sale["cash_register"]

    # The agent reads it as it is: sums that agree, a return of income, a return title.
    receipt = Receipt.from_job(document)
    assert (receipt.operation, receipt.total, receipt.cash) == ("return", D("30.00"), D("30.00"))
    registered = fiscal_receipt(receipt)
    assert registered.kind is ReceiptKind.RETURN
    assert [(x.quantity, x.price) for x in registered.lines] == [(D("1.000"), D("33.33"))]
    assert registered.discount == D("3.33")
    printed = receipt_text(receipt, 42)
    assert f"Возврат по чеку № {sale['number']}" in printed
    assert "Чек возврата № 1" in printed

    # A retried return makes no second job; the sale's own job is untouched.
    again = await give_back(client, kit, sale["id"], sold["product"], "1", "back-1")
    assert again["id"] == made["id"]
    assert len(await jobs_of(client, agent, ref=made["id"])) == 1
    assert len(await jobs_of(client, agent, ref=sale["id"])) == 1

    # The rest of the sale back, with the rest of the money.
    rest = await give_back(client, kit, sale["id"], sold["product"], "2", "back-2")
    (last,) = await jobs_of(client, agent, ref=rest["id"])
    assert last["payload"]["totals"]["total"] == rest["refund_total"] == "59.99"
    assert last["payload"]["return_number"] == rest["number"] == 2
    Receipt.from_job(last["payload"])


async def test_the_agents_report_lands_on_the_return_and_the_sales_feed(
    live_hub: LiveHub,
) -> None:
    kit = await tenant(live_hub)
    t = uuid.UUID(kit.tenant_id)
    async with api(live_hub) as http:
        shift = await open_shift(http, kit)
        sold = await cash_sale(http, kit, shift)
        sale = sold["sale"]
        printed = await give_back(http, kit, sale["id"], sold["product"], "1", "r-1")
        jammed = await give_back(http, kit, sale["id"], sold["product"], "1", "r-2")
        agent = bearer(kit.device_token)
        (printed_job,) = await jobs_of(http, agent, ref=printed["id"])
        (jammed_job,) = await jobs_of(http, agent, ref=jammed["id"])
        async with hub_client(live_hub, kit.members["manager"].token) as manager:
            await manager.subscribe(channels.sales(t, uuid.UUID(kit.shop_id)).name)
            done = await http.post(
                f"{JOBS}{printed_job['id']}/done/", json={"fiscal": FISCAL}, headers=agent
            )
            assert done.status_code == 200, done.text
            failed = await http.post(
                f"{JOBS}{jammed_job['id']}/failed/",
                json={"error": "paper out", "code": "paper_out"},
                headers=agent,
            )
            assert failed.status_code == 200, failed.text
            # Each on the sales feed and on the returning user's own channel (their till).
            events = await drain_events(manager, 4)
        now = await give_back(http, kit, sale["id"], sold["product"], "1", "r-1")
        later = await give_back(http, kit, sale["id"], sold["product"], "1", "r-2")
        paid_for = await http.get(f"/api/sales/sales/{sale['id']}/", headers=kit.token("manager"))
    assert (now["receipt_status"], now["fiscal"]) == ("done", FISCAL)
    assert (later["receipt_status"], later["fiscal"]) == ("failed", {"error": "paper out"})
    sales_feed = channels.sales(t, uuid.UUID(kit.shop_id)).name
    own = channels.user(t, uuid.UUID(kit.members["manager"].id)).name
    for channel in (sales_feed, own):
        assert [(e["type"], e["payload"]) for e in events if e["channel"] == channel] == [
            (
                "return.receipt",
                {
                    "return": printed["id"],
                    "sale": sale["id"],
                    "receipt_status": "done",
                    "fiscal": FISCAL,
                },
            ),
            (
                "return.receipt",
                {
                    "return": jammed["id"],
                    "sale": sale["id"],
                    "receipt_status": "failed",
                    "fiscal": {"error": "paper out"},
                },
            ),
        ]
    # The sale's own receipt is another job: its status is not the return's.
    assert paid_for.json()["receipt_status"] == "pending"


async def test_a_return_paid_back_to_customer_tenders_only_adds_up_to_the_cent(
    client: httpx.AsyncClient,
) -> None:
    """10.00 paid 5.00 on credit and 5.00 from the prepaid balance; the 3.33 line comes
    back. Each tender's share rounds up (1.665 -> 1.67, twice: 3.34), so one of them
    gives back a cent less: the refunds, the ledger and the return receipt all say 3.33."""
    kit = await build_tenant(client)
    shift = await open_shift(client, kit)
    cheap = await create_product(client, kit, price="3.33")
    dear = await create_product(client, kit, price="6.67")
    for product in (cheap, dear):
        await receive(client, kit, product["id"], "5")
    made = await client.post(
        "/api/customers/customers/",
        json={"name": "Ольга", "phone": "+79160000333", "credit_limit": "100.00"},
        headers=kit.token("owner"),
    )
    assert made.status_code == 201, made.text
    customer = made.json()["id"]
    topped = await client.post(
        f"/api/customers/customers/{customer}/top-up/",
        json={"amount": "5.00"},
        headers=kit.token("cashier") | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert topped.status_code == 200, topped.text
    sold = await client.post(
        "/api/sales/sales/",
        json={
            "session": shift,
            "customer": customer,
            "items": [
                {"product": cheap["id"], "quantity": "1"},
                {"product": dear["id"], "quantity": "1"},
            ],
            "payments": [
                {"method": "credit", "amount": "5.00"},
                {"method": "balance", "amount": "5.00"},
            ],
        },
        headers=kit.token("cashier") | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert sold.status_code == 201, sold.text
    sale = sold.json()
    assert sale["total"] == "10.00"

    back = await give_back(client, kit, sale["id"], cheap["id"], "1", "cent-1")
    refunds = {r["method"]: D(r["amount"]) for r in back["refunds"]}
    assert back["refund_total"] == "3.33"
    assert sum(refunds.values()) == D("3.33")
    assert sorted(refunds.values()) == [D("1.66"), D("1.67")]
    after = (
        await client.get(f"/api/customers/customers/{customer}/", headers=kit.token("owner"))
    ).json()
    # What the ledger gave back is what the return says it gave back.
    assert D(after["debt"]) == D("5.00") - refunds["credit"]
    assert D(after["balance"]) == refunds["balance"]

    (job,) = await jobs_of(client, bearer(kit.device_token), ref=back["id"])
    document = job["payload"]
    assert document["totals"]["total"] == "3.33"
    assert sum(D(a) for a in document["payments"].values()) == D("3.33")
    receipt = Receipt.from_job(document)  # the agent accepts it: its sums agree
    assert receipt.total == D("3.33")

    # The rest comes back exactly: the sale is restored to the cent.
    rest = await give_back(client, kit, sale["id"], dear["id"], "1", "cent-2")
    assert rest["refund_total"] == "6.67"
    after = (
        await client.get(f"/api/customers/customers/{customer}/", headers=kit.token("owner"))
    ).json()
    assert (after["debt"], after["balance"]) == ("0.00", "5.00")
