"""A receipt laid out for a paper width in characters (32 on 58 mm paper, 42 or 48 on
80 mm): first as blocks (text lines with their style, and the QR code), then as the
ESC/POS bytes of those blocks.

Centred lines are sent without padding and centred by the printer (ESC a 1); every
other line is padded here, amounts flush right. The labels are Russian, as the shops'
receipts are.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from decimal import Decimal

from edge_agent.drivers.escpos_commands import (
    DEFAULT_CODE_PAGE,
    Align,
    CodePage,
    align,
    bold,
    encode_text,
    initialise,
    printable,
    qr_code,
    select_code_page,
    text_size,
)
from edge_agent.receipt import Receipt, ReceiptLine

MIN_WIDTH = 24
MAX_WIDTH = 80
INDENT = "  "

# A return's document carries the number of the sale it is made against.
TITLES = {"sale": "Чек продажи", "return": "Возврат по чеку"}
METHOD_LABELS = {
    "cash": "Наличные",
    "card": "Картой",
    "credit": "В кредит",
    "bonus": "Бонусами",
    "balance": "С баланса",
}


@dataclass(frozen=True)
class PrintLine:
    text: str
    align: Align = Align.LEFT
    bold: bool = False
    tall: bool = False  # double height: as many characters fit as on a normal line


@dataclass(frozen=True)
class QrBlock:
    data: str


Block = PrintLine | QrBlock


def _wrap(text: str, width: int, indent: str = "", hanging: str | None = None) -> list[str]:
    """`text` in lines of `width`, each starting with `indent` (the first) or `hanging`
    (the rest; `indent` when None)."""
    return textwrap.wrap(
        printable(text),
        width,
        initial_indent=indent,
        subsequent_indent=indent if hanging is None else hanging,
        break_on_hyphens=False,
    ) or [indent]


def _columns(left: str, right: str, width: int, indent: str = "") -> list[str]:
    """`left` and `right` on one line, `right` flush right; when they do not fit, `left`
    wraps and `right` ends the last line that has room for it, or gets its own."""
    pieces = _wrap(left, width, indent)
    last = pieces[-1]
    if len(last) + 1 + len(right) <= width:
        return [*pieces[:-1], last + right.rjust(width - len(last))]
    return [*pieces, right.rjust(width)]


def _percent(value: Decimal) -> str:
    """A rate without trailing zeros: 20, 7.5."""
    return format(value.normalize(), "f")


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


# The hub's units (hub.domain.catalogue.Unit) as a Russian receipt names them; any
# other text is printed as it comes.
UNIT_NAMES = {"piece": "шт", "kg": "кг", "l": "л", "m": "м"}


def _item(index: int, line: ReceiptLine, width: int) -> list[PrintLine]:
    text = _wrap(f"{index}. {line.name}", width, hanging=INDENT)
    unit = UNIT_NAMES.get(line.unit, line.unit)
    text += _columns(
        f"{line.quantity} {unit} x {_money(line.price)}",  # 2, or 0.350 as weighed
        _money(line.amount),
        width,
        INDENT,
    )
    if line.line_discount:
        text += _columns("Скидка", f"-{_money(line.line_discount)}", width, INDENT)
    if line.receipt_discount:
        text += _columns("Скидка на чек", f"-{_money(line.receipt_discount)}", width, INDENT)
    vat = "Без НДС" if line.vat_rate is None else f"НДС {_percent(line.vat_rate)}%"
    text += _wrap(vat, width, INDENT)
    return [PrintLine(t) for t in text]


def receipt_blocks(receipt: Receipt, width: int) -> list[Block]:
    """The receipt as styled lines and its QR code, top to bottom."""
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise ValueError(f"a receipt is {MIN_WIDTH}-{MAX_WIDTH} characters wide, not {width}")
    rule = PrintLine("-" * width)
    blocks: list[Block] = [PrintLine("КОПИЯ ЧЕКА", Align.CENTER, bold=True)] if receipt.copy else []
    blocks += [
        PrintLine(t, Align.CENTER, bold=True, tall=True) for t in _wrap(receipt.shop_name, width)
    ]
    for extra in (receipt.business, receipt.shop_address):
        if extra and extra != receipt.shop_name:
            blocks += [PrintLine(t, Align.CENTER) for t in _wrap(extra, width)]
    blocks.append(rule)
    head = [
        *([f"Чек возврата № {receipt.return_number}"] if receipt.return_number else []),
        f"{TITLES[receipt.operation]} № {receipt.receipt_number}",
        f"Касса: {receipt.register}",
        *([f"Кассир: {receipt.cashier}"] if receipt.cashier else []),
        f"{receipt.time:%d.%m.%Y %H:%M}",
    ]
    blocks += [PrintLine(t) for text in head for t in _wrap(text, width)]
    blocks.append(rule)
    for index, line in enumerate(receipt.lines, start=1):
        blocks += _item(index, line, width)
    blocks.append(rule)
    if receipt.discount_total:
        blocks += [PrintLine(t) for t in _columns("Сумма", _money(receipt.subtotal), width)]
        blocks += [
            PrintLine(t) for t in _columns("Скидка", f"-{_money(receipt.discount_total)}", width)
        ]
    blocks += [
        PrintLine(t, bold=True, tall=True) for t in _columns("ИТОГ", _money(receipt.total), width)
    ]
    paid: list[str] = []
    for vat in receipt.vat_totals:
        paid += _columns(f"в т.ч. НДС {_percent(vat.rate)}%", _money(vat.amount), width)
    for method, amount in receipt.payments.items():
        paid += _columns(METHOD_LABELS.get(method, method), _money(amount), width)
    if receipt.change:
        paid += _columns("Получено наличными", _money(receipt.tendered_cash), width)
        paid += _columns("Сдача", _money(receipt.change), width)
    if receipt.customer is not None:
        paid += _wrap(f"Покупатель: {receipt.customer.name}", width)
    if receipt.bonus_accrued:
        paid += _columns("Начислено бонусов", _money(receipt.bonus_accrued), width)
    blocks += [PrintLine(t) for t in paid]
    if receipt.fiscal is not None and receipt.qr_text is not None:
        fiscal = receipt.fiscal
        blocks.append(rule)
        blocks += [
            PrintLine(f"Смена № {fiscal.shift_number}"),
            PrintLine(f"ФД № {fiscal.document_number}"),
            PrintLine(f"ФП {fiscal.fiscal_sign}"),
            PrintLine(f"ФН {fiscal.fn_number}"),
            QrBlock(receipt.qr_text),
        ]
    blocks.append(PrintLine("Спасибо за покупку!", Align.CENTER))
    return blocks


def receipt_text(receipt: Receipt, width: int) -> list[str]:
    """The receipt's text lines, as a printer would print them (centred ones unpadded)."""
    return [b.text for b in receipt_blocks(receipt, width) if isinstance(b, PrintLine)]


def layout(receipt: Receipt, width: int, code_page: CodePage = DEFAULT_CODE_PAGE) -> bytes:
    """The receipt's ESC/POS bytes, from initialising the printer to the last line (the
    cut and the drawer kick are the printer driver's)."""
    out = bytearray(initialise() + select_code_page(code_page.number))
    style = PrintLine("")  # what the printer is set to after ESC @
    for block in receipt_blocks(receipt, width):
        if isinstance(block, QrBlock):
            if style.align != Align.CENTER:
                out += align(Align.CENTER)
            out += qr_code(block.data)  # leaves the print position at a new line
            style = PrintLine("", Align.CENTER, style.bold, style.tall)
            continue
        if block.align != style.align:
            out += align(block.align)
        if block.bold != style.bold:
            out += bold(block.bold)
        if block.tall != style.tall:
            out += text_size(1, 2 if block.tall else 1)
        out += encode_text(block.text, code_page.codec) + b"\n"
        style = block
    return bytes(out)
