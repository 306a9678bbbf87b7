"""`pos-edge run` killed (SIGKILL) while the register is closing a receipt whose answer
never comes: the restarted agent asks the register, finds the receipt it made, and the
sale is fiscalised once and printed once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LiveHub
from tests.e2e.test_sales import Till, stocked
from tests.e2e.ws_support import api, tenant
from tests.edge.test_agent_e2e import config_file, sale_of, settled, shop_devices

POS_EDGE = Path(sys.executable).parent / "pos-edge"
CLOSE_RECEIPT = 0x85

pytestmark = pytest.mark.slow


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [str(POS_EDGE), "run", "--config", str(config), "--log-level", "debug"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


async def until(condition: object, what: str, wait: float = 30) -> None:
    for _ in range(int(wait / 0.05)):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_an_agent_killed_mid_receipt_fiscalises_it_once(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    kit = await tenant(live_hub)
    log = tmp_path / "agent.log"
    async with api(live_hub) as http, shop_devices() as (register, printer):
        milk = await stocked(http, kit, "45.50", "10")
        till = await Till(http, kit).open()
        # The register closes the receipt and then loses power before answering.
        register.lose_answer(CLOSE_RECEIPT, executed=True)
        config = config_file(tmp_path, live_hub, kit, register.url, printer.url)
        first = start_agent(config, log)
        try:
            sold = await till.sell(
                [{"product": milk, "quantity": "2"}], [{"method": "card", "amount": "91.00"}]
            )
            await until(lambda: len(register.register.receipts) == 1, "the receipt", 30)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        assert (await sale_of(http, kit, sold.json()["id"]))["receipt_status"] == "pending"
        assert printer.state.receipts == []
        second = start_agent(config, log)
        try:
            sale = await settled(http, kit, sold.json()["id"], wait=40)
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(10)
            except subprocess.TimeoutExpired:
                second.kill()
    (document,) = register.register.receipts  # fiscalised once
    assert sale["receipt_status"] == "done", log.read_text()[-3000:]
    assert sale["fiscal"]["document_number"] == document.number
    assert len(printer.state.receipts) == 1  # printed once
