"""A return at the till, through the agent to a simulated Shtrih-M register and ESC/POS
printer: the register registers a return of income for the refund, the printer prints a
return receipt against the sale's number, the drawer opens for the cash, and the
outcome lands on the return."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from edge_agent.drivers.shtrih_frames import FnOperation
from tests.conftest import LiveHub
from tests.e2e.test_sales import Till, stocked
from tests.e2e.ws_support import api, tenant
from tests.edge.test_agent_e2e import config_file, running_agent, settled, shop_devices
from tests.helpers import TenantKit


async def return_of(
    http: httpx.AsyncClient, kit: TenantKit, body: dict[str, Any], key: str
) -> dict[str, Any]:
    """Make the return, or (same key) read it as it is now."""
    made = await http.post(
        "/api/sales/returns/", json=body, headers=kit.token("manager") | {"Idempotency-Key": key}
    )
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()
    return result


async def test_a_return_is_registered_as_a_return_of_income_and_printed(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http, shop_devices() as (register, printer):
        milk = await stocked(http, kit, "89.90", "10")
        till = await Till(http, kit).open()
        config = config_file(tmp_path, live_hub, kit, register.url, printer.url)
        async with running_agent(config):
            sold = await till.sell(
                [{"product": milk, "quantity": "2"}], [{"method": "cash", "amount": "200"}]
            )
            assert sold.status_code == 201, sold.text
            sale = await settled(http, kit, sold.json()["id"])
            body = {"sale": sale["id"], "items": [{"product": milk, "quantity": "1"}]}
            made = await return_of(http, kit, body, "give-back")
            deadline = asyncio.get_running_loop().time() + 20
            while made["receipt_status"] == "pending":
                assert asyncio.get_running_loop().time() < deadline, "no return receipt"
                await asyncio.sleep(0.1)
                made = await return_of(http, kit, body, "give-back")
    assert (sale["receipt_status"], made["receipt_status"]) == ("done", "done")
    bought, given_back = register.register.receipts
    assert bought.operation is FnOperation.INCOME
    assert given_back.operation is FnOperation.INCOME_RETURN
    assert given_back.total == Decimal(made["refund_total"]) == Decimal("89.90")
    assert [(i.returning, i.quantity_thousandths) for i in given_back.items] == [(True, 1000)]
    assert made["fiscal"]["document_number"] == given_back.number
    _, printed = printer.state.receipts
    text = "\n".join(printed)
    assert f"Возврат по чеку № {sale['number']}" in text
    assert str(given_back.number) in text
    assert len(printer.state.drawer_kicks) == 2  # the sale's cash in, the refund's out
