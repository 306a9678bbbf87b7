"""The receipt document the agent prints (and, later, fiscalises), built from the hub's
receipt job document (version 1).

`Receipt.from_job` checks the document once, strictly, so that a bad job fails here
with a message naming the field and never half-way through printing. The document is
JSON; money and quantities are decimal strings, never floats:

    {
      "version": 1,
      "sale": "…uuid…",
      "business": "Example LLC",                      # optional
      "shop": {"name": "Corner shop", "address": "1 Main St"},   # address optional
      "register": {"id": "…", "name": "Till 1"},
      "number": 42,                                   # the receipt number
      "cashier": {"id": "…", "name": "Ivanova A."},   # the name may be empty
      "created_at": "2026-03-01T14:05:00+03:00",      # ISO 8601 with its offset
      "lines": [
        {"name": "Milk 3.2%", "quantity": "2.000", "unit": "pcs", "price": "89.90",
         "amount": "179.80", "line_discount": "10.00", "receipt_discount": "0.00",
         "total": "169.80", "vat_rate": "20.00", "vat_amount": "28.30"}  # rate null: no VAT
      ],
      "totals": {"subtotal": "179.80", "discount_total": "10.00", "total": "169.80",
                 "receipt_discount_percent": null,
                 "vat": [{"rate": "20.00", "amount": "28.30"}]},
      "payments": {"cash": "169.80"},                 # taken per method, cash net of change
      "tendered_cash": "200.00", "change": "30.20",
      "bonus_accrued": "0.00",                        # optional
      "customer": {"name": "Petrov I.", "phone": "+79991234567", "email": null,
                   "tax_id": null},                   # or null
      "operation": "sale",                            # optional: "sale" or "return"
      "return_number": 7,                             # a return's own number (optional)
      "fiscal": {...}                                 # optional, see `Fiscal.from_json`
    }

The sums must agree by the hub's pricing rule (hub/domain/pricing.py): a line's amount
is its price x quantity rounded half up to the cent, its total the amount less its own
discount and its share of the receipt's; the receipt's total is the subtotal less the
discounts and equals the payments; cash tendered is the cash taken plus the change.
Keys the agent does not know are ignored, so the hub may add fields first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

VERSION = 1
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_MONEY = Decimal("9999999999.99")
MAX_QUANTITY = Decimal("99999.999")
MAX_LINES = 1000
MAX_TEXT = 500
OPERATIONS = ("sale", "return")
# The FNS receipt QR code's operation type: 1 income (a sale), 2 return of income.
_QR_OPERATION = {"sale": 1, "return": 2}
_METHOD = re.compile(r"^[a-z][a-z_]{0,31}$")
_DIGITS = re.compile(r"^[0-9]+$")


class ReceiptError(ValueError):
    """The job's document is not a receipt; `field` names the offending part."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ReceiptLine:
    name: str
    quantity: Decimal
    unit: str
    price: Decimal
    amount: Decimal  # price x quantity, rounded
    line_discount: Decimal  # the line's own discount
    receipt_discount: Decimal  # its share of the receipt's discount
    total: Decimal
    vat_rate: Decimal | None  # percent; None: sold without VAT
    vat_amount: Decimal | None = None  # the VAT the total includes, as the hub reckons it

    @property
    def discount(self) -> Decimal:
        return self.line_discount + self.receipt_discount


@dataclass(frozen=True)
class VatTotal:
    rate: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Customer:
    name: str
    phone: str | None = None
    email: str | None = None
    tax_id: str | None = None


@dataclass(frozen=True)
class Fiscal:
    """What the fiscal register returned for this receipt."""

    document_number: int  # the fiscal document number (FD)
    fiscal_sign: str  # the fiscal sign (FP), digits
    fn_number: str  # the fiscal drive's serial, digits
    shift_number: int
    # The register's own clock, local and often without a zone; the receipt's when None.
    time: datetime | None = None

    def __post_init__(self) -> None:
        _positive_int("fiscal.document_number", self.document_number)
        _positive_int("fiscal.shift_number", self.shift_number)
        for name, value in (("fiscal_sign", self.fiscal_sign), ("fn_number", self.fn_number)):
            if not isinstance(value, str) or not _DIGITS.fullmatch(value) or len(value) > 20:
                raise ReceiptError(f"fiscal.{name}", "a string of up to 20 digits")
        if self.time is not None and not isinstance(self.time, datetime):
            raise ReceiptError("fiscal.time", "a time")

    @classmethod
    def from_json(cls, document: object) -> Fiscal:
        """{"document_number": 345, "fiscal_sign": 1234567890 or "1234567890",
        "fn_number" or "storage_serial": "9999078900001234", "shift_number": 12, "time",
        "issued_at" or "registered_at": ISO (optional; the register's clock may have no
        offset)}; other keys are ignored. The second names are the hub's (what a job's
        `done` report carries). A numeric fiscal sign is shown as registers print it, in
        10 digits."""
        fiscal = _mapping("fiscal", document)
        sign = fiscal.get("fiscal_sign")
        if isinstance(sign, int) and not isinstance(sign, bool) and sign >= 0:
            sign = f"{sign:010d}"
        time = fiscal.get("time", fiscal.get("issued_at", fiscal.get("registered_at")))
        return cls(
            document_number=_positive_int("fiscal.document_number", fiscal.get("document_number")),
            fiscal_sign=_text("fiscal.fiscal_sign", sign, 20),
            fn_number=_text(
                "fiscal.fn_number", fiscal.get("fn_number", fiscal.get("storage_serial")), 20
            ),
            shift_number=_positive_int("fiscal.shift_number", fiscal.get("shift_number")),
            time=None if time is None else _time("fiscal.time", time, zone_needed=False),
        )


@dataclass(frozen=True)
class Receipt:
    shop_name: str
    register: str  # the till's name
    receipt_number: int
    cashier: str  # "" when the hub has no name for them
    time: datetime
    lines: tuple[ReceiptLine, ...]
    subtotal: Decimal
    discount_total: Decimal
    total: Decimal
    payments: Mapping[str, Decimal]  # method → amount taken (cash net of change)
    tendered_cash: Decimal
    change: Decimal
    vat_totals: tuple[VatTotal, ...] = ()
    receipt_discount_percent: Decimal | None = None
    bonus_accrued: Decimal = ZERO
    business: str | None = None
    shop_address: str | None = None
    customer: Customer | None = None
    sale_id: str | None = None
    operation: str = "sale"
    fiscal: Fiscal | None = None
    return_number: int | None = None  # a return receipt's own number (`number`: the sale's)
    copy: bool = False  # printed again after a print that may have come out: says so

    @classmethod
    def from_job(cls, payload: Mapping[str, Any]) -> Receipt:
        """The receipt in a job's document; ReceiptError when it is not one."""
        job = _mapping("", payload)
        if job.get("version") != VERSION or isinstance(job.get("version"), bool):
            raise ReceiptError("version", f"this agent reads version {VERSION} documents")
        operation = job.get("operation", "sale")
        if operation not in OPERATIONS:
            raise ReceiptError("operation", f"one of {', '.join(OPERATIONS)}")
        raw_lines = job.get("lines")
        if not isinstance(raw_lines, list) or not 1 <= len(raw_lines) <= MAX_LINES:
            raise ReceiptError("lines", f"a list of 1 to {MAX_LINES} lines")
        shop = _mapping("shop", job.get("shop"))
        totals = _mapping("totals", job.get("totals"))
        customer = job.get("customer")
        fiscal = job.get("fiscal")
        percent = totals.get("receipt_discount_percent")
        receipt = cls(
            shop_name=_text("shop.name", shop.get("name")),
            register=_text("register.name", _mapping("register", job.get("register")).get("name")),
            receipt_number=_positive_int("number", job.get("number")),
            cashier=_text(
                "cashier.name", _mapping("cashier", job.get("cashier")).get("name"), empty=True
            ),
            time=_time("created_at", job.get("created_at")),
            lines=tuple(_line(f"lines[{i}]", raw) for i, raw in enumerate(raw_lines)),
            subtotal=_money("totals.subtotal", totals.get("subtotal")),
            discount_total=_money("totals.discount_total", totals.get("discount_total")),
            total=_money("totals.total", totals.get("total")),
            payments=_payments(job.get("payments")),
            tendered_cash=_money("tendered_cash", job.get("tendered_cash")),
            change=_money("change", job.get("change")),
            vat_totals=_vat_totals(totals.get("vat", [])),
            receipt_discount_percent=None
            if percent is None
            else _decimal("totals.receipt_discount_percent", percent, 2, Decimal(100)),
            bonus_accrued=_money("bonus_accrued", job.get("bonus_accrued", "0.00")),
            business=_optional_text("business", job.get("business")),
            shop_address=_optional_text("shop.address", shop.get("address")),
            customer=None if customer is None else _customer(customer),
            sale_id=_optional_text("sale", job.get("sale"), 64),
            operation=operation,
            fiscal=None if fiscal is None else Fiscal.from_json(fiscal),
            return_number=None
            if job.get("return_number") is None
            else _positive_int("return_number", job.get("return_number")),
        )
        receipt.check_sums()
        return receipt

    def check_sums(self) -> None:
        """The amounts agree by the hub's pricing rule (this module's docstring)."""
        for i, line in enumerate(self.lines):
            if line.amount != cents(line.price * line.quantity):
                raise ReceiptError(
                    f"lines[{i}].amount",
                    f"{line.price} x {line.quantity} = {cents(line.price * line.quantity)}",
                )
            if line.total != line.amount - line.discount:
                raise ReceiptError(
                    f"lines[{i}].total", f"amount - discounts = {line.amount - line.discount}"
                )
        subtotal = sum((line.amount for line in self.lines), ZERO)
        discounts = sum((line.discount for line in self.lines), ZERO)
        if self.subtotal != subtotal:
            raise ReceiptError("totals.subtotal", f"the lines add up to {subtotal}")
        if self.discount_total != discounts:
            raise ReceiptError("totals.discount_total", f"the lines' discounts are {discounts}")
        if self.total != subtotal - discounts:
            raise ReceiptError("totals.total", f"subtotal - discounts = {subtotal - discounts}")
        if sum(self.payments.values(), ZERO) != self.total:
            raise ReceiptError("payments", f"must add up to the total {self.total}")
        if self.tendered_cash != self.cash + self.change:
            raise ReceiptError("tendered_cash", f"cash taken + change = {self.cash + self.change}")

    @property
    def cash(self) -> Decimal:
        return self.payments.get("cash", ZERO)

    def with_fiscal(self, fiscal: Fiscal) -> Receipt:
        return replace(self, fiscal=fiscal)

    @property
    def qr_text(self) -> str | None:
        """The FNS receipt QR code's text, once fiscalised:
        t=YYYYMMDDTHHMM&s=TOTAL&fn=FN&i=DOC&fp=SIGN&n=OPERATION."""
        if self.fiscal is None:
            return None
        when = self.fiscal.time or self.time
        return (
            f"t={when:%Y%m%dT%H%M}&s={self.total:.2f}&fn={self.fiscal.fn_number}"
            f"&i={self.fiscal.document_number}&fp={self.fiscal.fiscal_sign}"
            f"&n={_QR_OPERATION[self.operation]}"
        )


def _mapping(field: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ReceiptError(field, "an object")
    return value


def _text(field: str, value: object, limit: int = MAX_TEXT, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ReceiptError(field, "a string" if empty else "a non-empty string")
    if len(value) > limit:
        raise ReceiptError(field, f"at most {limit} characters")
    return value.strip()


def _optional_text(field: str, value: object, limit: int = MAX_TEXT) -> str | None:
    """None for null or blank; else a string."""
    if value is None:
        return None
    return _text(field, value, limit, empty=True) or None


def _positive_int(field: str, value: object) -> int:
    # bool is an int in Python; True is not receipt number 1.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**31:
        raise ReceiptError(field, "a positive integer")
    return value


def _decimal(field: str, value: object, places: int, limit: Decimal) -> Decimal:
    if not isinstance(value, str):
        raise ReceiptError(field, 'a decimal string, e.g. "12.50"')
    try:
        number = Decimal(value.strip())
    except InvalidOperation as exc:
        raise ReceiptError(field, f"not a decimal: {value!r}") from exc
    if not number.is_finite():
        raise ReceiptError(field, f"not a finite decimal: {value!r}")
    if number.is_signed() or number > limit:  # is_signed: "-0" too
        raise ReceiptError(field, f"between 0 and {limit}, got {value}")
    if number != round(number, places):
        raise ReceiptError(field, f"at most {places} decimals, got {value}")
    return number.quantize(Decimal(1).scaleb(-places))


def _money(field: str, value: object) -> Decimal:
    return _decimal(field, value, 2, MAX_MONEY)


def _time(field: str, value: object, *, zone_needed: bool = True) -> datetime:
    if not isinstance(value, str):
        raise ReceiptError(field, "an ISO 8601 time string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ReceiptError(field, f"not an ISO 8601 time: {value!r}") from exc
    if zone_needed and moment.utcoffset() is None:
        raise ReceiptError(field, "needs its UTC offset, e.g. 2026-03-01T14:05:00+03:00")
    return moment


def _line(field: str, value: object) -> ReceiptLine:
    line = _mapping(field, value)
    quantity = _decimal(f"{field}.quantity", line.get("quantity"), 3, MAX_QUANTITY)
    if quantity == 0:
        raise ReceiptError(f"{field}.quantity", "more than 0")
    if quantity == quantity.to_integral_value():
        quantity = quantity.quantize(Decimal(1))  # 2.000 pieces are 2
    vat = line.get("vat_rate")
    vat_amount = line.get("vat_amount")
    parsed = ReceiptLine(
        name=_text(f"{field}.name", line.get("name")),
        quantity=quantity,
        unit=_text(f"{field}.unit", line.get("unit"), 16),
        price=_money(f"{field}.price", line.get("price")),
        amount=_money(f"{field}.amount", line.get("amount")),
        line_discount=_money(f"{field}.line_discount", line.get("line_discount", "0.00")),
        receipt_discount=_money(f"{field}.receipt_discount", line.get("receipt_discount", "0.00")),
        total=_money(f"{field}.total", line.get("total")),
        vat_rate=None if vat is None else _decimal(f"{field}.vat_rate", vat, 2, Decimal(100)),
        vat_amount=None if vat_amount is None else _money(f"{field}.vat_amount", vat_amount),
    )
    if "discount" in line and _money(f"{field}.discount", line["discount"]) != parsed.discount:
        raise ReceiptError(f"{field}.discount", "must be line_discount + receipt_discount")
    return parsed


def _vat_totals(value: object) -> tuple[VatTotal, ...]:
    if not isinstance(value, list):
        raise ReceiptError("totals.vat", "a list")
    totals = []
    for i, raw in enumerate(value):
        entry = _mapping(f"totals.vat[{i}]", raw)
        totals.append(
            VatTotal(
                rate=_decimal(f"totals.vat[{i}].rate", entry.get("rate"), 2, Decimal(100)),
                amount=_money(f"totals.vat[{i}].amount", entry.get("amount")),
            )
        )
    return tuple(totals)


def _payments(value: object) -> dict[str, Decimal]:
    # None for a gift (nothing to pay); the check against the total is the receipt's
    payments = _mapping("payments", value)
    taken = {}
    for method, amount in payments.items():
        if not _METHOD.fullmatch(method):
            raise ReceiptError("payments", f"not a payment method: {method!r}")
        taken[method] = _money(f"payments.{method}", amount)
    return taken


def _customer(value: object) -> Customer:
    customer = _mapping("customer", value)
    return Customer(
        name=_text("customer.name", customer.get("name")),
        phone=_optional_text("customer.phone", customer.get("phone"), 32),
        email=_optional_text("customer.email", customer.get("email"), 254),
        tax_id=_optional_text("customer.tax_id", customer.get("tax_id"), 12),
    )
