"""Rows to CSV or XLSX bytes and back: exports of reports and catalogues, and imports.

Readers return every data row with its line number (as a spreadsheet user would count,
the header being line 1), so an import can name the bad line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

# A cell that starts with one of these is a formula to a spreadsheet; text exported from
# user input is prefixed with a quote so it stays text (CSV/formula injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | Decimal | bool | date | datetime | None


class TableFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


MEDIA_TYPES = {
    TableFormat.CSV: "text/csv; charset=utf-8",
    TableFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class UnreadableTable(ValueError):
    """The file is not a CSV/XLSX table we can read (wrong type, encoding, no header)."""


@dataclass(frozen=True)
class TableRow:
    line: int
    values: dict[str, str]


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return str(value)


def to_csv(headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_text(value) for value in row])
    # A BOM so that Excel opens UTF-8 (Cyrillic names) correctly.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _xlsx_cell(value: Cell) -> object:
    if isinstance(value, datetime):
        # Excel has no time zones: write the instant in UTC without its offset.
        return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, str):
        return _text(value)
    return value


def to_xlsx(headers: Sequence[str], rows: Iterable[Sequence[Cell]], *, title: str) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31] or "Sheet")
    sheet.append(list(headers))
    for row in rows:
        sheet.append([_xlsx_cell(value) for value in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def encode(
    fmt: TableFormat, headers: Sequence[str], rows: Iterable[Sequence[Cell]], *, title: str
) -> bytes:
    if fmt is TableFormat.CSV:
        return to_csv(headers, rows)
    return to_xlsx(headers, rows, title=title)


def _normalise_header(name: object) -> str:
    return str(name or "").strip().lower()


def read_csv(data: bytes) -> tuple[list[str], list[TableRow]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableTable("CSV must be UTF-8") from exc
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except StopIteration as exc:
        raise UnreadableTable("the file is empty") from exc
    except csv.Error as exc:
        raise UnreadableTable(f"not a CSV file: {exc}") from exc
    headers = [_normalise_header(h) for h in header]
    rows = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            rows.append(TableRow(reader.line_num, _row(headers, values)))
    except csv.Error as exc:
        raise UnreadableTable(f"line {reader.line_num}: {exc}") from exc
    return headers, rows


def read_xlsx(data: bytes) -> tuple[list[str], list[TableRow]]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except InvalidFileException as exc:
        raise UnreadableTable("not an XLSX workbook") from exc
    except Exception as exc:  # zipfile, XML and key errors: a damaged or foreign file
        raise UnreadableTable("not an XLSX workbook") from exc
    try:
        sheet = workbook.worksheets[0]
        lines = sheet.iter_rows(values_only=True)
        try:
            header = next(lines)
        except StopIteration as exc:
            raise UnreadableTable("the sheet is empty") from exc
        headers = [_normalise_header(h) for h in header]
        rows = []
        for number, values in enumerate(lines, start=2):
            texts = [_cell_text(v) for v in values]
            if not any(t.strip() for t in texts):
                continue
            rows.append(TableRow(number, _row(headers, texts)))
        return headers, rows
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # Spreadsheets store numbers as binary floats; their shortest repr is what the
        # user typed (12.5, not 12.4999…).
        return repr(value) if not value.is_integer() else str(int(value))
    if isinstance(value, datetime):
        midnight = value.time() == datetime.min.time()
        return value.date().isoformat() if midnight else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _unescaped(value: str) -> str:
    """A cell as it was before export quoted it to keep it text (`'=1+1` was `=1+1`), so
    an exported table imports back unchanged."""
    if value.startswith("'") and value[1:].startswith(_FORMULA_START):
        return value[1:]
    return value


def _row(headers: list[str], values: Sequence[str]) -> dict[str, str]:
    row = {}
    for index, header in enumerate(headers):
        if header:
            row[header] = _unescaped(values[index]).strip() if index < len(values) else ""
    return row


def read(fmt: TableFormat, data: bytes) -> tuple[list[str], list[TableRow]]:
    return read_csv(data) if fmt is TableFormat.CSV else read_xlsx(data)
