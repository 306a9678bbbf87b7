"""The agent's devices, built from its config, behind the small ports the job runner
and the agent use: drivers raise their own errors, the runner knows only "not ready"
(hold and retry) and "refused" (fail the job)."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

from edge_agent.agent import Devices, ScannerFeed
from edge_agent.config import AgentConfig, FiscalSection, PrinterSection, ScannerSection
from edge_agent.drivers.escpos import Printer, PrinterConfig, PrinterError
from edge_agent.drivers.mqtt import BrokerUnavailable, CommandTimeout, MqttBridge
from edge_agent.drivers.scanner import ScannerConfig, SerialScanner
from edge_agent.drivers.shtrih import (
    FiscalLine,
    FiscalReceipt,
    FiscalRegister,
    FiscalResult,
    PaymentMethod,
    ReceiptKind,
    ReconcileConflict,
    ReconcileOutcome,
    RegisterOptions,
    UnmappedVatRate,
)
from edge_agent.drivers.shtrih_errors import (
    DeviceBusy,
    DeviceError,
    FiscalStorageError,
    NoPaper,
    PrintSuspended,
    ShiftExpired,
    ShiftNotOpen,
    ShtrihLinkError,
    WrongPassword,
)
from edge_agent.jobs import DeviceNotReady, DeviceRefused, TillDevices
from edge_agent.receipt import Fiscal, Receipt, ReceiptError

log = logging.getLogger("edge.devices")


def receipt_of(job: dict[str, Any], fiscal: dict[str, Any] | None) -> Receipt:
    """The job's receipt, with the register's fiscal data when there is some; a
    document the agent cannot read fails the job (retrying would not help)."""
    try:
        receipt = Receipt.from_job(job)
        return receipt if fiscal is None else receipt.with_fiscal(Fiscal.from_json(fiscal))
    except ReceiptError as exc:
        raise DeviceRefused(f"unreadable receipt: {exc}", "unreadable_receipt") from exc


class PrinterDevice:
    """An ESC/POS printer as the job runner sees it."""

    def __init__(self, section: PrinterSection) -> None:
        self.section = section
        self.name = section.name
        self.printer = Printer(PrinterConfig.from_mapping(section.driver_settings()))
        self.last_status = "unknown"

    async def print_receipt(
        self, job: dict[str, Any], fiscal: dict[str, Any] | None, *, copy: bool = False
    ) -> None:
        receipt = receipt_of(job, fiscal)
        receipt = replace(receipt, copy=True) if copy else receipt
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
        } | _bound_to(self.section.cash_register)


_STATUSES = ("online", "offline", "paper_out", "cover_open", "error", "unknown")


def _bound_to(till: uuid.UUID | None) -> dict[str, str]:
    """The till a device is bound to, as the announcement says it (the hub routes each
    till's jobs to the agent that serves it)."""
    return {} if till is None else {"cash_register": str(till)}


# The hub's payment methods the register knows by their own name; credit, bonus points
# and prepaid balance are all "other" to it.
_REGISTER_METHODS = {"cash": PaymentMethod.CASH, "card": PaymentMethod.CARD}


def fiscal_receipt(receipt: Receipt) -> FiscalReceipt:
    """The receipt as the register registers it: lines at their prices, every discount
    as one amount off the receipt (the register spreads it), cash as tendered."""
    payments: dict[PaymentMethod, Decimal] = {}
    for method, amount in receipt.payments.items():
        kind = _REGISTER_METHODS.get(method, PaymentMethod.OTHER)
        taken = receipt.tendered_cash if kind is PaymentMethod.CASH else amount
        payments[kind] = payments.get(kind, Decimal(0)) + taken
    return FiscalReceipt(
        kind=ReceiptKind.RETURN if receipt.operation == "return" else ReceiptKind.SALE,
        lines=[
            FiscalLine(
                name=line.name,
                quantity=line.quantity,
                price=line.price,
                vat="none" if line.vat_rate is None else format(line.vat_rate.normalize(), "f"),
            )
            for line in receipt.lines
        ],
        payments=payments,
        discount=receipt.discount_total,
    )


def hub_fiscal(result: FiscalResult, receipt: Receipt) -> dict[str, Any]:
    """What the register registered, as the hub stores it on the sale. The register's
    clock has no time zone: it is the shop's."""
    issued = result.issued_at
    registered = receipt.time if issued is None else issued.replace(tzinfo=receipt.time.tzinfo)
    return {
        "document_number": result.document_number,
        "fiscal_sign": result.fiscal_sign_text,
        "registered_at": registered.isoformat(),
        "shift_number": result.shift_number,
        "storage_serial": result.fn_number,
    }


class FiscalDevice:
    """A Shtrih-M register as the job runner sees it; connected on first use and again
    after the link was lost."""

    def __init__(self, section: FiscalSection) -> None:
        self.section = section
        self.name = section.name
        self._register: FiscalRegister | None = None
        self.last_status = "unknown"

    async def _connected(self) -> FiscalRegister:
        if self._register is None:
            options = RegisterOptions(
                password=self.section.password, tax_groups=self.section.tax_groups
            )
            self._register = await FiscalRegister.connect(self.section.transport, options)
        return self._register

    async def close(self) -> None:
        await self._drop()

    async def _drop(self) -> None:
        if self._register is not None:
            with contextlib.suppress(Exception):
                await self._register.close()
            self._register = None

    async def last_document_number(self) -> int:
        try:
            return await (await self._connected()).last_document_number()
        except ShtrihLinkError:
            await self._drop()
            raise
        except DeviceError as exc:
            # Before a receipt is opened: whatever the register says, it is the device's
            # trouble (a wrong password, a failing fiscal storage), not this receipt's.
            raise self._out_of_order(exc) from exc

    async def fiscalise(self, job: dict[str, Any]) -> dict[str, Any]:
        receipt = receipt_of(job, None)
        register = await self._connected()
        try:
            try:
                result = await register.fiscalise(fiscal_receipt(receipt))
            except ShiftNotOpen:
                # Nothing was registered; a new day's first receipt opens the shift.
                await register.open_shift()
                result = await register.fiscalise(fiscal_receipt(receipt))
        except ShtrihLinkError:
            await self._drop()
            raise
        except DeviceError as exc:
            raise self._refusal(exc) from exc
        except UnmappedVatRate as exc:  # raised before anything is sent
            raise DeviceRefused(
                f"{exc}: give the rate its tax group in [[fiscal]] {self.name} tax_groups",
                "vat_rate_unmapped",
            ) from exc
        except ValueError as exc:  # the register could not take it: nothing was sent
            raise DeviceRefused(f"the register cannot take it: {exc}", "receipt_refused") from exc
        self.last_status = "online"
        return hub_fiscal(result, receipt)

    async def completed_since(self, before: int, job: dict[str, Any]) -> dict[str, Any] | None:
        receipt = receipt_of(job, None)
        try:
            found = await (await self._connected()).reconcile(before, fiscal_receipt(receipt))
        except ShtrihLinkError:
            await self._drop()
            raise
        except ReconcileConflict as exc:
            raise DeviceRefused(
                f"the register holds other receipts since: {exc}", exc.reason
            ) from exc
        except DeviceError as exc:
            # Asking cannot be skipped: the job waits until the register answers.
            raise self._out_of_order(exc) from exc
        if found.outcome is ReconcileOutcome.COMPLETED and found.result is not None:
            return hub_fiscal(found.result, receipt)
        return None

    def _refusal(self, exc: DeviceError) -> DeviceNotReady | DeviceRefused:
        """Paper and an over-long shift wait for a person at the till, and so does a
        register out of order; anything else it refused fails the job with its reason
        (it registered nothing, and cancelled what it had opened)."""
        name = self.name
        if isinstance(exc, NoPaper | PrintSuspended):
            self.last_status = "paper_out"
            return DeviceNotReady(name, "paper_out", str(exc))
        if isinstance(exc, DeviceBusy):
            return DeviceNotReady(name, "online", "busy printing")
        if isinstance(exc, ShiftExpired):
            self.last_status = "error"
            return DeviceNotReady(name, "error", "the shift is over 24 hours: run a Z-report")
        if isinstance(exc, WrongPassword | FiscalStorageError):
            return self._out_of_order(exc)
        return DeviceRefused(f"{exc.reason}: {exc}", exc.reason)

    def _out_of_order(self, exc: DeviceError) -> DeviceNotReady:
        """The register cannot register any receipt until a person sees to it (its
        password in the config, its fiscal storage): hold the till's receipts and say
        why in the device's status."""
        self.last_status = "error"
        detail = str(exc)
        if isinstance(exc, WrongPassword):
            detail = f"wrong password: check [[fiscal]] {self.name} password ({exc})"
        return DeviceNotReady(self.name, "error", detail[:200])

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.section.name,
            "kind": "fiscal",
            "model": "shtrih-m",
            "transport": self.section.transport,
            "status": self.last_status,
        } | _bound_to(self.section.cash_register)


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


class MqttDisplay:
    """The customer displays on the shop's broker, as the job runner sees them."""

    def __init__(self, bridge: MqttBridge) -> None:
        self.bridge = bridge

    async def show(self, lines: list[str], device: str | None) -> None:
        name = device or next(
            (d["name"] for d in self.bridge.describe() if d.get("kind") == "display"), None
        )
        if name is None:
            raise DeviceRefused("no customer display on the broker", "no_device")
        try:
            answer = await self.bridge.show(name, lines)
        except CommandTimeout as exc:
            raise DeviceNotReady(name, "offline", str(exc)) from exc
        except BrokerUnavailable as exc:
            raise DeviceNotReady("mqtt", "offline", str(exc)) from exc
        except ValueError as exc:
            raise DeviceRefused(str(exc), "display_refused") from exc
        if not answer.ok:
            raise DeviceRefused(f"{name}: {answer.error}", "display_refused")


def build(config: AgentConfig) -> Devices:
    """The devices of a config: each till's receipts go to the printer and the fiscal
    register bound to it (`cash_register`), or else to the unbound ones."""
    printers = [PrinterDevice(section) for section in config.printer]
    registers = [FiscalDevice(section) for section in config.fiscal]
    printer_of = {p.section.cash_register: p for p in printers}
    register_of = {r.section.cash_register: r for r in registers}
    printer, fiscal = printer_of.get(None), register_of.get(None)
    tills = {}
    for till in (set(printer_of) | set(register_of)) - {None}:
        bound_printer = printer_of.get(till, printer)
        tills[str(till)] = TillDevices(
            fiscal=register_of.get(till, fiscal),
            printer=bound_printer,
            drawer=bound_printer is not None and bound_printer.section.drawer,
        )
    scanners = [scanner_feed(section) for section in config.scanner]
    # The broker's scanners and displays: one connection, run by the agent as a part.
    bridge = None if config.mqtt is None else MqttBridge(config.mqtt.bridge_config())

    def describe() -> list[dict[str, Any]]:
        found = [p.describe() for p in printers] + [r.describe() for r in registers]
        found += [
            {"name": s.name, "kind": "scanner", "transport": s.transport, "status": "online"}
            for s in config.scanner
        ]
        if bridge is not None:
            found += bridge.describe()
        return found

    return Devices(
        display=None if bridge is None else MqttDisplay(bridge),
        fiscal=fiscal,
        printer=printer,
        drawer=printer is not None and printer.section.drawer,
        tills=tills,
        scanners=scanners,
        describe=describe,
        extra=[] if bridge is None else [bridge.run],
    )
