"""The state of a simulated Shtrih-M register and its answers to commands; no I/O here.

It keeps what a real register with a fiscal storage would: the mode (shift open, closed,
expired, a receipt open), the shift numbers, the running document number, the fiscal
storage's documents with their fiscal signs, the open receipt with its items and totals,
and whether paper is loaded. `answer(payload)` takes a command's payload and returns the
answer's payload; `ShtrihSimulator` carries both over a serial line.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from edge_agent.drivers.shtrih_frames import (
    DEFAULT_PASSWORD,
    FLAG_RECEIPT_PAPER,
    FLAG_RECEIPT_ROLL,
    Command,
    FnDocumentType,
    FnOperation,
    FrameError,
    Mode,
    ReceiptType,
    command_bytes,
    read_uint,
    split_command,
    uint,
)

OPERATOR = 30  # the operator number the register answers with
DECIMAL_POINT_FLAG = 1 << 4  # prices carry two digits after the point

# Error codes the simulator answers with (their meaning: shtrih_errors.DEVICE_ERRORS).
E_FN_NO_DATA = 0x08
E_BAD_PARAMETERS = 0x33
E_NOT_SUPPORTED = 0x37
E_SHIFT_OPEN = 0x3C
E_SHIFT_NOT_OPEN = 0x3D
E_PAYMENT_SHORT = 0x45
E_WRONG_RECEIPT_TYPE = 0x49
E_RECEIPT_OPEN = 0x4A
E_CASHLESS_OVER_TOTAL = 0x4D
E_SHIFT_EXPIRED = 0x4E
E_WRONG_PASSWORD = 0x4F
E_RECEIPT_CLOSED = 0x55
E_DISCOUNT_OVER_TOTAL = 0x5A
E_NO_PAPER = 0x6B
E_ZERO_TOTAL = 0x8E


class Refusal(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"error {code:#04x}")
        self.code = code


@dataclass(frozen=True)
class SimulatedItem:
    returning: bool
    quantity_thousandths: int
    price_kopecks: int
    department: int
    tax_group: int
    text: str

    @property
    def amount_kopecks(self) -> int:
        # Half up to the kopeck, like the driver's ReceiptLine.amount.
        return (self.quantity_thousandths * self.price_kopecks + 500) // 1000


@dataclass
class SimulatedReceipt:
    receipt_type: ReceiptType
    items: list[SimulatedItem] = field(default_factory=list)
    discount_kopecks: int = 0

    @property
    def total_kopecks(self) -> int:
        return sum(item.amount_kopecks for item in self.items) - self.discount_kopecks


@dataclass(frozen=True)
class SimulatedDocument:
    """A fiscal document in the simulated fiscal storage."""

    number: int
    document_type: FnDocumentType
    fiscal_sign: int
    issued_at: dt.datetime
    shift_number: int | None = None
    operation: FnOperation | None = None
    total_kopecks: int | None = None
    items: tuple[SimulatedItem, ...] = ()
    payments_kopecks: tuple[int, int, int, int] = (0, 0, 0, 0)
    change_kopecks: int = 0

    @property
    def total(self) -> Decimal | None:
        return None if self.total_kopecks is None else Decimal(self.total_kopecks).scaleb(-2)


class SimulatedRegister:
    """A register that is fiscalised and has a fiscal storage holding its registration
    report as document 1."""

    def __init__(
        self,
        *,
        password: int = DEFAULT_PASSWORD,
        fn_number: str = "9999078902004321",
        serial_number: int = 12345678,
        last_closed_shift: int = 0,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.password = password
        self.fn_number = fn_number
        self.serial_number = serial_number
        self.clock = clock or (lambda: dt.datetime.now().replace(second=0, microsecond=0))
        self.paper = True
        self.shift_open = False
        self.shift_expired = False  # set by a test: the open shift is older than 24 hours
        self.last_closed_shift = last_closed_shift
        self.document_number = 0  # every printed document, fiscal or not
        self.receipt: SimulatedReceipt | None = None
        self.cancelled_receipts = 0
        self.x_reports = 0
        self.executed: list[int] = []  # commands executed, in order, errors included
        self.documents: list[SimulatedDocument] = []
        self.on_document: Callable[[SimulatedDocument], None] | None = None  # e.g. to log
        self._register(FnDocumentType.REGISTRATION)
        self._handlers: dict[int, Callable[[bytes], bytes]] = {
            Command.SHORT_STATE: self._short_state,
            Command.LONG_STATE: self._long_state,
            Command.OPEN_SHIFT: self._open_shift,
            Command.OPEN_RECEIPT: self._open_receipt,
            Command.SALE: self._item,
            Command.RETURN_SALE: self._item,
            Command.DISCOUNT: self._discount,
            Command.CLOSE_RECEIPT: self._close_receipt,
            Command.CANCEL_RECEIPT: self._cancel_receipt,
            Command.X_REPORT: self._x_report,
            Command.Z_REPORT: self._z_report,
            Command.FN_STATUS: self._fn_status,
            Command.FN_FIND_DOCUMENT: self._fn_find_document,
        }
        self._command = 0

    # --- inspection ----------------------------------------------------------------------

    @property
    def receipts(self) -> list[SimulatedDocument]:
        return [d for d in self.documents if d.document_type == FnDocumentType.RECEIPT]

    @property
    def last_fiscal_document(self) -> int:
        return self.documents[-1].number

    @property
    def shift_number(self) -> int:
        return self.last_closed_shift + (1 if self.shift_open else 0)

    @property
    def mode_byte(self) -> int:
        if self.receipt is not None:
            return Mode.RECEIPT_OPEN | self.receipt.receipt_type << 4
        if self.shift_open:
            return Mode.SHIFT_EXPIRED if self.shift_expired else Mode.SHIFT_OPEN
        return Mode.SHIFT_CLOSED

    @property
    def flags(self) -> int:
        paper = FLAG_RECEIPT_PAPER | FLAG_RECEIPT_ROLL if self.paper else 0
        return paper | DECIMAL_POINT_FLAG

    # --- commands --------------------------------------------------------------------------

    def answer(self, payload: bytes) -> bytes:
        """The answer payload (command echo, error code, data) to a command's payload."""
        try:
            command, data = split_command(payload)
        except FrameError:
            return bytes([payload[0] if payload else 0, E_BAD_PARAMETERS])
        self._command = command
        self.executed.append(command)
        handler = self._handlers.get(command)
        try:
            if handler is None:
                raise Refusal(E_NOT_SUPPORTED)
            if len(data) < 4:
                raise Refusal(E_BAD_PARAMETERS)
            if read_uint(data[:4]) != self.password:
                raise Refusal(E_WRONG_PASSWORD)
            result = handler(data[4:])
        except Refusal as refusal:
            return command_bytes(command) + bytes([refusal.code])
        return command_bytes(command) + b"\x00" + result

    def _short_state(self, _: bytes) -> bytes:
        operations = len(self.receipt.items) if self.receipt else 0
        return (
            bytes([OPERATOR])
            + uint(self.flags, 2)
            + bytes([self.mode_byte, self._submode, operations & 0xFF, 0xC0, 0xB0, 0, 0])
            + bytes([operations >> 8, 0, 0, 0])
        )

    def _long_state(self, _: bytes) -> bytes:
        now = self.clock()
        return (
            bytes([OPERATOR])
            + b"C1"  # firmware version
            + uint(3002, 2)  # build
            + bytes([1, 6, 24])  # firmware date, DMY
            + bytes([1])  # number in the hall
            + uint(self.document_number & 0xFFFF, 2)
            + uint(self.flags, 2)
            + bytes([self.mode_byte, self._submode, 1])  # mode, submode, port
            + b"10"  # fiscal memory firmware version
            + uint(3002, 2)
            + bytes([1, 6, 24])
            + bytes([now.day, now.month, now.year - 2000, now.hour, now.minute, now.second])
            + bytes([0x03])  # fiscal memory flags
            + uint(self.serial_number, 4)
            + uint(self.last_closed_shift, 2)
            + uint(1000, 2)  # free shift records
            + bytes([1, 11])  # registrations made and left
            + uint(7701234567, 6)  # taxpayer number (INN)
        )

    def _open_shift(self, _: bytes) -> bytes:
        self._needs_paper()
        if self.receipt is not None:
            raise Refusal(E_RECEIPT_OPEN)
        if self.shift_open:
            raise Refusal(E_SHIFT_OPEN)
        self.shift_open = True
        self.shift_expired = False
        self.document_number += 1
        self._register(FnDocumentType.SHIFT_OPEN, shift_number=self.shift_number)
        return bytes([OPERATOR])

    def _open_receipt(self, data: bytes) -> bytes:
        if len(data) < 1 or data[0] > ReceiptType.RETURN_BUY:
            raise Refusal(E_BAD_PARAMETERS)
        self._needs_open_shift()
        if self.receipt is not None:
            raise Refusal(E_RECEIPT_OPEN)
        self.receipt = SimulatedReceipt(ReceiptType(data[0]))
        return bytes([OPERATOR])

    def _item(self, data: bytes) -> bytes:
        if len(data) < 55:
            raise Refusal(E_BAD_PARAMETERS)
        returning = self._command == Command.RETURN_SALE
        wanted = ReceiptType.RETURN_SALE if returning else ReceiptType.SALE
        self._needs_open_shift()
        quantity, price = read_uint(data[0:5]), read_uint(data[5:10])
        if quantity == 0:
            raise Refusal(E_BAD_PARAMETERS)
        if self.receipt is None:
            self.receipt = SimulatedReceipt(wanted)  # a sale opens a receipt by itself
        elif self.receipt.receipt_type != wanted:
            raise Refusal(E_WRONG_RECEIPT_TYPE)
        text = data[15:55].rstrip(b"\x00").decode("cp1251", errors="replace")
        self.receipt.items.append(
            SimulatedItem(returning, quantity, price, data[10], data[11], text)
        )
        return bytes([OPERATOR])

    def _discount(self, data: bytes) -> bytes:
        receipt = self._needs_receipt()
        self._needs_paper()
        amount = read_uint(data[0:5])
        if amount > receipt.total_kopecks:
            raise Refusal(E_DISCOUNT_OVER_TOTAL)
        receipt.discount_kopecks += amount
        return bytes([OPERATOR])

    def _close_receipt(self, data: bytes) -> bytes:
        receipt = self._needs_receipt()
        self._needs_paper()
        if len(data) < 20:
            raise Refusal(E_BAD_PARAMETERS)
        sums = tuple(read_uint(data[i : i + 5]) for i in range(0, 20, 5))
        payments = (sums[0], sums[1], sums[2], sums[3])
        total = receipt.total_kopecks
        if total <= 0:
            raise Refusal(E_ZERO_TOTAL)
        if sum(payments) < total:
            raise Refusal(E_PAYMENT_SHORT)
        if sum(payments[1:]) > total:
            raise Refusal(E_CASHLESS_OVER_TOTAL)
        change = sum(payments) - total
        returning = receipt.receipt_type == ReceiptType.RETURN_SALE
        self.receipt = None
        self.document_number += 1
        self._register(
            FnDocumentType.RECEIPT,
            operation=FnOperation.INCOME_RETURN if returning else FnOperation.INCOME,
            total_kopecks=total,
            items=tuple(receipt.items),
            payments_kopecks=payments,
            change_kopecks=change,
        )
        return bytes([OPERATOR]) + uint(change, 5)

    def _cancel_receipt(self, _: bytes) -> bytes:
        self._needs_receipt()
        self.receipt = None
        self.cancelled_receipts += 1
        self.document_number += 1
        return bytes([OPERATOR])

    def _x_report(self, _: bytes) -> bytes:
        self._needs_paper()
        if self.receipt is not None:
            raise Refusal(E_RECEIPT_OPEN)
        self.x_reports += 1
        self.document_number += 1
        return bytes([OPERATOR])

    def _z_report(self, _: bytes) -> bytes:
        self._needs_paper()
        if self.receipt is not None:
            raise Refusal(E_RECEIPT_OPEN)
        if not self.shift_open:
            raise Refusal(E_SHIFT_NOT_OPEN)
        number = self.shift_number
        self.shift_open = False
        self.shift_expired = False
        self.last_closed_shift = number
        self.document_number += 1
        self._register(FnDocumentType.SHIFT_CLOSE, shift_number=number)
        return bytes([OPERATOR])

    def _fn_status(self, _: bytes) -> bytes:
        now = self.clock()
        current = 0x04 if self.receipt is not None else 0x00
        return (
            bytes([0x03, current, 0, 1 if self.shift_open else 0, 0])
            + bytes([now.year - 2000, now.month, now.day, now.hour, now.minute])
            + self.fn_number.encode("ascii").ljust(16, b" ")[:16]
            + uint(self.last_fiscal_document, 4)
        )

    def _fn_find_document(self, data: bytes) -> bytes:
        if len(data) < 4:
            raise Refusal(E_BAD_PARAMETERS)
        number = read_uint(data[:4])
        found = next((d for d in self.documents if d.number == number), None)
        if found is None:
            raise Refusal(E_FN_NO_DATA)
        when = found.issued_at
        body = (
            bytes([when.year - 2000, when.month, when.day, when.hour, when.minute])
            + uint(found.number, 4)
            + uint(found.fiscal_sign, 4)
        )
        if found.operation is not None and found.total_kopecks is not None:
            body += bytes([found.operation]) + uint(found.total_kopecks, 5)
        elif found.shift_number is not None:
            body += uint(found.shift_number, 2)
        return bytes([found.document_type, 0]) + body

    # --- rules ----------------------------------------------------------------------------

    @property
    def _submode(self) -> int:
        return 0 if self.paper else 1  # 1: out of paper, nothing being printed

    def _needs_paper(self) -> None:
        if not self.paper:
            raise Refusal(E_NO_PAPER)

    def _needs_open_shift(self) -> None:
        self._needs_paper()
        if not self.shift_open:
            raise Refusal(E_SHIFT_NOT_OPEN)
        if self.shift_expired:
            raise Refusal(E_SHIFT_EXPIRED)

    def _needs_receipt(self) -> SimulatedReceipt:
        if self.receipt is None:
            raise Refusal(E_RECEIPT_CLOSED)
        return self.receipt

    def _register(
        self,
        document_type: FnDocumentType,
        *,
        shift_number: int | None = None,
        operation: FnOperation | None = None,
        total_kopecks: int | None = None,
        items: tuple[SimulatedItem, ...] = (),
        payments_kopecks: tuple[int, int, int, int] = (0, 0, 0, 0),
        change_kopecks: int = 0,
    ) -> None:
        number = len(self.documents) + 1
        # Deterministic, so that two runs of a test see the same signs.
        sign = zlib.crc32(f"{self.fn_number}/{number}".encode()) or 1
        self.documents.append(
            SimulatedDocument(
                number,
                document_type,
                sign,
                self.clock(),
                shift_number=shift_number,
                operation=operation,
                total_kopecks=total_kopecks,
                items=items,
                payments_kopecks=payments_kopecks,
                change_kopecks=change_kopecks,
            )
        )
        if self.on_document is not None:
            self.on_document(self.documents[-1])
