"""Catalogue rules: GS1 check digits, barcode kinds, units, money, search folding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.catalogue import (
    BarcodeKind,
    Unit,
    check_vat_rate,
    classify_barcode,
    gtin_check_digit,
    money,
)
from hub.domain.errors import ValidationFailed
from hub.domain.text import fold

# Real codes from packaging and the GS1 examples.
KNOWN = [
    ("4006381333931", BarcodeKind.EAN13),
    ("96385074", BarcodeKind.EAN8),
    ("036000291452", BarcodeKind.UPCA),
]


@pytest.mark.parametrize(("code", "kind"), KNOWN)
def test_known_codes(code: str, kind: BarcodeKind) -> None:
    assert classify_barcode(code) == (code, kind)
    assert classify_barcode(f"  {code} ") == (code, kind)


@given(st.text(alphabet="0123456789", min_size=12, max_size=12), st.integers(1, 9))
def test_any_wrong_check_digit_is_refused(body: str, shift: int) -> None:
    right = gtin_check_digit(body)
    assert classify_barcode(body + str(right))[1] is BarcodeKind.EAN13
    wrong = (right + shift) % 10
    with pytest.raises(ValidationFailed, match="check digit"):
        classify_barcode(body + str(wrong))


@given(st.text(alphabet="0123456789", min_size=11, max_size=11), st.integers(0, 9))
def test_a_single_digit_error_is_always_caught(body: str, position_seed: int) -> None:
    code = body + str(gtin_check_digit(body))
    position = position_seed % len(body)
    changed = str((int(code[position]) + 1) % 10)
    typo = code[:position] + changed + code[position + 1 :]
    with pytest.raises(ValidationFailed):
        classify_barcode(typo, BarcodeKind.UPCA)


def test_declared_kind_must_fit() -> None:
    with pytest.raises(ValidationFailed) as caught:
        classify_barcode("96385074", BarcodeKind.EAN13)
    assert "13 digits" in caught.value.fields["barcodes"]
    assert classify_barcode("96385074", BarcodeKind.INTERNAL) == ("96385074", BarcodeKind.INTERNAL)
    assert classify_barcode("ABC-123/x", None) == ("ABC-123/x", BarcodeKind.CODE128)
    for bad in ("", "   ", "штрих", "x" * 49, "tab\there"):
        with pytest.raises(ValidationFailed):
            classify_barcode(bad)


def test_units_and_their_precision() -> None:
    assert Unit.PIECE.quantity(Decimal("3")) == Decimal("3")
    assert Unit.KG.quantity(Decimal("0.125")) == Decimal("0.125")
    for unit, bad in ((Unit.PIECE, "1.5"), (Unit.KG, "0.0005"), (Unit.LITRE, "NaN")):
        with pytest.raises(ValidationFailed):
            unit.quantity(Decimal(bad))


def test_money_is_two_decimals_and_never_negative() -> None:
    assert money("12.5", field="price") == Decimal("12.50")
    assert str(money(Decimal("7"), field="price")) == "7.00"
    for bad in ("1.005", "-0.01", "abc", "Infinity", "1e11"):
        with pytest.raises(ValidationFailed) as caught:
            money(bad, field="price")
        assert "price" in caught.value.fields
    with pytest.raises(ValidationFailed):
        money("0", field="price", allow_zero=False)


def test_vat_rate_must_be_configured() -> None:
    rates = ("0", "10", "20")
    assert check_vat_rate(Decimal("20.0"), rates) == Decimal("20.00")
    assert check_vat_rate(None, rates) is None
    with pytest.raises(ValidationFailed):
        check_vat_rate(Decimal("18"), rates)


def test_folding_for_search() -> None:
    assert fold("  Ёжик   В ТУМАНЕ ") == "ежик в тумане"
    assert fold("ＡＢＣ") == "abc"  # full-width letters (NFKC)
    assert fold("Straße") == "strasse"
    assert fold("МОЛОКО") in fold("Молоко Простоквашино")
