"""Catalogue rules: barcodes, units and their precision, money, VAT rates."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from hub.domain.errors import ValidationFailed

MONEY_STEP = Decimal("0.01")
MAX_MONEY = Decimal("9999999999.99")
MAX_ATTRIBUTES = 50


QUANTITY_STEP = Decimal("0.001")  # quantities always travel with three decimals


class Unit(StrEnum):
    """How a product is counted. Weighed and measured goods take three decimals."""

    PIECE = "piece"
    KG = "kg"
    LITRE = "l"
    METRE = "m"

    @property
    def precision(self) -> int:
        return 0 if self is Unit.PIECE else 3

    def quantity(self, value: Decimal, *, field: str = "quantity") -> Decimal:
        """`value` if it has no more decimals than the unit allows; refused otherwise."""
        step = Decimal(1).scaleb(-self.precision)
        if not value.is_finite() or value != value.quantize(step):
            allowed = "whole units" if self is Unit.PIECE else f"{self.precision} decimals"
            raise ValidationFailed(
                f"{self.value} takes {allowed}", fields={field: f"at most {allowed}"}
            )
        return value.quantize(step)


class BarcodeKind(StrEnum):
    EAN13 = "ean13"
    EAN8 = "ean8"
    UPCA = "upca"
    CODE128 = "code128"
    INTERNAL = "internal"


_CODE128_TEXT = re.compile(r"^[\x20-\x7e]{1,48}$")


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit of the digits before it (EAN-8, UPC-A, EAN-13)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        total += int(char) * (3 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10


def _gtin_ok(code: str) -> bool:
    return code.isdigit() and gtin_check_digit(code[:-1]) == int(code[-1])


def classify_barcode(code: str, kind: BarcodeKind | None = None) -> tuple[str, BarcodeKind]:
    """A barcode cleaned and validated, with its kind (guessed from the digits when not
    given). GTINs (EAN-13, EAN-8, UPC-A) must carry a correct check digit; Code 128 and
    internal codes are printable ASCII, free-form."""
    cleaned = code.strip()
    if not cleaned:
        raise ValidationFailed("empty barcode", fields={"barcodes": "must not be empty"})
    if kind is None:
        if cleaned.isdigit() and len(cleaned) in (8, 12, 13):
            kind = {8: BarcodeKind.EAN8, 12: BarcodeKind.UPCA, 13: BarcodeKind.EAN13}[len(cleaned)]
        else:
            kind = BarcodeKind.CODE128 if _CODE128_TEXT.match(cleaned) else None
        if kind is None:
            raise ValidationFailed(
                "unreadable barcode", fields={"barcodes": f"{cleaned!r}: printable ASCII only"}
            )
    lengths = {BarcodeKind.EAN13: 13, BarcodeKind.EAN8: 8, BarcodeKind.UPCA: 12}
    if kind in lengths:
        if not (cleaned.isdigit() and len(cleaned) == lengths[kind]):
            raise ValidationFailed(
                "bad barcode",
                fields={"barcodes": f"{cleaned}: {kind.value} has {lengths[kind]} digits"},
            )
        if not _gtin_ok(cleaned):
            raise ValidationFailed(
                "bad check digit", fields={"barcodes": f"{cleaned}: wrong check digit"}
            )
    elif not _CODE128_TEXT.match(cleaned):
        raise ValidationFailed(
            "bad barcode", fields={"barcodes": f"{cleaned!r}: 1-48 printable ASCII characters"}
        )
    return cleaned, kind


def money(value: Decimal | str | int, *, field: str, allow_zero: bool = True) -> Decimal:
    """A non-negative amount with at most two decimals."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValidationFailed("not a number", fields={field: "a decimal, e.g. 12.50"}) from exc
    if not amount.is_finite() or amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationFailed("bad amount", fields={field: "a positive amount"})
    if amount > MAX_MONEY or amount != amount.quantize(MONEY_STEP, rounding=ROUND_HALF_UP):
        raise ValidationFailed("bad amount", fields={field: "at most two decimals"})
    return amount.quantize(MONEY_STEP)


def check_attributes(attributes: dict[str, str]) -> dict[str, str]:
    if len(attributes) > MAX_ATTRIBUTES:
        raise ValidationFailed(
            "too many attributes", fields={"attributes": f"at most {MAX_ATTRIBUTES}"}
        )
    cleaned = {}
    for key, value in attributes.items():
        name = key.strip()
        if not name or len(name) > 64 or len(value) > 200:
            raise ValidationFailed(
                "bad attribute", fields={"attributes": "names 1-64 chars, values up to 200"}
            )
        cleaned[name] = value.strip()
    return cleaned


def check_vat_rate(rate: Decimal | None, allowed: tuple[str, ...]) -> Decimal | None:
    """A product's VAT rate must be one the tenant has configured (None: without VAT)."""
    if rate is None:
        return None
    if rate.normalize() not in {Decimal(a).normalize() for a in allowed}:
        raise ValidationFailed(
            "unknown VAT rate",
            fields={"vat_rate": f"one of {', '.join(allowed)} or null (configured per tenant)"},
        )
    return rate.quantize(MONEY_STEP)
