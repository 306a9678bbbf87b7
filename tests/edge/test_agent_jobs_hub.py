"""The agent's jobs against a real hub, with simulated registers and printers on pty
pairs: a manager's retry of a failed receipt is run again (live, and after a restart),
and a repeated announcement is not."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import LiveHub
from tests.e2e.test_sales import Till
from tests.e2e.ws_support import api, tenant
from tests.edge.test_agent_e2e import config_file, running_agent, shop_devices
from tests.helpers import TenantKit, create_product, receive

JOBS = "/api/devices/jobs/"
TAX_GROUPS_WITH_20 = '\ntax_groups = { "20" = 1, "10" = 2, "0" = 3, "none" = 4 }\n'


async def receipt_job(http: httpx.AsyncClient, kit: TenantKit, sale: str) -> dict[str, Any]:
    listed = await http.get(JOBS, params={"ref": sale}, headers=kit.token("manager"))
    (job,) = listed.json()["results"]
    result: dict[str, Any] = job
    return result


async def job_becomes(
    http: httpx.AsyncClient, kit: TenantKit, sale: str, status: str, attempts: int
) -> dict[str, Any]:
    for _ in range(400):
        job = await receipt_job(http, kit, sale)
        if (job["status"], job["attempts"]) == (status, attempts):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"the job is {job['status']} after {job['attempts']} attempts")


async def test_a_managers_retry_is_run_again_live_and_after_a_restart(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    """A 20 % line (no tax group by default) fails; the manager's retry reaches the
    running agent, which tries again (and fails again); the config put right, a retry
    made while the agent is down is found when it starts, and the receipt is made once."""
    kit = await tenant(live_hub)
    async with api(live_hub) as http, shop_devices() as (register, printer):
        product = await create_product(http, kit, price="50.00", cost="1.00", vat_rate="20")
        await receive(http, kit, product["id"], "5")
        till = await Till(http, kit).open()
        config = config_file(tmp_path, live_hub, kit, register.url, printer.url)
        async with running_agent(config):
            sold = await till.sell(
                [{"product": product["id"], "quantity": "1"}], [{"method": "card", "amount": "50"}]
            )
            sale = sold.json()["id"]
            first = await job_becomes(http, kit, sale, "failed", 1)
            retried = await http.post(f"{JOBS}{first['id']}/retry/", headers=kit.token("manager"))
            assert retried.status_code == 200, retried.text
            second = await job_becomes(http, kit, sale, "failed", 2)
        config.write_text(config.read_text() + TAX_GROUPS_WITH_20)
        retried = await http.post(f"{JOBS}{first['id']}/retry/", headers=kit.token("manager"))
        assert retried.status_code == 200, retried.text
        async with running_agent(config):
            done = await job_becomes(http, kit, sale, "done", 3)
            settled = (
                await http.get(f"/api/sales/sales/{sale}/", headers=kit.token("owner"))
            ).json()
    assert first["result"]["code"] == second["result"]["code"] == "vat_rate_unmapped"
    assert done["result"]["fiscal"]["document_number"] == register.register.receipts[0].number
    assert settled["receipt_status"] == "done"
    assert len(register.register.receipts) == 1
    assert len(printer.state.receipts) == 1
