"""The agent's jobs against a real hub, with simulated registers and printers on pty
pairs: a manager's retry of a failed receipt is run again (live, and after a restart);
two agents racing for jobs given to no agent make each receipt once."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import httpx

from edge_agent.store import JobStatus
from tests.conftest import LiveHub
from tests.e2e.test_device_jobs import second_device
from tests.e2e.test_sales import Till, stocked
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


async def test_two_agents_racing_for_a_job_given_to_none_make_one_receipt(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    """Sales made before either agent of the shop ever connected are every agent's;
    both agents start together, and each receipt is fiscalised and printed once, by
    the agent that claimed it; the other leaves it (`taken`)."""
    kit = await tenant(live_hub)
    async with (
        api(live_hub) as http,
        shop_devices() as (register_a, printer_a),
        shop_devices() as (register_b, printer_b),
    ):
        milk = await stocked(http, kit, "10.00", "10")
        till = await Till(http, kit).open()
        sold = [
            (
                await till.sell(
                    [{"product": milk, "quantity": "1"}], [{"method": "card", "amount": "10"}]
                )
            ).json()["id"]
            for _ in range(3)
        ]
        spare = await second_device(http, kit, kit.shop_id)
        configs = []
        for name, kit_of, devices in (
            ("a", kit, (register_a, printer_a)),
            ("b", dataclasses.replace(kit, device_token=spare["token"]), (register_b, printer_b)),
        ):
            (tmp_path / name).mkdir()
            configs.append(
                config_file(tmp_path / name, live_hub, kit_of, devices[0].url, devices[1].url)
            )
        async with running_agent(configs[0]) as agent_a, running_agent(configs[1]) as agent_b:
            jobs = [await job_becomes(http, kit, sale, "done", 1) for sale in sold]
            left = [
                [(await agent.store.job(job["id"])) for job in jobs] for agent in (agent_a, agent_b)
            ]
    registered = len(register_a.register.receipts) + len(register_b.register.receipts)
    printed = len(printer_a.state.receipts) + len(printer_b.state.receipts)
    assert (registered, printed) == (3, 3)  # once each, whoever made it
    by_agent = {kit.device_id: 0, spare["id"]: 1}
    for job in jobs:
        maker = by_agent[job["device"]]
        mine, theirs = left[maker], left[1 - maker]
        index = jobs.index(job)
        assert mine[index] is not None
        assert mine[index].status is JobStatus.DONE
        assert theirs[index] is None or theirs[index].status is JobStatus.TAKEN
