"""The receipt layout: exact text lines per paper width, and its ESC/POS bytes read back
by the simulator's parser (no I/O): the same lines, styles, code page and QR code."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edge_agent.drivers.escpos_commands import CodePage, initialise, select_code_page
from edge_agent.drivers.escpos_layout import layout, receipt_text
from edge_agent.receipt import Receipt
from edge_agent.simulators.printer import SimulatedPrinter
from tests.edge.test_receipt import FISCAL, card_payload, sample_payload

WIDTH_32 = [
    "Лавка у дома",
    'ООО "Ромашка"',
    "г. Москва, ул. Ленина, 1",
    "--------------------------------",
    "Чек продажи № 42",
    "Касса: Касса 1",
    "Кассир: Иванова А.",
    "01.03.2026 14:05",
    "--------------------------------",
    '1. Молоко "Домик в деревне" 3,2%',
    "  1 л",
    "  2 шт x 89.90            179.80",
    "  Скидка                  -10.00",
    "  Скидка на чек            -8.49",
    "  НДС 20%",
    "2. Сыр",
    "  0.350 кг x 899.00       314.65",
    "  Скидка на чек           -15.73",
    "  Без НДС",
    "--------------------------------",
    "Сумма                     494.45",
    "Скидка                    -34.22",
    "ИТОГ                      460.23",
    "в т.ч. НДС 20%             26.89",
    "Картой                    200.00",
    "Наличные                  260.23",
    "Получено наличными        300.00",
    "Сдача                      39.77",
    "Покупатель: Петров И.",
    "Начислено бонусов           4.60",
    "--------------------------------",
    "Смена № 12",
    "ФД № 345",
    "ФП 1234567890",
    "ФН 9999078900001234",
    "Спасибо за покупку!",
]

WIDTH_48 = [
    "Лавка у дома",
    'ООО "Ромашка"',
    "г. Москва, ул. Ленина, 1",
    "------------------------------------------------",
    "Чек продажи № 42",
    "Касса: Касса 1",
    "Кассир: Иванова А.",
    "01.03.2026 14:05",
    "------------------------------------------------",
    '1. Молоко "Домик в деревне" 3,2% 1 л',
    "  2 шт x 89.90                            179.80",
    "  Скидка                                  -10.00",
    "  Скидка на чек                            -8.49",
    "  НДС 20%",
    "2. Сыр",
    "  0.350 кг x 899.00                       314.65",
    "  Скидка на чек                           -15.73",
    "  Без НДС",
    "------------------------------------------------",
    "Сумма                                     494.45",
    "Скидка                                    -34.22",
    "ИТОГ                                      460.23",
    "в т.ч. НДС 20%                             26.89",
    "Картой                                    200.00",
    "Наличные                                  260.23",
    "Получено наличными                        300.00",
    "Сдача                                      39.77",
    "Покупатель: Петров И.",
    "Начислено бонусов                           4.60",
    "------------------------------------------------",
    "Смена № 12",
    "ФД № 345",
    "ФП 1234567890",
    "ФН 9999078900001234",
    "Спасибо за покупку!",
]

CARD_42 = [
    "Лавка у дома",
    "------------------------------------------",
    "Чек продажи № 42",
    "Касса: Касса 1",
    "Кассир: Иванова А.",
    "01.03.2026 14:05",
    "------------------------------------------",
    "1. Хлеб",
    "  1 шт x 45.00                       45.00",
    "  НДС 10%",
    "------------------------------------------",
    "ИТОГ                                 45.00",
    "в т.ч. НДС 10%                        4.09",
    "Картой                               45.00",
    "Спасибо за покупку!",
]


def fiscalised() -> Receipt:
    return Receipt.from_job(sample_payload()).with_fiscal(FISCAL)


@pytest.mark.parametrize(("width", "expected"), [(32, WIDTH_32), (48, WIDTH_48)])
def test_lines_of_a_fiscalised_receipt(width: int, expected: list[str]) -> None:
    lines = receipt_text(fiscalised(), width)

    assert lines == expected
    assert max(len(line) for line in lines) == width


def test_the_hubs_units_print_in_russian() -> None:
    """The hub sends `piece`, `kg`, `l`, `m`; the receipt is Russian."""
    payload = sample_payload()
    payload["lines"][0]["unit"], payload["lines"][1]["unit"] = "piece", "kg"
    lines = receipt_text(Receipt.from_job(payload).with_fiscal(FISCAL), 48)
    assert "  2 шт x 89.90                            179.80" in lines
    assert "  0.350 кг x 899.00                       314.65" in lines
    assert not any("piece" in line or " kg " in line for line in lines)


def test_without_discounts_fiscal_fields_or_change_those_lines_are_left_out() -> None:
    assert receipt_text(Receipt.from_job(card_payload()), 42) == CARD_42


def test_a_return_has_its_own_title() -> None:
    payload = card_payload()
    payload["operation"] = "return"

    # The number is the sale's: the receipt the goods are returned against.
    assert receipt_text(Receipt.from_job(payload), 32)[2] == "Возврат по чеку № 42"
    # With its own number, the return receipt names both.
    payload["return_number"] = 3
    assert receipt_text(Receipt.from_job(payload), 32)[2:4] == [
        "Чек возврата № 3",
        "Возврат по чеку № 42",
    ]


def test_a_copy_says_so_above_everything_else() -> None:
    receipt = Receipt.from_job(card_payload())
    again = receipt_text(replace(receipt, copy=True), 42)
    assert again[0].strip() == "КОПИЯ ЧЕКА"
    assert again[1:] == receipt_text(receipt, 42)


def test_a_cashier_without_a_name_leaves_the_line_out() -> None:
    payload = card_payload()
    payload["cashier"]["name"] = ""

    lines = receipt_text(Receipt.from_job(payload), 42)

    assert lines[2:5] == ["Чек продажи № 42", "Касса: Касса 1", "01.03.2026 14:05"]


def test_long_names_wrap_and_an_amount_that_does_not_fit_gets_its_own_line() -> None:
    payload = card_payload()
    payload["lines"][0]["name"] = "Сверхдлинноеназваниетовара-без-пробелов-вообще"
    payload["lines"][0]["unit"] = "упаковка"
    line = payload["lines"][0]
    line["price"] = line["amount"] = line["total"] = "1234567.89"
    payload["totals"].update(subtotal="1234567.89", total="1234567.89")
    payload["payments"] = {"card": "1234567.89"}
    lines = receipt_text(Receipt.from_job(payload), 24)

    assert lines[7:12] == [
        "1. Сверхдлинноеназваниет",
        "  овара-без-пробелов-воо",
        "  бще",
        "  1 упаковка x",
        "  1234567.89  1234567.89",
    ]
    assert all(len(line) <= 24 for line in lines)


def test_bytes_start_by_initialising_and_selecting_the_code_page() -> None:
    data = layout(fiscalised(), 32, CodePage(17, "cp866"))

    assert data.startswith(initialise() + select_code_page(17))


def test_bytes_read_back_as_the_same_lines_styles_and_qr_code() -> None:
    receipt = fiscalised()
    printer = SimulatedPrinter()

    assert printer.feed(layout(receipt, 48)) == b""  # nothing asked, nothing answered

    state = printer.state
    assert state.lines == WIDTH_48
    shop, business, address, rule = state.printed[:4]
    assert (shop.align, shop.bold, shop.height) == (1, True, 2)  # centred, bold, tall
    assert (business.align, business.bold, business.height) == (1, False, 1)
    assert (address.align, address.bold, address.height) == (1, False, 1)
    assert (rule.align, rule.bold, rule.height) == (0, False, 1)
    total = next(line for line in state.printed if line.text.startswith("ИТОГ"))
    assert (total.bold, total.height) == (True, 2)
    assert state.printed[-1].align == 1
    assert state.qr_codes == [receipt.qr_text]
    assert state.cuts == []  # the driver cuts, not the layout
    assert state.unknown_commands == []


def test_another_code_page_decodes_back_the_same() -> None:
    printer = SimulatedPrinter()
    printer.feed(layout(fiscalised(), 32, CodePage(46, "cp1251")))

    assert printer.state.lines == WIDTH_32


def test_control_characters_in_a_name_do_not_become_commands() -> None:
    payload = card_payload()
    payload["lines"][0]["name"] = "Хлеб\x1b@\x1dV\x00"
    printer = SimulatedPrinter()
    printer.feed(layout(Receipt.from_job(payload), 32))

    assert "1. Хлеб @ V" in printer.state.lines
    assert printer.state.cuts == []


@pytest.mark.parametrize("width", [23, 81])
def test_widths_outside_24_to_80_are_refused(width: int) -> None:
    with pytest.raises(ValueError, match="24-80"):
        receipt_text(fiscalised(), width)
