"""The agent against a real hub, with a simulated Shtrih-M register and ESC/POS printer
on pty pairs: a sale committed on the hub is fiscalised and printed, the fiscal result is
stored on the sale and pushed to the till; paper out holds the receipt and is reported;
a hub that is away gets the agent's reports, each once, when it is back."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from edge_agent import devices
from edge_agent.agent import Agent
from edge_agent.config import load
from edge_agent.simulators.printer import SimulatedPrinter
from edge_agent.simulators.scanner import SimulatedScanner
from edge_agent.simulators.shtrih import ShtrihSimulator
from edge_agent.store import UNCLAIMED, AgentStore
from protocol import channels
from tests.conftest import LiveHub
from tests.e2e.test_sales import Till, stocked
from tests.e2e.ws_support import api, drain_events, hub_client, tenant, wait_for
from tests.helpers import TenantKit, create_product, ean13, receive


@asynccontextmanager
async def shop_devices() -> AsyncIterator[tuple[ShtrihSimulator, SimulatedPrinter]]:
    register, printer = ShtrihSimulator(), SimulatedPrinter()
    await register.start()
    await printer.start()
    try:
        yield register, printer
    finally:
        await printer.stop()
        await register.stop()


def config_file(tmp_path: Path, hub: LiveHub, kit: TenantKit, register: str, printer: str) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(
        f"""
[hub]
url = "{hub.http}"
token = "{kit.device_token}"

[agent]
data_dir = "{tmp_path / "data"}"
retry_seconds = 0.2
max_backoff_seconds = 0.5

[[printer]]
name = "receipts"
transport = "{printer}"
drawer = true

[[fiscal]]
name = "kkt"
transport = "{register}"
""",
        encoding="utf-8",
    )
    return path


@asynccontextmanager
async def running_agent(config_path: Path) -> AsyncIterator[Agent]:
    config = load(config_path)
    store = await AgentStore(config.agent.data_dir / "agent.db").open()
    agent = Agent(
        hub_url=config.hub.websocket_url,
        token=config.hub.read_token(),
        store=store,
        devices=devices.build(config),
        retry_seconds=config.agent.retry_seconds,
        max_backoff=config.agent.max_backoff_seconds,
    )
    task = asyncio.create_task(agent.run())
    try:
        yield agent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()


async def sale_of(http: httpx.AsyncClient, kit: TenantKit, sale_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/sales/sales/{sale_id}/", headers=kit.token("owner"))
    result: dict[str, Any] = response.json()
    return result


async def settled(
    http: httpx.AsyncClient, kit: TenantKit, sale_id: str, wait: float = 20
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        sale = await sale_of(http, kit, sale_id)
        if sale["receipt_status"] != "pending":
            return sale
        assert asyncio.get_running_loop().time() < deadline, "the receipt job did not finish"
        await asyncio.sleep(0.1)


async def test_a_sale_is_fiscalised_printed_and_reported_back(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http, shop_devices() as (register, printer):
        milk = await stocked(http, kit, "89.90", "10")
        till = await Till(http, kit).open()
        user = channels.user(uuid.UUID(kit.tenant_id), uuid.UUID(kit.members["cashier"].id))
        async with (
            hub_client(live_hub, kit.members["cashier"].token) as cashier,
            running_agent(config_file(tmp_path, live_hub, kit, register.url, printer.url)),
        ):
            sold = await till.sell(
                [{"product": milk, "quantity": "2"}], [{"method": "cash", "amount": "200"}]
            )
            assert sold.status_code == 201, sold.text
            sale = await settled(http, kit, sold.json()["id"])
            notices = [e for e in await drain_events(cashier, 1) if e["channel"] == user.name]
    assert sale["receipt_status"] == "done"
    fiscal = sale["fiscal"]
    (document,) = register.register.receipts
    assert fiscal["document_number"] == document.number
    assert fiscal["storage_serial"]
    assert fiscal["fiscal_sign"].isdigit()
    assert notices[0]["type"] == "sale.receipt"
    assert notices[0]["payload"]["fiscal"] == fiscal
    (printed,) = printer.state.receipts
    text = "\n".join(printed)
    assert "179.80" in text  # 2 x 89.90
    assert str(fiscal["document_number"]) in text
    assert len(printer.state.qr_codes) == 1
    assert printer.state.drawer_kicks  # a cash sale opens the drawer


async def test_a_gift_is_printed_and_not_fiscalised(live_hub: LiveHub, tmp_path: Path) -> None:
    """A sale with nothing to pay (a 100 % discount) is no settlement: the register is
    not asked (it refuses a total that is not positive), the receipt is printed, and
    the sale's receipt is done, with no fiscal data."""
    kit = await tenant(live_hub)
    async with api(live_hub) as http, shop_devices() as (register, printer):
        milk = await stocked(http, kit, "89.90", "10")
        till = await Till(http, kit).open()
        async with running_agent(config_file(tmp_path, live_hub, kit, register.url, printer.url)):
            given = await till.sell(
                [{"product": milk, "quantity": "1"}], [], discount_percent="100"
            )
            assert given.status_code == 201, given.text
            sale = await settled(http, kit, given.json()["id"])
    assert (sale["receipt_status"], sale["fiscal"]) == ("done", None)
    assert register.register.receipts == []
    (printed,) = printer.state.receipts
    assert "89.90" in "\n".join(printed)
    assert not printer.state.drawer_kicks  # no cash


async def test_paper_out_holds_the_receipt_and_is_reported(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    kit = await tenant(live_hub)
    shop = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    async with api(live_hub) as http, shop_devices() as (register, printer):
        milk = await stocked(http, kit, "10.00", "10")
        till = await Till(http, kit).open()
        printer.state.paper_out = True
        async with (
            hub_client(live_hub, kit.members["manager"].token) as manager,
            running_agent(config_file(tmp_path, live_hub, kit, register.url, printer.url)),
        ):
            await manager.subscribe(shop)
            sold = await till.sell(
                [{"product": milk, "quantity": "1"}], [{"method": "card", "amount": "10"}]
            )
            statuses: list[dict[str, Any]] = []

            async def paper_reported() -> bool:
                while True:
                    event = await manager.events.get()
                    if event["type"] == "device.status":
                        statuses.append(event["payload"])
                        return True

            await asyncio.wait_for(paper_reported(), 20)
            held = await sale_of(http, kit, sold.json()["id"])
            printer.state.paper_out = False
            sale = await settled(http, kit, sold.json()["id"])
    assert statuses[0]["name"] == "receipts"
    assert statuses[0]["status"] == "paper_out"
    assert held["receipt_status"] == "pending"
    assert sale["receipt_status"] == "done"
    assert len(printer.state.receipts) == 1
    assert len(register.register.receipts) == 1  # fiscalised once, printed once


async def test_reports_made_while_the_hub_is_away_arrive_once(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    """The agent takes its jobs, loses the hub, works the jobs anyway (their results
    wait on its disk, in order), and delivers each result once when the hub is back."""
    kit = await tenant(live_hub)
    async with api(live_hub) as http, shop_devices() as (register, printer):
        milk = await stocked(http, kit, "10.00", "10")
        till = await Till(http, kit).open()
        sold = []
        for _ in range(3):
            made = await till.sell(
                [{"product": milk, "quantity": "1"}], [{"method": "card", "amount": "10"}]
            )
            sold.append(made.json()["id"])
        config = config_file(tmp_path, live_hub, kit, register.url, printer.url)
        printer.state.paper_out = True  # the jobs are taken and held
        async with running_agent(config) as agent:
            await wait_for(lambda: len(register.register.receipts) == 1, 20)
            assert len(await agent.store.open_jobs()) == 3
            # Made before any agent announced itself, the jobs are claimed on the hub
            # first; one not yet claimed when the hub goes away would wait for it.
            await _claimed(agent.store)
        # The hub is away: the agent is pointed at a port where nobody answers.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            nowhere = f"http://127.0.0.1:{probe.getsockname()[1]}"
        config.write_text(config.read_text().replace(live_hub.http, nowhere))
        printer.state.paper_out = False
        async with running_agent(config) as agent:
            await wait_for(lambda: len(printer.state.receipts) == 3, 20)
            # the last receipt is out; its report is written just after
            for _ in range(200):
                waiting = [e.type for e in await agent.store.pending()]
                if waiting.count("job.result") == 3:
                    break
                await asyncio.sleep(0.05)
        assert [(await sale_of(http, kit, s))["receipt_status"] for s in sold] == ["pending"] * 3
        config.write_text(config.read_text().replace(nowhere, live_hub.http))
        async with running_agent(config) as agent:
            sales = [await settled(http, kit, sale_id) for sale_id in sold]
            await wait_for(lambda: agent.link.connected.is_set(), 10)
            left = await _drained(agent.store)
    assert waiting.count("job.result") == 3
    assert [s["receipt_status"] for s in sales] == ["done"] * 3
    documents = [s["fiscal"]["document_number"] for s in sales]
    assert documents == sorted(documents)  # in the order of the sales
    assert len(set(documents)) == 3
    assert len(register.register.receipts) == 3
    assert len(printer.state.receipts) == 3  # nothing printed twice
    assert left == []


async def _claimed(store: AgentStore, tries: int = 400) -> None:
    """Until none of the agent's open jobs waits to be claimed on the hub."""
    for _ in range(tries):
        if not any(job.state.get(UNCLAIMED) for job in await store.open_jobs()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the agent's jobs were never claimed")


async def _drained(store: AgentStore, tries: int = 200) -> list[Any]:
    """The outbox once it is empty (or what is left after `tries` looks)."""
    for _ in range(tries):
        pending = await store.pending()
        if not pending:
            return pending
        await asyncio.sleep(0.05)
    return await store.pending()


async def test_a_serial_scanner_feeds_its_tills_cart(live_hub: LiveHub, tmp_path: Path) -> None:
    """Codes read by a scanner bound to a till arrive in that till's live cart, in order,
    once each; noise on the line is skipped."""
    kit = await tenant(live_hub)
    scanner = SimulatedScanner()
    await scanner.start()
    try:
        async with api(live_hub) as http:
            codes = [ean13() for _ in range(2)]
            for code in codes:
                made = await create_product(http, kit, price="10.00", barcodes=[code])
                await receive(http, kit, made["id"], "10", cost="5.00")
            till = await Till(http, kit).open()
            shift = await http.get(f"/api/sales/sessions/{till.shift}/", headers=kit.token("owner"))
            path = tmp_path / "edge.toml"
            path.write_text(
                f"""
[hub]
url = "{live_hub.http}"
token = "{kit.device_token}"

[agent]
data_dir = "{tmp_path / "data"}"

[[scanner]]
name = "till-scanner"
transport = "{scanner.url}"
cash_register = "{shift.json()["cash_register"]}"
""",
                encoding="utf-8",
            )
            async with running_agent(path) as agent:
                await wait_for(agent.link.connected.is_set, 10)
                await asyncio.sleep(0.3)  # the scanner's port is open
                scanner.scan(codes[0])
                scanner.send_raw(b"\x00\x07\xff\r\n")  # noise: skipped
                scanner.scan(codes[1])
                scanner.scan(codes[0])

                async def three_scans() -> bool:
                    listed = await http.get(
                        "/api/sales/carts/",
                        params={"status": "open"},
                        headers=kit.token("manager"),
                    )
                    carts = listed.json()["results"]
                    return bool(carts) and carts[0]["version"] == 4

                for _ in range(200):
                    if await three_scans():
                        break
                    await asyncio.sleep(0.05)
                listed = await http.get(
                    "/api/sales/carts/", params={"status": "open"}, headers=kit.token("manager")
                )
    finally:
        await scanner.stop()
    (cart,) = listed.json()["results"]
    assert cart["session"] == till.shift
    assert [(x["name"] != "", x["quantity"]) for x in cart["lines"]] == [
        (True, "2.000"),
        (True, "1.000"),
    ]
    assert cart["version"] == 4  # opened by the first scan (1), then three scans


async def test_a_drawer_opened_from_the_till(live_hub: LiveHub, tmp_path: Path) -> None:
    kit = await tenant(live_hub)
    async with (
        api(live_hub) as http,
        shop_devices() as (register, printer),
        running_agent(config_file(tmp_path, live_hub, kit, register.url, printer.url)),
    ):
        asked = await http.post(
            "/api/devices/jobs/",
            json={"kind": "open_drawer", "shop": kit.shop_id, "reason": "change"},
            headers=kit.token("cashier"),
        )
        assert asked.status_code == 201, asked.text
        await wait_for(lambda: len(printer.state.drawer_kicks) == 1, 20)
        for _ in range(100):
            listed = await http.get(
                "/api/devices/jobs/", params={"kind": "open_drawer"}, headers=kit.token("owner")
            )
            if listed.json()["results"][0]["status"] != "pending":
                break
            await asyncio.sleep(0.1)
    job = listed.json()["results"][0]
    assert (job["status"], job["result"]) == ("done", {"opened": True})
    assert printer.state.receipts == []  # nothing printed, no receipt made
    assert register.register.receipts == []


async def test_scans_made_while_the_hub_is_away_arrive_once_in_order(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    kit = await tenant(live_hub)
    scanner = SimulatedScanner()
    await scanner.start()
    try:
        async with api(live_hub) as http:
            codes = [ean13() for _ in range(2)]
            products = []
            for code in codes:
                made = await create_product(http, kit, price="10.00", barcodes=[code])
                await receive(http, kit, made["id"], "10")
                products.append(made["id"])
            till = await Till(http, kit).open()
            shift = await http.get(f"/api/sales/sessions/{till.shift}/", headers=kit.token("owner"))
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                nowhere = f"http://127.0.0.1:{probe.getsockname()[1]}"
            path = tmp_path / "edge.toml"
            path.write_text(
                f"""
[hub]
url = "{nowhere}"
token = "{kit.device_token}"

[agent]
data_dir = "{tmp_path / "data"}"
max_backoff_seconds = 0.5

[[scanner]]
name = "till-scanner"
transport = "{scanner.url}"
cash_register = "{shift.json()["cash_register"]}"
""",
                encoding="utf-8",
            )
            async with running_agent(path) as agent:  # the hub is away
                await asyncio.sleep(0.5)  # the scanner's port is open
                for code in (codes[0], codes[1], codes[0]):
                    scanner.scan(code)
                for _ in range(200):
                    kept = [e.payload["code"] for e in await agent.store.pending()]
                    if len(kept) == 3:
                        break
                    await asyncio.sleep(0.05)
            path.write_text(path.read_text().replace(nowhere, live_hub.http))
            async with running_agent(path) as agent:  # the hub is back
                for _ in range(200):
                    listed = await http.get(
                        "/api/sales/carts/", params={"status": "open"}, headers=kit.token("owner")
                    )
                    carts = listed.json()["results"]
                    if carts and carts[0]["version"] == 4:
                        break
                    await asyncio.sleep(0.05)
                left = await _drained(agent.store)
    finally:
        await scanner.stop()
    assert kept == [codes[0], codes[1], codes[0]]
    (cart,) = carts
    assert [(x["product"], x["quantity"]) for x in cart["lines"]] == [
        (products[0], "2.000"),
        (products[1], "1.000"),
    ]
    assert cart["version"] == 4  # opened by the first scan, then one version per scan
    assert left == []
