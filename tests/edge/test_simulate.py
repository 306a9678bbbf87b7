"""`pos-edge simulate`: a simulated shop, linked to a real hub, for the demo — a code
typed on its standard input lands in the till's cart, and a sale's receipt is
fiscalised and printed on its standard output."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LiveHub
from tests.e2e.test_sales import Till
from tests.e2e.ws_support import api, tenant
from tests.edge.test_agent_e2e import settled
from tests.helpers import create_product, ean13, receive

POS_EDGE = Path(sys.executable).parent / "pos-edge"

pytestmark = pytest.mark.slow


def start_shop(
    hub: str, token: str, data_dir: Path, till: str, out: Path
) -> subprocess.Popen[bytes]:
    with out.open("wb") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [str(POS_EDGE), "simulate", "--hub", hub, "--token", token,
             "--data-dir", str(data_dir), "--cash-register", till],
            stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip


async def test_a_simulated_shop(live_hub: LiveHub, tmp_path: Path) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        code = ean13()
        made = await create_product(http, kit, price="12.30", barcodes=[code], name="Кефир")
        await receive(http, kit, made["id"], "10")
        till = await Till(http, kit).open()
        shift = await http.get(f"/api/sales/sessions/{till.shift}/", headers=kit.token("owner"))
        output = tmp_path / "out.txt"
        shop = start_shop(
            live_hub.http, kit.device_token, tmp_path / "sim", shift.json()["cash_register"], output
        )
        try:
            assert shop.stdin is not None
            lines: list[dict[str, str]] = []
            for _ in range(300):  # until the shop is up and the scan has landed
                if not lines:
                    shop.stdin.write(f"{code}\n".encode())
                    shop.stdin.flush()
                await asyncio.sleep(0.1)
                listed = await http.get(
                    "/api/sales/carts/", params={"status": "open"}, headers=kit.token("owner")
                )
                carts = listed.json()["results"]
                lines = carts[0]["lines"] if carts else []
                if lines:
                    break
            sold = await till.sell(
                [{"product": made["id"], "quantity": "1"}], [{"method": "cash", "amount": "20"}]
            )
            sale = await settled(http, kit, sold.json()["id"], wait=30)
            for _ in range(100):
                if "12.30" in output.read_text(errors="replace"):
                    break
                await asyncio.sleep(0.1)
        finally:
            assert shop.stdin is not None
            shop.stdin.close()
            shop.send_signal(signal.SIGINT)
            try:
                shop.wait(10)
            except subprocess.TimeoutExpired:
                shop.kill()
                shop.wait(10)
    assert lines[0]["product"] == made["id"]
    assert sale["receipt_status"] == "done"
    printed = output.read_text(errors="replace")
    assert "Кефир" in printed
    assert str(sale["fiscal"]["document_number"]) in printed
