"""A device token the hub refuses stops the agent for good: revoked while it runs (its
held receipt, never started, goes to the shop's other agent, which makes it; the
revoked one never does, even when its register is put right or it is restarted; one it
had started, its register out of paper, is held for a person and made by neither), or
unknown from the start
(`pos-edge run` exits with status 3 and says why). A hub that is merely away is waited
for, as ever."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent import devices
from edge_agent.agent import Agent
from edge_agent.config import load
from edge_agent.link import TokenRefused
from edge_agent.store import AgentStore
from tests.conftest import LiveHub
from tests.e2e.test_device_jobs import second_device
from tests.e2e.test_sales import Till, stocked
from tests.e2e.ws_support import api, tenant, wait_for
from tests.edge.test_agent_e2e import config_file, running_agent, settled, shop_devices
from tests.helpers import TenantKit

ROOT = Path(__file__).resolve().parents[2]  # `python -m` from here runs this checkout


def agent_of(config_path: Path, store: AgentStore) -> Agent:
    config = load(config_path)
    return Agent(
        hub_url=config.hub.websocket_url,
        token=config.hub.read_token(),
        store=store,
        devices=devices.build(config),
        retry_seconds=config.agent.retry_seconds,
        max_backoff=config.agent.max_backoff_seconds,
    )


def with_token(kit: TenantKit, token: str) -> TenantKit:
    return dataclasses.replace(kit, device_token=token)


async def test_a_revoked_agent_stops_and_its_held_receipt_is_made_once(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    kit = await tenant(live_hub)
    async with (
        api(live_hub) as http,
        shop_devices() as (register_a, printer_a),
        shop_devices() as (register_c, printer_c),
    ):
        milk = await stocked(http, kit, "10.00", "10")
        till = await Till(http, kit).open()
        spare = await second_device(http, kit, kit.shop_id)
        for agent in ("a", "c"):
            (tmp_path / agent).mkdir()
        config_a = config_file(tmp_path / "a", live_hub, kit, register_a.url, printer_a.url)
        kit_c = with_token(kit, spare["token"])
        config_c = config_file(tmp_path / "c", live_hub, kit_c, register_c.url, printer_c.url)
        # A's register refuses its password: the receipt is held before A starts it.
        config_a.write_text(config_a.read_text() + "password = 1\n", encoding="utf-8")
        async with AgentStore(tmp_path / "a" / "data" / "agent.db") as store_a:
            agent_a = agent_of(config_a, store_a)
            running_a = asyncio.create_task(agent_a.run())
            await wait_for(agent_a.link.connected.is_set, 30)
            sold = await till.sell(
                [{"product": milk, "quantity": "1"}], [{"method": "card", "amount": "10"}]
            )
            for _ in range(600):  # A has taken the job and is held by its register
                if await store_a.open_jobs():
                    break
                await asyncio.sleep(0.05)
            async with running_agent(config_c):
                gone = await http.delete(
                    f"/api/users/device-tokens/{kit.device_id}/", headers=kit.token("owner")
                )
                assert gone.status_code == 204, gone.text
                with pytest.raises(TokenRefused):
                    await asyncio.wait_for(running_a, 30)
                sale = await settled(http, kit, sold.json()["id"], wait=60)
            # The password put right: A must not make it now.
            config_a.write_text(config_a.read_text().replace("password = 1\n", ""))
            with pytest.raises(TokenRefused, match="remembered"):
                await asyncio.wait_for(agent_of(config_a, store_a).run(), 10)
            await asyncio.sleep(0.5)
    assert sale["receipt_status"] == "done"
    assert len(register_c.register.receipts) == 1
    assert len(printer_c.state.receipts) == 1
    assert register_a.register.receipts == []
    assert printer_a.state.receipts == []


async def test_a_receipt_the_revoked_agent_started_is_held_for_a_person(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    """A told the hub it was fiscalising the receipt, then its register ran out of paper
    (it may hold the receipt, half made): revoked, A stops, and the job is not given to
    C (whose register would make it a second time) but failed with `agent_revoked` for
    a manager to see; neither register makes it."""
    kit = await tenant(live_hub)
    async with (
        api(live_hub) as http,
        shop_devices() as (register_a, printer_a),
        shop_devices() as (register_c, printer_c),
    ):
        milk = await stocked(http, kit, "10.00", "10")
        till = await Till(http, kit).open()
        spare = await second_device(http, kit, kit.shop_id)
        for agent in ("a", "c"):
            (tmp_path / agent).mkdir()
        config_a = config_file(tmp_path / "a", live_hub, kit, register_a.url, printer_a.url)
        kit_c = with_token(kit, spare["token"])
        config_c = config_file(tmp_path / "c", live_hub, kit_c, register_c.url, printer_c.url)
        register_a.register.paper = False  # A starts the receipt; its register holds it
        async with AgentStore(tmp_path / "a" / "data" / "agent.db") as store_a:
            agent_a = agent_of(config_a, store_a)
            running_a = asyncio.create_task(agent_a.run())
            await wait_for(agent_a.link.connected.is_set, 30)
            sold = await till.sell(
                [{"product": milk, "quantity": "1"}], [{"method": "card", "amount": "10"}]
            )
            sale_id = sold.json()["id"]
            for _ in range(600):  # the hub knows A started it
                listed = await http.get(
                    "/api/devices/jobs/", params={"ref": sale_id}, headers=kit.token("manager")
                )
                if listed.json()["results"][0]["started_at"]:
                    break
                await asyncio.sleep(0.05)
            async with running_agent(config_c):
                gone = await http.delete(
                    f"/api/users/device-tokens/{kit.device_id}/", headers=kit.token("owner")
                )
                assert gone.status_code == 204, gone.text
                with pytest.raises(TokenRefused):
                    await asyncio.wait_for(running_a, 30)
                sale = await settled(http, kit, sale_id, wait=60)
                await asyncio.sleep(0.5)  # C had its chance
            (job,) = (
                await http.get(
                    "/api/devices/jobs/", params={"ref": sale_id}, headers=kit.token("manager")
                )
            ).json()["results"]
    assert sale["receipt_status"] == "failed"
    assert (job["status"], job["device"]) == ("failed", kit.device_id)
    assert job["result"]["code"] == "agent_revoked"
    assert register_c.register.receipts == []
    assert printer_c.state.receipts == []
    assert register_a.register.receipts == []


async def test_an_unknown_token_stops_the_agent_with_status_3(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    kit = with_token(await tenant(live_hub), "dt_not-a-token-of-this-hub")
    async with shop_devices() as (register, printer):
        config = config_file(tmp_path, live_hub, kit, register.url, printer.url)
        ran = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "edge_agent.cli", "run", "--config", str(config)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    assert ran.returncode == 3, ran.stderr[-2000:]
    assert "refused this agent's device token" in ran.stderr
    assert "new device token" in ran.stderr
