"""`pos-edge simulate`: a whole simulated shop for the demo — an ESC/POS printer, a
Shtrih-M register and a barcode scanner on pty pairs, driven by a real agent linked to
the hub. Codes typed on standard input are "scanned" into the till's cart; every sale's
receipt is fiscalised by the simulated register and printed on standard output."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import uuid
from pathlib import Path

from edge_agent import config as agent_config
from edge_agent import devices
from edge_agent.agent import Agent
from edge_agent.link import TokenRefused
from edge_agent.simulators.printer import SimulatedPrinter
from edge_agent.simulators.scanner import SimulatedScanner
from edge_agent.simulators.shtrih import ShtrihSimulator
from edge_agent.store import AgentStore

log = logging.getLogger("edge.simulate")


def shop_config(
    hub: str,
    token: str,
    data_dir: Path,
    printer: SimulatedPrinter,
    register: ShtrihSimulator,
    scanner: SimulatedScanner | None,
    cash_register: uuid.UUID | None,
) -> agent_config.AgentConfig:
    document: dict[str, object] = {
        "hub": {"url": hub, "token": token},
        "agent": {"data_dir": str(data_dir), "retry_seconds": 1.0},
        "printer": [{"name": "receipts", "transport": printer.url, "drawer": True}],
        "fiscal": [{"name": "kkt", "transport": register.url}],
    }
    if scanner is not None and cash_register is not None:
        document["scanner"] = [
            {"name": "scanner", "transport": scanner.url, "cash_register": str(cash_register)}
        ]
    return agent_config.AgentConfig.model_validate(document)


async def _print_receipts(printer: SimulatedPrinter) -> None:
    shown = 0
    while True:
        await asyncio.sleep(0.2)
        for receipt in printer.state.receipts[shown:]:
            print("\n".join(["-" * 42, *receipt, "-" * 42]), flush=True)
        shown = len(printer.state.receipts)


async def _scan_from_stdin(scanner: SimulatedScanner) -> None:
    # Read through the event loop, not a thread: a blocked thread would keep the
    # process from stopping on Ctrl-C.
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        code = line.decode("utf-8", errors="replace").strip()
        if code:
            scanner.scan(code)


async def simulate(hub: str, token: str, data_dir: Path, cash_register: uuid.UUID | None) -> None:
    printer, register = SimulatedPrinter(), ShtrihSimulator()
    scanner = SimulatedScanner() if cash_register is not None else None
    await printer.start()
    await register.start()
    if scanner is not None:
        await scanner.start()
    config = shop_config(hub, token, data_dir, printer, register, scanner, cash_register)
    store = await AgentStore(data_dir / "agent.db").open()
    agent = Agent(
        hub_url=config.hub.websocket_url,
        token=token,
        store=store,
        devices=devices.build(config),
        retry_seconds=config.agent.retry_seconds,
    )
    log.info("printer %s, register %s", printer.url, register.url)
    parts = [agent.run(), _print_receipts(printer)]
    if scanner is not None:
        log.info("scanner %s: type a barcode and Enter to scan it", scanner.url)
        parts.append(_scan_from_stdin(scanner))
    try:
        await asyncio.gather(*parts)
    finally:
        await store.close()
        if scanner is not None:
            await scanner.stop()
        await register.stop()
        await printer.stop()


def run(hub: str, token: str, data_dir: Path, cash_register: uuid.UUID | None) -> int:
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            asyncio.run(simulate(hub, token, data_dir, cash_register))
    except TokenRefused as exc:
        print(f"pos-edge simulate: {exc}", file=sys.stderr)
        return 3
    return 0
