"""A Shtrih-M fiscal register (a cash register with a fiscal storage, FN,
on a serial port): the API the agent uses.

`FiscalRegister` turns a `FiscalReceipt` into the register's commands and back into a
`FiscalResult` (fiscal document number, fiscal sign, FN number, shift, change). The bytes
are in `shtrih_frames`, the ENQ/ACK/NAK exchange in `shtrih_link`, the errors in
`shtrih_errors`.

Commands used: 0x11 (state), 0xFF01 (fiscal storage status: FN number, last fiscal
document), 0xFF0A (a fiscal document by number: its fiscal sign, type, sum), 0xE0 (open
shift), 0x8D (open receipt), 0x80/0x82 (sale / return of sale), 0x86 (discount), 0x85
(close receipt with payment sums, answering the change), 0x88 (cancel receipt), 0x40
(X-report), 0x41 (Z-report, closing the shift).

Exactly once. A receipt is registered when the register closes it; an answer lost after
that (a timeout, a power cut, the agent killed) leaves the caller not knowing. The contract:

1. Before the first attempt, read `(await register.state()).last_fiscal_document` and keep
   it with the job, on disk, as `before_document_number`.
2. Every attempt, the first included, calls `ensure_fiscalised(receipt,
   before_document_number)`: it reconciles first (see `reconcile`) and fiscalises only when
   nothing was registered since `before_document_number`.
3. A `ShtrihLinkError` means "unknown": try again later the same way. A `DeviceError`
   means the register refused and nothing was registered (a receipt it left open is
   cancelled). A `ReconcileConflict` means a person must look: it is never retried.

The agent must be the register's only user, one job at a time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from types import TracebackType
from typing import TypeVar

from edge_agent.drivers.shtrih_errors import (
    DeviceError,
    LinkDown,
    ShtrihError,
    UnexpectedAnswer,
    device_error,
)
from edge_agent.drivers.shtrih_frames import (
    DEFAULT_PASSWORD,
    FLAG_RECEIPT_PAPER,
    FLAG_RECEIPT_ROLL,
    Answer,
    FnDocument,
    FnDocumentType,
    FnOperation,
    FnStatus,
    FrameError,
    Mode,
    ReceiptType,
    Request,
    cancel_receipt_request,
    close_receipt_request,
    discount_request,
    fn_find_document_request,
    fn_status_request,
    item_request,
    kopecks,
    long_state_request,
    open_receipt_request,
    open_shift_request,
    parse_change,
    parse_fn_document,
    parse_fn_status,
    parse_long_state,
    quantity_field,
    x_report_request,
    z_report_request,
)
from edge_agent.drivers.shtrih_link import ExchangeSettings, ShtrihExchange
from edge_agent.transport import TransportError, TransportSpec, open_link

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
ZERO = Decimal(0)
T = TypeVar("T")


class ReceiptKind(enum.StrEnum):
    SALE = "sale"
    RETURN = "return"


class PaymentMethod(enum.StrEnum):
    CASH = "cash"
    CARD = "card"
    OTHER = "other"


# The register's tax groups (its table 6) by our VAT rate. Group 1 is the standard rate:
# 22% since 2026 (the registers' 2026 firmware renamed it from 20%), so 20% has no group
# by default; 5% and 7% have none either (each register's table says where they are).
# `[[fiscal]] tax_groups` replaces this table (edge_agent/config.py).
DEFAULT_TAX_GROUPS: Mapping[str, int] = {"22": 1, "10": 2, "0": 3, "none": 4}
MAX_TAX_GROUP = 6  # the rows of the register's tax table
# Which of the four payment sums of command 0x85 each method goes to (type 1 is cash;
# types 2-4 are named in the register's table 5, type 2 being "electronic" out of the box).
DEFAULT_PAYMENT_TYPES: Mapping[PaymentMethod, int] = {
    PaymentMethod.CASH: 1,
    PaymentMethod.CARD: 2,
    PaymentMethod.OTHER: 3,
}

_OPERATION_KIND: Mapping[int, ReceiptKind] = {
    FnOperation.INCOME: ReceiptKind.SALE,
    FnOperation.INCOME_RETURN: ReceiptKind.RETURN,
}


@dataclass(frozen=True)
class FiscalLine:
    name: str
    quantity: Decimal
    price: Decimal  # per unit
    vat: str = "none"  # "22", "10", "0" ("22.00" will do) or "none"

    @property
    def amount(self) -> Decimal:
        """Quantity times price to the kopeck, half up, as the register rounds it."""
        return (self.quantity * self.price).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class FiscalReceipt:
    """What the register is to register. `payments` are as tendered (cash includes the
    change the register is to work out); `discount` is an amount off the whole receipt."""

    kind: ReceiptKind
    lines: Sequence[FiscalLine]
    payments: Mapping[PaymentMethod, Decimal]
    discount: Decimal = ZERO

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def total(self) -> Decimal:
        return self.subtotal - self.discount

    @property
    def paid(self) -> Decimal:
        return sum(self.payments.values(), ZERO)

    @property
    def change(self) -> Decimal:
        return self.paid - self.total

    def check(self) -> None:
        """ValueError unless the register can take this receipt as it is."""
        if not self.lines:
            raise ValueError("a receipt needs at least one line")
        for line in self.lines:
            quantity_field(line.quantity)
            kopecks(line.price)
        kopecks(self.discount)
        for amount in self.payments.values():
            kopecks(amount)
        if self.total <= 0:
            raise ValueError(f"the total must be positive, not {self.total}")
        if self.paid < self.total:
            raise ValueError(f"paid {self.paid} of {self.total}")
        cashless = self.paid - self.payments.get(PaymentMethod.CASH, ZERO)
        if cashless > self.total:
            raise ValueError("change is given from cash only: card and other exceed the total")


@dataclass(frozen=True)
class FiscalResult:
    kind: ReceiptKind
    document_number: int  # the fiscal document number (ФД)
    fiscal_sign: int  # the fiscal sign (ФП), printed as 10 digits
    fn_number: str
    shift_number: int
    total: Decimal
    change: Decimal
    issued_at: dt.datetime | None  # the register's clock, no time zone
    recovered: bool = False  # found by `reconcile` after the register's answer was lost

    @property
    def fiscal_sign_text(self) -> str:
        return f"{self.fiscal_sign:010d}"

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dict: the keys `edge_agent.receipt.Fiscal.from_json` reads, plus
        the total, change, kind and `recovered`; money as decimal strings, the fiscal
        sign in its printed 10 digits (the hub stores it as text)."""
        return {
            "document_number": self.document_number,
            "fiscal_sign": self.fiscal_sign_text,
            "fn_number": self.fn_number,
            "shift_number": self.shift_number,
            "issued_at": None if self.issued_at is None else self.issued_at.isoformat(),
            "total": str(self.total),
            "change": str(self.change),
            "kind": str(self.kind),
            "recovered": self.recovered,
        }


@dataclass(frozen=True)
class FiscalDocument:
    number: int
    fiscal_sign: int
    document_type: int  # an FnDocumentType value
    issued_at: dt.datetime | None
    fn_number: str
    kind: ReceiptKind | None = None  # receipts of a sale or its return
    amount: Decimal | None = None  # receipts
    shift_number: int | None = None  # shift open / close reports


@dataclass(frozen=True)
class RegisterState:
    mode: int  # a `Mode` value
    mode_status: int  # the mode byte's high nibble (the receipt type in mode 8)
    submode: int  # 0 paper present, 1-3 paper out or waiting to continue, 4-5 printing
    shift_open: bool
    shift_expired: bool  # open for more than 24 hours: only a Z-report is allowed
    shift_number: int  # the open shift's, else the last closed one's
    receipt_open: bool
    receipt_kind: ReceiptKind | None
    paper_present: bool
    paper_near_end: bool
    document_number: int  # the register's running number of printed documents
    last_fiscal_document: int  # the fiscal storage's last fiscal document number
    fn_number: str


class ReconcileOutcome(enum.StrEnum):
    COMPLETED = "completed"  # the receipt was registered: do not fiscalise it again
    CANCELLED = "cancelled"  # a receipt left open was cancelled; nothing was registered
    NOT_STARTED = "not_started"  # nothing registered, nothing open


@dataclass(frozen=True)
class Reconciliation:
    outcome: ReconcileOutcome
    result: FiscalResult | None = None  # when COMPLETED


class ReconcileConflict(ShtrihError):
    """What the register registered since the recorded document does not match the
    receipt; retrying could register it twice, so a person must look."""

    reason = "reconcile_conflict"

    def __init__(self, message: str, documents: Sequence[FiscalDocument] = ()) -> None:
        super().__init__(message)
        self.documents = tuple(documents)


@dataclass(frozen=True)
class RegisterOptions:
    password: int = DEFAULT_PASSWORD
    department: int = 1
    tax_groups: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_TAX_GROUPS))
    payment_types: Mapping[PaymentMethod, int] = field(
        default_factory=lambda: dict(DEFAULT_PAYMENT_TYPES)
    )
    reconcile_window: int = 50  # fiscal documents `reconcile` is willing to read


class FiscalRegister:
    """One Shtrih-M register. Every method is one or a few commands; see the module's
    docstring for the exactly-once contract."""

    def __init__(self, exchange: ShtrihExchange, options: RegisterOptions | None = None) -> None:
        self._exchange = exchange
        self.options = options or RegisterOptions()

    @classmethod
    async def connect(
        cls,
        transport: str | TransportSpec,
        options: RegisterOptions | None = None,
        settings: ExchangeSettings | None = None,
    ) -> FiscalRegister:
        spec = transport if isinstance(transport, TransportSpec) else TransportSpec.parse(transport)
        try:
            link = await open_link(spec)
        except TransportError as exc:
            raise LinkDown(str(exc), command_may_have_run=False) from exc
        return cls(ShtrihExchange(link, settings), options)

    async def close(self) -> None:
        await self._exchange.close()

    async def __aenter__(self) -> FiscalRegister:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def exchange(self) -> ShtrihExchange:
        return self._exchange

    # --- reading -------------------------------------------------------------------------

    async def state(self) -> RegisterState:
        """Mode, shift, paper and document numbers (commands 0x11 and 0xFF01)."""
        password = self.options.password
        long = _parse(parse_long_state, await self._run(long_state_request(password)))
        fn = await self._fn_status()
        mode, status = long.mode_byte & 0x0F, long.mode_byte >> 4
        receipt_open = mode == Mode.RECEIPT_OPEN
        kind = None
        if receipt_open and status == ReceiptType.SALE:
            kind = ReceiptKind.SALE
        elif receipt_open and status == ReceiptType.RETURN_SALE:
            kind = ReceiptKind.RETURN
        shift_open = fn.shift_open or mode in (Mode.SHIFT_OPEN, Mode.SHIFT_EXPIRED)
        return RegisterState(
            mode=mode,
            mode_status=status,
            submode=long.submode,
            shift_open=shift_open,
            shift_expired=mode == Mode.SHIFT_EXPIRED,
            shift_number=long.last_closed_shift + (1 if shift_open else 0),
            receipt_open=receipt_open,
            receipt_kind=kind,
            paper_present=bool(long.flags & FLAG_RECEIPT_PAPER),
            paper_near_end=not long.flags & FLAG_RECEIPT_ROLL,
            document_number=long.document_number,
            last_fiscal_document=fn.last_document_number,
            fn_number=fn.fn_number,
        )

    async def document(self, number: int) -> FiscalDocument:
        """A fiscal document from the fiscal storage (0xFF0A; FN number from 0xFF01)."""
        fn = await self._fn_status()
        return await self._find_document(number, fn.fn_number)

    async def last_document_number(self) -> int:
        """The fiscal storage's last fiscal document number (0xFF01): what to keep with a
        job before its first attempt (see the exactly-once contract)."""
        return (await self._fn_status()).last_document_number

    async def last_document(self) -> FiscalDocument | None:
        """The last fiscal document the storage holds; None on a storage with none."""
        fn = await self._fn_status()
        if fn.last_document_number == 0:
            return None
        return await self._find_document(fn.last_document_number, fn.fn_number)

    # --- shifts and reports ----------------------------------------------------------------

    async def open_shift(self) -> FiscalDocument:
        """Open a shift (0xE0); the shift-open report it registered. ShiftAlreadyOpen if
        one is open, ShiftExpired if the open one is older than 24 hours."""
        await self._run(open_shift_request(self.options.password))
        return await self._required_last_document(FnDocumentType.SHIFT_OPEN)

    async def x_report(self) -> None:
        """Print an X-report (0x40): the shift's totals, nothing registered."""
        await self._run(x_report_request(self.options.password))

    async def z_report(self) -> FiscalDocument:
        """Close the shift with a Z-report (0x41); the shift-close report it registered."""
        await self._run(z_report_request(self.options.password))
        return await self._required_last_document(FnDocumentType.SHIFT_CLOSE)

    # --- receipts --------------------------------------------------------------------------

    async def fiscalise(self, receipt: FiscalReceipt) -> FiscalResult:
        """Register `receipt`: open (0x8D), one 0x80/0x82 per line, the discount (0x86),
        close with the payment sums (0x85); then read its number and fiscal sign.

        A receipt the register could not take as it is (`FiscalReceipt.check`, a VAT rate
        without a tax group) raises ValueError before anything is sent.

        Not safe to repeat by itself: after a `ShtrihLinkError` the receipt may have been
        registered. Use `ensure_fiscalised` (or `reconcile`) before any retry. When the
        register refuses a line, the discount or the close (`DeviceError`), the receipt it
        opened is cancelled before the error is raised."""
        receipt.check()
        options = self.options
        password = options.password
        returning = receipt.kind is ReceiptKind.RETURN
        requests = [
            item_request(
                password,
                returning=returning,
                quantity=line.quantity,
                price=line.price,
                department=options.department,
                tax_group=self._tax_group(line.vat),
                text=line.name,
            )
            for line in receipt.lines
        ]
        if receipt.discount:
            requests.append(discount_request(password, receipt.discount))
        close = close_receipt_request(password, self._payment_sums(receipt))

        receipt_type = ReceiptType.RETURN_SALE if returning else ReceiptType.SALE
        await self._run(open_receipt_request(password, receipt_type))
        try:
            for request in requests:
                await self._run(request)
            closed = await self._run(close)
        except DeviceError:
            await self._cancel_quietly()
            raise
        # The receipt is registered now: what follows only reads what it became. A refusal
        # here must not read as "nothing registered" (the job would fail, and a retry
        # register it again): it is a link-level surprise, so the job waits and the next
        # attempt asks the register what it registered.
        try:
            change = _parse(parse_change, closed)
            document = await self._required_last_document(FnDocumentType.RECEIPT)
            state = await self.state()
        except (DeviceError, ValueError) as exc:
            raise UnexpectedAnswer(
                f"after the receipt was closed: {exc}", command_may_have_run=True
            ) from exc
        return FiscalResult(
            kind=receipt.kind,
            document_number=document.number,
            fiscal_sign=document.fiscal_sign,
            fn_number=document.fn_number,
            shift_number=state.shift_number,
            total=receipt.total,
            change=change,
            issued_at=document.issued_at,
        )

    async def cancel_receipt(self) -> None:
        """Cancel the open receipt (0x88); ReceiptNotOpen when there is none."""
        await self._run(cancel_receipt_request(self.options.password))

    async def reconcile(
        self, before_document_number: int, receipt: FiscalReceipt | None = None
    ) -> Reconciliation:
        """What became of the receipt attempted since the fiscal storage's last document
        was `before_document_number` (read before the first attempt):

        - COMPLETED: exactly one receipt registered since (and, when `receipt` is given,
          of its kind and total): it is this one; `result` carries its number and fiscal
          sign (`recovered=True`; total and change from `receipt` when given, else the
          registered sum and no change).
        - CANCELLED: nothing registered, a receipt was left open: it has been cancelled.
        - NOT_STARTED: nothing registered and nothing open.

        After CANCELLED or NOT_STARTED, `fiscalise` is safe. Anything else registered
        since (two receipts, another kind or total) raises `ReconcileConflict`."""
        fn = await self._fn_status()
        last = fn.last_document_number
        if last < before_document_number:
            raise ReconcileConflict(
                f"the fiscal storage's last document is {last}, before the recorded "
                f"{before_document_number}: was the storage replaced?"
            )
        if last - before_document_number > self.options.reconcile_window:
            raise ReconcileConflict(
                f"{last - before_document_number} documents since {before_document_number}"
            )
        registered: list[FiscalDocument] = []
        for number in range(before_document_number + 1, last + 1):
            document = await self._find_document(number, fn.fn_number)
            if document.document_type == FnDocumentType.RECEIPT:
                registered.append(document)  # shift reports in between do not count
        state = await self.state()
        if registered:
            found = registered[0]
            matches = receipt is None or (
                found.kind is receipt.kind and found.amount == receipt.total
            )
            if len(registered) == 1 and not state.receipt_open and matches:
                log.info("shtrih: receipt found registered as document %d", found.number)
                return Reconciliation(
                    ReconcileOutcome.COMPLETED, _recovered(found, state.shift_number, receipt)
                )
            expected = "" if receipt is None else f" for this {receipt.kind} of {receipt.total}"
            raise ReconcileConflict(
                f"{len(registered)} receipt(s) registered since document "
                f"{before_document_number}; cannot tell which is the one attempted{expected}",
                registered,
            )
        if state.receipt_open:
            log.warning("shtrih: cancelling a receipt left open by an interrupted attempt")
            await self.cancel_receipt()
            return Reconciliation(ReconcileOutcome.CANCELLED)
        return Reconciliation(ReconcileOutcome.NOT_STARTED)

    async def ensure_fiscalised(
        self, receipt: FiscalReceipt, before_document_number: int
    ) -> FiscalResult:
        """`reconcile`, then `fiscalise` unless the receipt is already registered. Safe to
        call again after any `ShtrihLinkError` or a restart, with the same
        `before_document_number`."""
        reconciliation = await self.reconcile(before_document_number, receipt)
        if reconciliation.result is not None:
            return reconciliation.result
        return await self.fiscalise(receipt)

    # --- helpers -----------------------------------------------------------------------------

    async def _run(self, request: Request) -> Answer:
        answer = await self._exchange.execute(request)
        if answer.error_code:
            raise device_error(answer.error_code, request.command)
        return answer

    async def _fn_status(self) -> FnStatus:
        return _parse(parse_fn_status, await self._run(fn_status_request(self.options.password)))

    async def _find_document(self, number: int, fn_number: str) -> FiscalDocument:
        found = await self._run(fn_find_document_request(self.options.password, number))
        return _document(_parse(parse_fn_document, found), fn_number)

    async def _required_last_document(self, expected: FnDocumentType) -> FiscalDocument:
        document = await self.last_document()
        if document is None or document.document_type != expected:
            found = "none" if document is None else f"type {document.document_type}"
            raise UnexpectedAnswer(
                f"expected a fiscal document of type {expected.name}, the last is {found}",
                command_may_have_run=True,
            )
        return document

    async def _cancel_quietly(self) -> None:
        try:
            await self.cancel_receipt()
        except ShtrihError as exc:
            log.warning("shtrih: could not cancel the receipt: %s", exc)

    def _tax_group(self, vat: str) -> int:
        try:
            return self.options.tax_groups[vat_key(vat)]
        except KeyError:
            raise UnmappedVatRate(vat) from None

    def _payment_sums(self, receipt: FiscalReceipt) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        sums = [ZERO, ZERO, ZERO, ZERO]
        for method, amount in receipt.payments.items():
            slot = self.options.payment_types.get(PaymentMethod(method))
            if slot is None or not 1 <= slot <= 4:
                raise ValueError(f"no payment type for {method!r}")
            sums[slot - 1] += amount
        return sums[0], sums[1], sums[2], sums[3]


class UnmappedVatRate(ValueError):
    """A line's VAT rate has no tax group in `RegisterOptions.tax_groups`; raised, like
    every ValueError of `fiscalise`, before anything is sent."""

    def __init__(self, vat: str) -> None:
        super().__init__(f"no tax group for VAT rate {vat!r}")
        self.vat = vat


def vat_key(vat: str) -> str:
    """A VAT rate as the tax-group table names it: the hub's "22.00" is "22"."""
    key = vat.strip().lower()
    with contextlib.suppress(ArithmeticError):
        key = format(Decimal(key).normalize(), "f")
    return key


def _parse(parser: Callable[[bytes], T], answer: Answer) -> T:
    try:
        return parser(answer.data)
    except FrameError as exc:
        raise UnexpectedAnswer(
            f"answer to {answer.command:#x}: {exc}", command_may_have_run=True
        ) from exc


def _recovered(
    found: FiscalDocument, shift_number: int, receipt: FiscalReceipt | None
) -> FiscalResult:
    if receipt is not None:
        kind, total, change = receipt.kind, receipt.total, receipt.change
    else:
        kind, total, change = found.kind or ReceiptKind.SALE, found.amount or ZERO, ZERO
    return FiscalResult(
        kind=kind,
        document_number=found.number,
        fiscal_sign=found.fiscal_sign,
        fn_number=found.fn_number,
        shift_number=shift_number,
        total=total,
        change=change,
        issued_at=found.issued_at,
        recovered=True,
    )


def _document(found: FnDocument, fn_number: str) -> FiscalDocument:
    kind = None
    if found.document_type == FnDocumentType.RECEIPT and found.operation is not None:
        kind = _OPERATION_KIND.get(found.operation)
    return FiscalDocument(
        number=found.number,
        fiscal_sign=found.fiscal_sign,
        document_type=found.document_type,
        issued_at=found.issued_at,
        fn_number=fn_number,
        kind=kind,
        amount=found.amount,
        shift_number=found.shift_number,
    )


__all__ = [
    "DEFAULT_PAYMENT_TYPES",
    "DEFAULT_TAX_GROUPS",
    "MAX_TAX_GROUP",
    "ExchangeSettings",
    "FiscalDocument",
    "FiscalLine",
    "FiscalReceipt",
    "FiscalRegister",
    "FiscalResult",
    "PaymentMethod",
    "ReceiptKind",
    "ReconcileConflict",
    "ReconcileOutcome",
    "Reconciliation",
    "RegisterOptions",
    "RegisterState",
    "UnmappedVatRate",
    "vat_key",
]
