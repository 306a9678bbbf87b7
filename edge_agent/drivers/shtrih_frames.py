"""Shtrih-M frames: the bytes of each command and the parsing of each answer. No I/O here.

A frame is `STX, length, command, data, LRC`: `length` counts the command and data bytes,
the command is one byte, or two (`FF xx`) for the fiscal storage's extended commands, and
the LRC is the XOR of the length, command and data bytes. An answer frame has the same
shape; its data starts with the error code (0 = success).

Numbers are little-endian; money goes in kopecks and quantities in thousandths, 5 bytes
each; texts are CP1251, padded with NULs to their field.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, replace
from decimal import Decimal

STX = 0x02
ENQ = 0x05
ACK = 0x06
NAK = 0x15

DEFAULT_PASSWORD = 30  # the system administrator's factory password
TEXT_BYTES = 40  # the text field of item, discount and close-receipt commands
TEXT_ENCODING = "cp1251"
MAX_PAYLOAD = 255  # the length byte


class FrameError(ValueError):
    """Bytes that are not a well-formed frame."""


class Command(enum.IntEnum):
    SHORT_STATE = 0x10
    LONG_STATE = 0x11
    X_REPORT = 0x40
    Z_REPORT = 0x41
    SALE = 0x80
    RETURN_SALE = 0x82
    CLOSE_RECEIPT = 0x85
    DISCOUNT = 0x86
    CANCEL_RECEIPT = 0x88
    OPEN_RECEIPT = 0x8D
    OPEN_SHIFT = 0xE0
    FN_STATUS = 0xFF01
    FN_FIND_DOCUMENT = 0xFF0A


# Commands that print: the register answers only when it is done, so they get the longer wait.
PRINTING_COMMANDS = frozenset(
    {
        Command.X_REPORT,
        Command.Z_REPORT,
        Command.CLOSE_RECEIPT,
        Command.CANCEL_RECEIPT,
        Command.OPEN_SHIFT,
    }
)


class ReceiptType(enum.IntEnum):
    """Command 0x8D's receipt type byte (and the high nibble of mode 8)."""

    SALE = 0
    BUY = 1
    RETURN_SALE = 2
    RETURN_BUY = 3


class FnDocumentType(enum.IntEnum):
    """Fiscal document types as the fiscal storage reports them (command 0xFF0A)."""

    REGISTRATION = 1
    SHIFT_OPEN = 2
    RECEIPT = 3
    STRICT_FORM = 4
    SHIFT_CLOSE = 5
    FN_CLOSE = 6
    REREGISTRATION = 11
    SETTLEMENT_STATE = 21
    CORRECTION_RECEIPT = 31
    CORRECTION_STRICT_FORM = 41


class FnOperation(enum.IntEnum):
    """A receipt's operation type in the fiscal storage (признак расчёта)."""

    INCOME = 1  # a sale
    INCOME_RETURN = 2  # a return of a sale
    EXPENSE = 3
    EXPENSE_RETURN = 4


class Mode(enum.IntEnum):
    """The low nibble of the register's mode byte."""

    READY = 0
    DATA_DUMP = 1
    SHIFT_OPEN = 2
    SHIFT_EXPIRED = 3  # open for more than 24 hours
    SHIFT_CLOSED = 4
    LOCKED = 5
    AWAITING_DATE = 6
    DECIMAL_POINT = 7
    RECEIPT_OPEN = 8
    TECHNICAL_RESET = 9
    TEST_RUN = 10
    FULL_REPORT = 11
    JOURNAL_REPORT = 12
    SLIP_OPEN = 13
    SLIP_PRINT = 14
    SLIP_READY = 15


# Bits of the register's 2-byte flags word.
FLAG_RECEIPT_ROLL = 1 << 1  # 0 = the receipt roll is near its end
FLAG_RECEIPT_PAPER = 1 << 7  # 1 = paper at the receipt station's optical sensor


# --- framing -------------------------------------------------------------------------------


def lrc(body: bytes) -> int:
    """XOR of `body` (the length byte, command and data)."""
    value = 0
    for byte in body:
        value ^= byte
    return value


def command_bytes(command: int) -> bytes:
    if 0 <= command <= 0xFE:
        return bytes([command])
    if command >> 8 == 0xFF and command <= 0xFFFF:
        return command.to_bytes(2, "big")
    raise ValueError(f"not a Shtrih-M command: {command:#x}")


def encode_frame(payload: bytes) -> bytes:
    """A frame around `payload` (command bytes and data, or an answer's)."""
    if not payload or len(payload) > MAX_PAYLOAD:
        raise FrameError(f"a frame carries 1 to {MAX_PAYLOAD} bytes, not {len(payload)}")
    body = bytes([len(payload)]) + payload
    return bytes([STX]) + body + bytes([lrc(body)])


def decode_frame(frame: bytes) -> bytes:
    """The payload of a complete frame; FrameError if it is malformed or its LRC is wrong."""
    if len(frame) < 4 or frame[0] != STX:
        raise FrameError("a frame starts with STX and has at least 4 bytes")
    length = frame[1]
    if len(frame) != length + 3:
        raise FrameError(f"length byte says {length}, frame carries {len(frame) - 3}")
    if lrc(frame[1:-1]) != frame[-1]:
        raise FrameError("LRC mismatch")
    return frame[2:-1]


def split_command(payload: bytes) -> tuple[int, bytes]:
    """(command, the rest) of a payload; FrameError if it is cut short."""
    if not payload:
        raise FrameError("empty payload")
    if payload[0] == 0xFF:
        if len(payload) < 2:
            raise FrameError("extended command cut short")
        return 0xFF00 | payload[1], payload[2:]
    return payload[0], payload[1:]


@dataclass(frozen=True)
class Request:
    """One command to send: its code and its data (password first, where it has one)."""

    command: int
    data: bytes = b""

    @property
    def payload(self) -> bytes:
        return command_bytes(self.command) + self.data

    def frame(self) -> bytes:
        return encode_frame(self.payload)

    @property
    def prints(self) -> bool:
        return self.command in PRINTING_COMMANDS


@dataclass(frozen=True)
class Answer:
    command: int
    error_code: int
    data: bytes  # after the error code


def parse_answer(payload: bytes) -> Answer:
    command, rest = split_command(payload)
    if not rest:
        raise FrameError(f"answer to {command:#x} has no error code")
    return Answer(command, rest[0], rest[1:])


# --- fields --------------------------------------------------------------------------------


def uint(value: int, size: int) -> bytes:
    """Little-endian unsigned; ValueError if it does not fit."""
    if value < 0 or value >= 1 << (8 * size):
        raise ValueError(f"{value} does not fit in {size} bytes")
    return value.to_bytes(size, "little")


def read_uint(data: bytes) -> int:
    return int.from_bytes(data, "little")


def password_field(password: int) -> bytes:
    return uint(password, 4)


def kopecks(amount: Decimal) -> int:
    """Money as whole kopecks; ValueError for negatives or fractions of a kopeck."""
    scaled = amount * 100
    if amount < 0 or scaled != scaled.to_integral_value():
        raise ValueError(f"not an amount in kopecks: {amount}")
    return int(scaled)


def money_field(amount: Decimal) -> bytes:
    return uint(kopecks(amount), 5)


def read_money(data: bytes) -> Decimal:
    return Decimal(read_uint(data)).scaleb(-2)


def quantity_field(quantity: Decimal) -> bytes:
    """A quantity in thousandths (1.5 kg is 1500); ValueError if finer or not positive."""
    scaled = quantity * 1000
    if quantity <= 0 or scaled != scaled.to_integral_value():
        raise ValueError(f"not a quantity in thousandths: {quantity}")
    return uint(int(scaled), 5)


def text_field(text: str, size: int = TEXT_BYTES) -> bytes:
    """CP1251, cut to `size` bytes and padded with NULs; characters CP1251 lacks become '?'."""
    encoded = text.encode(TEXT_ENCODING, errors="replace")[:size]
    return encoded.ljust(size, b"\x00")


# --- requests ------------------------------------------------------------------------------


def short_state_request(password: int) -> Request:
    return Request(Command.SHORT_STATE, password_field(password))


def long_state_request(password: int) -> Request:
    return Request(Command.LONG_STATE, password_field(password))


def open_shift_request(password: int) -> Request:
    return Request(Command.OPEN_SHIFT, password_field(password))


def open_receipt_request(password: int, receipt_type: ReceiptType) -> Request:
    return Request(Command.OPEN_RECEIPT, password_field(password) + bytes([receipt_type]))


def item_request(
    password: int,
    *,
    returning: bool,
    quantity: Decimal,
    price: Decimal,
    department: int,
    tax_group: int,
    text: str,
) -> Request:
    """Sale (0x80) or return of a sale (0x82): quantity, unit price, department, 4 tax bytes
    (the first names the tax group, the others unused), 40 bytes of text."""
    if not 0 <= department <= 16 or not 0 <= tax_group <= 6:
        raise ValueError("department is 0..16 and tax group 0..6")
    data = (
        password_field(password)
        + quantity_field(quantity)
        + money_field(price)
        + bytes([department, tax_group, 0, 0, 0])
        + text_field(text)
    )
    return Request(Command.RETURN_SALE if returning else Command.SALE, data)


def discount_request(password: int, amount: Decimal, text: str = "") -> Request:
    """A discount on the whole receipt (0x86): amount, 4 tax bytes (none), 40 bytes of text."""
    data = password_field(password) + money_field(amount) + bytes(4) + text_field(text)
    return Request(Command.DISCOUNT, data)


def close_receipt_request(
    password: int, payments: tuple[Decimal, Decimal, Decimal, Decimal], text: str = ""
) -> Request:
    """Close receipt (0x85): the sums of payment types 1 (cash) to 4, a receipt percentage
    discount (2 bytes, we send 0: our discount goes as an amount with 0x86), 4 tax bytes
    (none) and 40 bytes of text."""
    sums = b"".join(money_field(amount) for amount in payments)
    data = password_field(password) + sums + uint(0, 2) + bytes(4) + text_field(text)
    return Request(Command.CLOSE_RECEIPT, data)


def cancel_receipt_request(password: int) -> Request:
    return Request(Command.CANCEL_RECEIPT, password_field(password))


def x_report_request(password: int) -> Request:
    return Request(Command.X_REPORT, password_field(password))


def z_report_request(password: int) -> Request:
    return Request(Command.Z_REPORT, password_field(password))


def fn_status_request(password: int) -> Request:
    return Request(Command.FN_STATUS, password_field(password))


def fn_find_document_request(password: int, number: int) -> Request:
    return Request(Command.FN_FIND_DOCUMENT, password_field(password) + uint(number, 4))


# --- answers -------------------------------------------------------------------------------


def _need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise FrameError(f"{what}: {len(data)} bytes, expected at least {size}")


@dataclass(frozen=True)
class ShortState:
    operator: int
    flags: int
    mode_byte: int
    submode: int
    receipt_operations: int


def parse_short_state(data: bytes) -> ShortState:
    """0x10: operator, flags (2), mode, submode, operations (low), battery, power, FM error,
    EJ error, operations (high), 3 reserved."""
    _need(data, 11, "short state")
    return ShortState(
        operator=data[0],
        flags=read_uint(data[1:3]),
        mode_byte=data[3],
        submode=data[4],
        receipt_operations=data[5] | data[10] << 8,
    )


@dataclass(frozen=True)
class LongState:
    operator: int
    document_number: int  # the register's running number of every document it printed
    flags: int
    mode_byte: int
    submode: int
    clock: dt.datetime | None
    serial_number: int
    last_closed_shift: int


def parse_long_state(data: bytes) -> LongState:
    """0x11: operator, firmware version (2), build (2), date (3), number in hall, document
    number (2), flags (2), mode, submode, port, FM firmware version (2), build (2), date (3),
    date (3, DMY), time (3, HMS), FM flags, serial number (4), last closed shift (2), free
    shift records (2), registrations, registrations left, INN (6)."""
    _need(data, 46, "long state")
    day, month, year = data[23:26]
    hour, minute, second = data[26:29]
    try:
        clock: dt.datetime | None = dt.datetime(2000 + year, month, day, hour, minute, second)
    except ValueError:
        clock = None  # a register whose clock was never set
    return LongState(
        operator=data[0],
        document_number=read_uint(data[9:11]),
        flags=read_uint(data[11:13]),
        mode_byte=data[13],
        submode=data[14],
        clock=clock,
        serial_number=read_uint(data[30:34]),
        last_closed_shift=read_uint(data[34:36]),
    )


@dataclass(frozen=True)
class FnStatus:
    phase: int
    current_document: int  # 0 = none open in the storage
    document_data: bool
    shift_open: bool
    warnings: int
    clock: dt.datetime | None
    fn_number: str
    last_document_number: int


def _fn_datetime(data: bytes) -> dt.datetime | None:
    year, month, day, hour, minute = data[:5]
    try:
        return dt.datetime(2000 + year, month, day, hour, minute)
    except ValueError:
        return None


def parse_fn_status(data: bytes) -> FnStatus:
    """0xFF01: life phase, current document, document data, shift state, warning flags,
    date and time (5: YMDhm), FN number (16, ASCII), last fiscal document number (4)."""
    _need(data, 30, "FN status")
    return FnStatus(
        phase=data[0],
        current_document=data[1],
        document_data=data[2] != 0,
        shift_open=data[3] != 0,
        warnings=data[4],
        clock=_fn_datetime(data[5:10]),
        fn_number=data[10:26].decode("ascii", errors="replace").strip("\x00 "),
        last_document_number=read_uint(data[26:30]),
    )


@dataclass(frozen=True)
class FnDocument:
    document_type: int
    ticket_received: bool  # the fiscal data operator acknowledged it
    issued_at: dt.datetime | None
    number: int
    fiscal_sign: int
    operation: int | None = None  # receipts
    amount: Decimal | None = None  # receipts
    shift_number: int | None = None  # shift open / close reports


def parse_fn_document(data: bytes) -> FnDocument:
    """0xFF0A: document type, ticket received, then the document: date and time (5),
    number (4), fiscal sign (4), and for a receipt its operation (1) and sum (5), for a
    shift report the shift number (2)."""
    _need(data, 15, "FN document")
    document_type = data[0]
    body = data[2:]
    document = FnDocument(
        document_type=document_type,
        ticket_received=data[1] != 0,
        issued_at=_fn_datetime(body[:5]),
        number=read_uint(body[5:9]),
        fiscal_sign=read_uint(body[9:13]),
    )
    if document_type in (FnDocumentType.RECEIPT, FnDocumentType.CORRECTION_RECEIPT):
        _need(body, 19, "FN receipt")
        return replace(document, operation=body[13], amount=read_money(body[14:19]))
    if document_type in (FnDocumentType.SHIFT_OPEN, FnDocumentType.SHIFT_CLOSE):
        _need(body, 15, "FN shift report")
        return replace(document, shift_number=read_uint(body[13:15]))
    return document


def parse_change(data: bytes) -> Decimal:
    """0x85: operator, change (5)."""
    _need(data, 6, "close receipt")
    return read_money(data[1:6])
