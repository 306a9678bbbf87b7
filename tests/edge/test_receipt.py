"""The receipt document: built from the hub's print job payload, strictly checked (a bad
payload fails with the field named), fiscal fields and the FNS QR text.

`sample_payload` is shared with the printer tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from edge_agent.receipt import Customer, Fiscal, Receipt, ReceiptError, ReceiptLine, VatTotal

D = Decimal
MSK = timezone(timedelta(hours=3))
FISCAL = Fiscal(
    document_number=345, fiscal_sign="1234567890", fn_number="9999078900001234", shift_number=12
)


def sample_payload() -> dict[str, Any]:
    """The hub's receipt document (version 1): a line with its own discount, a weighed
    line, a 5 % receipt discount spread over both, cash with change and a card."""
    return {
        "version": 1,
        "sale": "5f0c6b8e-7a41-4a8e-9d55-0b3f2f0e9a11",
        "business": "ООО «Ромашка»",
        "shop": {"id": "s-1", "name": "Лавка у дома", "address": "г. Москва, ул. Ленина, 1"},
        "register": {"id": "r-1", "name": "Касса 1"},
        "shift": {"id": "sh-1", "number": 7},
        "number": 42,
        "cashier": {"id": "u-1", "name": "Иванова А."},
        "created_at": "2026-03-01T14:05:00+03:00",
        "timezone": "Europe/Moscow",
        "lines": [
            {
                "position": 1,
                "product": "p-1",
                "name": "Молоко «Домик в деревне» 3,2% 1 л",
                "quantity": "2.000",
                "unit": "шт",
                "price": "89.90",
                "amount": "179.80",
                "line_discount": "10.00",
                "receipt_discount": "8.49",
                "discount": "18.49",
                "total": "161.31",
                "vat_rate": "20.00",
                "vat_amount": "26.89",
            },
            {
                "position": 2,
                "product": "p-2",
                "name": "Сыр",
                "quantity": "0.350",
                "unit": "кг",
                "price": "899.00",
                "amount": "314.65",
                "line_discount": "0.00",
                "receipt_discount": "15.73",
                "discount": "15.73",
                "total": "298.92",
                "vat_rate": None,
                "vat_amount": None,
            },
        ],
        "totals": {
            "subtotal": "494.45",
            "discount_total": "34.22",
            "receipt_discount": "24.22",
            "receipt_discount_percent": "5.00",
            "total": "460.23",
            "vat": [{"rate": "20.00", "amount": "26.89"}],
        },
        "payments": {"card": "200.00", "cash": "260.23"},
        "tendered_cash": "300.00",
        "change": "39.77",
        "bonus_accrued": "4.60",
        "customer": {
            "id": "c-1",
            "kind": "person",
            "name": "Петров И.",
            "legal_name": None,
            "tax_id": None,
            "phone": "+79991234567",
            "email": None,
            "bonus": "120.00",
        },
    }


def card_payload() -> dict[str, Any]:
    """One line paid by card: no discounts, no cash, no customer, no extras."""
    payload = sample_payload()
    payload["lines"] = [
        {
            "name": "Хлеб",
            "quantity": "1.000",
            "unit": "шт",
            "price": "45.00",
            "amount": "45.00",
            "line_discount": "0.00",
            "receipt_discount": "0.00",
            "total": "45.00",
            "vat_rate": "10.00",
            "vat_amount": "4.09",
        }
    ]
    payload["totals"] = {
        "subtotal": "45.00",
        "discount_total": "0.00",
        "total": "45.00",
        "vat": [{"rate": "10.00", "amount": "4.09"}],
    }
    payload.update(payments={"card": "45.00"}, tendered_cash="0.00", change="0.00")
    payload.update(customer=None, bonus_accrued="0.00", business=None)
    payload["shop"] = {"id": "s-1", "name": "Лавка у дома", "address": None}
    return payload


def test_from_job_reads_every_field_with_decimal_money() -> None:
    receipt = Receipt.from_job(sample_payload())

    assert (receipt.shop_name, receipt.shop_address, receipt.business) == (
        "Лавка у дома",
        "г. Москва, ул. Ленина, 1",
        "ООО «Ромашка»",
    )
    assert (receipt.register, receipt.receipt_number, receipt.cashier) == (
        "Касса 1",
        42,
        "Иванова А.",
    )
    assert receipt.time == datetime(2026, 3, 1, 14, 5, tzinfo=MSK)
    assert receipt.sale_id == "5f0c6b8e-7a41-4a8e-9d55-0b3f2f0e9a11"
    milk, cheese = receipt.lines
    assert milk == ReceiptLine(
        name="Молоко «Домик в деревне» 3,2% 1 л",
        quantity=D("2"),
        unit="шт",
        price=D("89.90"),
        amount=D("179.80"),
        line_discount=D("10.00"),
        receipt_discount=D("8.49"),
        total=D("161.31"),
        vat_rate=D("20.00"),
        vat_amount=D("26.89"),
    )
    assert str(milk.quantity) == "2"  # whole pieces print as such
    assert (cheese.quantity, cheese.discount, cheese.vat_rate, cheese.vat_amount) == (
        D("0.350"),
        D("15.73"),
        None,
        None,
    )
    assert (receipt.subtotal, receipt.discount_total, receipt.total) == (
        D("494.45"),
        D("34.22"),
        D("460.23"),
    )
    assert receipt.receipt_discount_percent == D("5.00")
    assert receipt.vat_totals == (VatTotal(D("20.00"), D("26.89")),)
    assert dict(receipt.payments) == {"card": D("200.00"), "cash": D("260.23")}
    assert (receipt.tendered_cash, receipt.change, receipt.cash) == (
        D("300.00"),
        D("39.77"),
        D("260.23"),
    )
    assert receipt.bonus_accrued == D("4.60")
    assert receipt.customer == Customer("Петров И.", phone="+79991234567")
    assert (receipt.operation, receipt.fiscal, receipt.qr_text) == ("sale", None, None)
    assert all(isinstance(v, Decimal) for v in receipt.payments.values())


def test_optional_parts_may_be_null_or_absent() -> None:
    payload = card_payload()
    for key in ("business", "bonus_accrued", "sale"):
        payload.pop(key)
    payload["cashier"] = {"id": "u-9", "name": ""}  # the hub had no name for them
    receipt = Receipt.from_job(payload)

    assert (receipt.business, receipt.shop_address, receipt.customer) == (None, None, None)
    assert (receipt.cashier, receipt.bonus_accrued, receipt.sale_id) == ("", D("0.00"), None)
    assert receipt.receipt_discount_percent is None


def test_unknown_keys_are_ignored_so_the_hub_can_add_fields_first() -> None:
    payload = sample_payload()
    payload["printed_by"] = "someone"
    payload["lines"][0]["sku"] = "A-1"
    assert Receipt.from_job(payload).total == D("460.23")


def test_qr_text_in_the_fns_format_once_fiscalised() -> None:
    receipt = Receipt.from_job(sample_payload()).with_fiscal(FISCAL)

    assert receipt.fiscal == FISCAL
    assert receipt.qr_text == (
        "t=20260301T1405&s=460.23&fn=9999078900001234&i=345&fp=1234567890&n=1"
    )


def test_qr_text_of_a_return_and_with_the_registers_own_time() -> None:
    payload = card_payload()
    payload["operation"] = "return"
    payload["fiscal"] = {
        "document_number": 7,
        "fiscal_sign": "0042",
        "fn_number": "9960440300001234",
        "shift_number": 1,
        "time": "2026-03-01T14:06:59+03:00",
    }
    receipt = Receipt.from_job(payload)

    assert receipt.qr_text == "t=20260301T1406&s=45.00&fn=9960440300001234&i=7&fp=0042&n=2"


def test_fiscal_result_as_a_register_driver_may_give_it() -> None:
    """A numeric fiscal sign (printed in 10 digits), the register's clock without a zone
    under `issued_at`, and keys the printer does not need."""
    fiscal = Fiscal.from_json(
        {
            "kind": "sale",
            "document_number": 12,
            "fiscal_sign": 98765,
            "fn_number": "9999078900001234",
            "shift_number": 3,
            "issued_at": "2026-03-01T14:07:00",
            "recovered": False,
        }
    )
    receipt = Receipt.from_job(card_payload()).with_fiscal(fiscal)

    assert fiscal.fiscal_sign == "0000098765"
    assert fiscal.time == datetime(2026, 3, 1, 14, 7)
    assert receipt.qr_text == "t=20260301T1407&s=45.00&fn=9999078900001234&i=12&fp=0000098765&n=1"


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """A change to the sample payload: `path` like "lines.0.price"; value DELETE drops it."""

    def change(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = payload
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        key: Any = int(last) if isinstance(target, list) else last
        if value is DELETE:
            del target[key]
        else:
            target[key] = value

    return change


DELETE = object()

BAD_PAYLOADS = [
    # (change, the field the error names)
    (_set("version", DELETE), "version"),
    (_set("version", 2), "version"),
    (_set("version", True), "version"),
    (_set("shop", DELETE), "shop"),
    (_set("shop.name", "   "), "shop.name"),
    (_set("shop.address", 5), "shop.address"),
    (_set("register", "Касса 1"), "register"),
    (_set("register.name", None), "register.name"),
    (_set("cashier.name", 7), "cashier.name"),
    (_set("number", "42"), "number"),
    (_set("number", True), "number"),
    (_set("number", 0), "number"),
    (_set("created_at", "2026-03-01T14:05:00"), "created_at"),  # no offset
    (_set("created_at", "yesterday"), "created_at"),
    (_set("lines", []), "lines"),
    (_set("lines", {"0": {}}), "lines"),
    (_set("lines.0", "milk"), "lines[0]"),
    (_set("lines.0.name", ""), "lines[0].name"),
    (_set("lines.0.name", "x" * 501), "lines[0].name"),
    (_set("lines.0.price", 89.9), "lines[0].price"),  # a float: never money
    (_set("lines.0.price", "89.901"), "lines[0].price"),
    (_set("lines.0.price", "-89.90"), "lines[0].price"),
    (_set("lines.0.price", "NaN"), "lines[0].price"),
    (_set("lines.0.price", "Infinity"), "lines[0].price"),
    (_set("lines.0.price", "12,50"), "lines[0].price"),
    (_set("lines.0.price", "1e30"), "lines[0].price"),
    (_set("lines.0.amount", "179.81"), "lines[0].amount"),  # not price x quantity
    (_set("lines.0.total", "169.80"), "lines[0].total"),  # a discount not taken off
    (_set("lines.0.discount", "10.00"), "lines[0].discount"),
    (_set("lines.1.quantity", "0"), "lines[1].quantity"),
    (_set("lines.1.quantity", "0.3501"), "lines[1].quantity"),
    (_set("lines.1.unit", DELETE), "lines[1].unit"),
    (_set("lines.0.vat_rate", "101"), "lines[0].vat_rate"),
    (_set("lines.0.vat_amount", 26.89), "lines[0].vat_amount"),
    (_set("totals", DELETE), "totals"),
    (_set("totals.subtotal", "494.46"), "totals.subtotal"),
    (_set("totals.discount_total", "10.00"), "totals.discount_total"),
    (_set("totals.total", "-0.00"), "totals.total"),
    (_set("totals.total", "460.24"), "totals.total"),
    (_set("totals.vat", {"20": "26.89"}), "totals.vat"),
    (_set("totals.vat.0.rate", DELETE), "totals.vat[0].rate"),
    (_set("totals.receipt_discount_percent", "150"), "totals.receipt_discount_percent"),
    (_set("payments", {}), "payments"),
    (_set("payments", {"Cash!": "460.23"}), "payments"),
    (_set("payments.card", "100.00"), "payments"),  # does not add up to the total
    (_set("payments.card", None), "payments.card"),
    (_set("tendered_cash", "290.00"), "tendered_cash"),
    (_set("change", DELETE), "change"),
    (_set("bonus_accrued", 4.6), "bonus_accrued"),
    (_set("operation", "refund"), "operation"),
    (_set("customer", {"phone": "+79991234567"}), "customer.name"),
    (_set("customer", "Петров"), "customer"),
    (_set("customer.tax_id", "1234567890123"), "customer.tax_id"),
    (
        _set(
            "fiscal",
            {"document_number": 1, "fiscal_sign": "12AB", "fn_number": "1", "shift_number": 1},
        ),
        "fiscal.fiscal_sign",
    ),
    (
        _set("fiscal", {"document_number": 1, "fiscal_sign": "1", "fn_number": "1"}),
        "fiscal.shift_number",
    ),
    (
        _set(
            "fiscal",
            {"document_number": 1, "fiscal_sign": -5, "fn_number": "1", "shift_number": 1},
        ),
        "fiscal.fiscal_sign",
    ),
    (
        _set(
            "fiscal",
            {"document_number": 1, "fiscal_sign": "1", "fn_number": None, "shift_number": 1},
        ),
        "fiscal.fn_number",
    ),
]


@pytest.mark.parametrize(("change", "field"), BAD_PAYLOADS)
def test_a_bad_payload_fails_naming_its_field(
    change: Callable[[dict[str, Any]], None], field: str
) -> None:
    payload = copy.deepcopy(sample_payload())
    change(payload)

    with pytest.raises(ReceiptError) as caught:
        Receipt.from_job(payload)

    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_a_payload_that_is_not_an_object_fails() -> None:
    with pytest.raises(ReceiptError, match="an object"):
        Receipt.from_job(["not", "a", "receipt"])  # type: ignore[arg-type]


def test_fiscal_fields_are_checked_when_built_directly() -> None:
    with pytest.raises(ReceiptError) as bad_fn:
        Fiscal(document_number=1, fiscal_sign="1", fn_number="FN-1", shift_number=1)
    with pytest.raises(ReceiptError) as bad_number:
        Fiscal(document_number=0, fiscal_sign="1", fn_number="1", shift_number=1)

    assert (bad_fn.value.field, bad_number.value.field) == (
        "fiscal.fn_number",
        "fiscal.document_number",
    )
