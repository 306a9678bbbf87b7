"""The agent's devices, built from its config, behind the small ports the job runner
and the agent use: drivers raise their own errors, the runner knows only "not ready"
(hold and retry) and "refused" (fail the job)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from edge_agent.agent import Devices, ScannerFeed
from edge_agent.config import AgentConfig, PrinterSection, ScannerSection
from edge_agent.drivers.escpos import Printer, PrinterConfig, PrinterError
from edge_agent.drivers.scanner import ScannerConfig, SerialScanner
from edge_agent.jobs import DeviceNotReady, DeviceRefused
from edge_agent.receipt import Fiscal, Receipt, ReceiptError

log = logging.getLogger("edge.devices")


def receipt_of(job: dict[str, Any], fiscal: dict[str, Any] | None) -> Receipt:
    """The job's receipt, with the register's fiscal data when there is some; a
    document the agent cannot read fails the job (retrying would not help)."""
    try:
        receipt = Receipt.from_job(job)
        return receipt if fiscal is None else receipt.with_fiscal(Fiscal.from_json(fiscal))
    except ReceiptError as exc:
        raise DeviceRefused(f"unreadable receipt: {exc}") from exc


class PrinterDevice:
    """An ESC/POS printer as the job runner sees it."""

    def __init__(self, section: PrinterSection) -> None:
        self.section = section
        settings = section.model_dump(exclude={"name"}, exclude_none=True)
        self.printer = Printer(PrinterConfig.from_mapping({**settings, "name": section.name}))
        self.last_status = "unknown"

    async def print_receipt(self, job: dict[str, Any], fiscal: dict[str, Any] | None) -> None:
        receipt = receipt_of(job, fiscal)
        try:
            # The runner kicks the drawer itself, once the receipt is on record.
            await self.printer.print_receipt(receipt, open_drawer=False)
        except PrinterError as exc:
            self.last_status = exc.status.condition
            raise DeviceNotReady(self.section.name, exc.status.condition, str(exc)) from exc
        self.last_status = "online"

    async def open_drawer(self) -> None:
        try:
            await self.printer.open_drawer()
        except PrinterError as exc:
            raise DeviceNotReady(self.section.name, exc.status.condition, str(exc)) from exc

    def describe(self) -> dict[str, Any]:
        status = self.last_status if self.last_status in _STATUSES else "error"
        return {
            "name": self.section.name,
            "kind": "printer",
            "model": self.section.model,
            "transport": self.section.transport,
            "status": status,
        }


_STATUSES = ("online", "offline", "paper_out", "cover_open", "error", "unknown")


def scanner_feed(section: ScannerSection) -> ScannerFeed:
    config = ScannerConfig.from_mapping(
        {"transport": section.transport, "name": section.name, "suffix": section.suffix}
    )

    async def codes() -> AsyncIterator[str]:
        scanner = SerialScanner(config)
        try:
            async for code in scanner:
                yield code
        finally:
            await scanner.close()

    return ScannerFeed(section.name, str(section.cash_register), codes)


def build(config: AgentConfig) -> Devices:
    """The devices of a config: the first printer and fiscal register take receipts."""
    printers = [PrinterDevice(section) for section in config.printer]
    printer = printers[0] if printers else None
    scanners = [scanner_feed(section) for section in config.scanner]

    def describe() -> list[dict[str, Any]]:
        found = [p.describe() for p in printers]
        found += [
            {"name": s.name, "kind": "scanner", "transport": s.transport, "status": "online"}
            for s in config.scanner
        ]
        return found

    return Devices(
        printer=printer,
        drawer=bool(printer and config.printer[0].drawer),
        scanners=scanners,
        describe=describe,
    )
