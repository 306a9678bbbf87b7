"""Catalogue import (a shop's first day: products with their stock) and exports.

An import is all or nothing: every row is checked first, and one bad row means nothing
is written and every bad row is named with its line and field. Rows whose SKU already
exists update that product; the others create one. Quantities arrive as a batch each.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from hub.adapters.db.catalogue_tables import (
    Barcode,
    Batch,
    Category,
    Product,
    StockLevel,
    StockMovement,
    Supplier,
)
from hub.adapters.db.uow import UnitOfWork
from hub.adapters.tabular import Cell, TableRow
from hub.domain.catalogue import (
    BarcodeKind,
    Unit,
    check_vat_rate,
    classify_barcode,
    money,
)
from hub.domain.errors import DomainError, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.permissions import Permission
from hub.domain.stock import MovementKind
from hub.domain.tenant_settings import TenantSettings
from hub.domain.text import fold
from hub.services import stock
from hub.services.catalogue import ProductView
from hub.services.principal import Principal
from protocol import channels

COLUMNS = (
    "name",
    "sku",
    "barcodes",
    "category",
    "unit",
    "price",
    "cost",
    "vat_rate",
    "supplier",
    "quantity",
    "batch_number",
    "expiry_date",
)
REQUIRED = ("name", "price")
MAX_REPORTED = 200
_SPLIT = re.compile(r"[\s,;]+")
CATEGORY_SEPARATOR = "/"


@dataclass
class ParsedRow:
    line: int
    name: str
    price: Decimal
    sku: str | None
    barcodes: list[tuple[str, BarcodeKind]]
    category_path: tuple[str, ...]
    unit: Unit
    cost: Decimal
    vat_rate: Decimal | None
    supplier: str
    quantity: Decimal
    batch_number: str
    expiry_date: date | None


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    stocked: int = 0
    rows: int = 0
    dry_run: bool = False
    product_ids: list[uuid.UUID] = field(default_factory=list)


class _Problems:
    def __init__(self) -> None:
        self.found: dict[str, str] = {}
        self.count = 0

    def add(self, line: int, column: str, message: str) -> None:
        self.count += 1
        if len(self.found) < MAX_REPORTED:
            self.found[f"line {line}.{column}"] = message


def _parse_date(text: str) -> date:
    for pattern in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError("a date such as 2027-03-31 or 31.03.2027")


def _decimal(text: str) -> Decimal:
    # Spreadsheets in Russia write decimal commas and spaces between thousands.
    cleaned = text.replace("\u00a0", "").replace(" ", "").replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not value.is_finite():
        raise ValueError("not a number")
    return value


def _parse_row(row: TableRow, settings: TenantSettings, problems: _Problems) -> ParsedRow | None:
    values = row.values
    bad_before = problems.count

    def check(column: str, parse: object) -> object:
        try:
            return parse() if callable(parse) else parse
        except DomainError as exc:
            problems.add(row.line, column, next(iter(exc.fields.values()), exc.message))
        except ValueError as exc:
            problems.add(row.line, column, str(exc))
        return None

    for column in REQUIRED:
        if not values.get(column):
            problems.add(row.line, column, "required")
    name = " ".join(values.get("name", "").split())[:300]
    price = check("price", lambda: money(_decimal(values["price"]), field="price"))
    cost_text = values.get("cost", "")
    cost = check("cost", lambda: money(_decimal(cost_text), field="cost")) if cost_text else None
    unit = check("unit", lambda: Unit(values.get("unit") or "piece"))
    if values.get("unit") and unit is None:
        problems.found[f"line {row.line}.unit"] = "one of " + ", ".join(u.value for u in Unit)
    vat_text = values.get("vat_rate", "").rstrip("%").strip()
    vat = check(
        "vat_rate",
        lambda: check_vat_rate(_decimal(vat_text), settings.vat_rates) if vat_text else None,
    )
    barcodes: list[tuple[str, BarcodeKind]] = []
    for code in filter(None, _SPLIT.split(values.get("barcodes", ""))):
        checked = check("barcodes", lambda code=code: classify_barcode(code))
        if isinstance(checked, tuple):
            barcodes.append(checked)
    quantity_text = values.get("quantity", "")
    quantity: object = Decimal("0")
    if quantity_text and isinstance(unit, Unit):
        quantity = check("quantity", lambda: unit.quantity(_decimal(quantity_text)))
        if isinstance(quantity, Decimal) and quantity < 0:
            problems.add(row.line, "quantity", "0 or more")
    expiry_text = values.get("expiry_date", "")
    expiry = check("expiry_date", lambda: _parse_date(expiry_text)) if expiry_text else None
    path = tuple(
        part.strip()
        for part in values.get("category", "").split(CATEGORY_SEPARATOR)
        if part.strip()
    )
    sku = values.get("sku", "").strip() or None
    if sku is not None and len(sku) > 64:
        problems.add(row.line, "sku", "at most 64 characters")
    if problems.count > bad_before:
        return None
    assert isinstance(price, Decimal)
    assert isinstance(unit, Unit)
    assert isinstance(quantity, Decimal)
    return ParsedRow(
        line=row.line,
        name=name,
        price=price,
        sku=sku,
        barcodes=barcodes,
        category_path=path,
        unit=unit,
        cost=cost if isinstance(cost, Decimal) else Decimal("0.00"),
        vat_rate=vat if isinstance(vat, Decimal) else None,
        supplier=values.get("supplier", "").strip()[:200],
        quantity=quantity,
        batch_number=values.get("batch_number", "").strip()[:64],
        expiry_date=expiry if isinstance(expiry, date) else None,
    )


async def _check_against_store(
    uow: UnitOfWork, rows: Sequence[ParsedRow], problems: _Problems
) -> dict[str, uuid.UUID]:
    """Duplicates within the file and barcodes owned by other products. Returns the
    products that existing SKUs name (those rows update them)."""
    seen_sku: dict[str, int] = {}
    seen_code: dict[str, int] = {}
    for row in rows:
        if row.sku is not None:
            if row.sku in seen_sku:
                problems.add(row.line, "sku", f"also on line {seen_sku[row.sku]}")
            seen_sku.setdefault(row.sku, row.line)
        for code, _kind in row.barcodes:
            if code in seen_code:
                problems.add(row.line, "barcodes", f"{code} also on line {seen_code[code]}")
            seen_code.setdefault(code, row.line)
    by_sku = await uow.products.skus_taken(seen_sku)
    owners = await uow.products.barcode_owners(seen_code)
    for row in rows:
        mine = by_sku.get(row.sku) if row.sku else None
        for code, _kind in row.barcodes:
            owner = owners.get(code)
            if owner is not None and owner != mine:
                problems.add(row.line, "barcodes", f"{code} belongs to another product")
    return by_sku


class _Resolver:
    """Categories by path and suppliers by name, created on first use."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.categories: dict[tuple[str, ...], uuid.UUID] = {}
        self.suppliers: dict[str, uuid.UUID] = {}

    async def category(self, path: tuple[str, ...]) -> uuid.UUID | None:
        parent: uuid.UUID | None = None
        for depth in range(1, len(path) + 1):
            key = tuple(p.casefold() for p in path[:depth])
            if key not in self.categories:
                found = await self.uow.categories.by_parent_and_name(parent, path[depth - 1])
                if found is None:
                    found = Category(id=new_id(), name=path[depth - 1][:200], parent_id=parent)
                    self.uow.categories.add(found)
                    await self.uow.session.flush()
                self.categories[key] = found.id
            parent = self.categories[key]
        return parent

    async def supplier(self, name: str) -> uuid.UUID | None:
        if not name:
            return None
        key = name.casefold()
        if key not in self.suppliers:
            found = await self.uow.suppliers.by_name(name)
            if found is None:
                found = Supplier(
                    id=new_id(), name=name, tax_id="", phone="", email="", notes="", is_active=True
                )
                self.uow.suppliers.add(found)
                await self.uow.session.flush()
            self.suppliers[key] = found.id
        return self.suppliers[key]


async def import_products(
    uow: UnitOfWork,
    principal: Principal,
    rows: Sequence[TableRow],
    headers: Sequence[str],
    *,
    shop_id: uuid.UUID | None,
    dry_run: bool = False,
    max_rows: int,
) -> ImportReport:
    principal.require(Permission.CATALOGUE_MANAGE)
    missing = [c for c in REQUIRED if c not in headers]
    if missing:
        raise ValidationFailed(
            "the header row lacks required columns",
            fields={"header": f"missing {', '.join(missing)}; columns: {', '.join(COLUMNS)}"},
        )
    if not rows:
        raise ValidationFailed("no rows to import", fields={"file": "no data rows"})
    if len(rows) > max_rows:
        raise ValidationFailed("too many rows", fields={"file": f"at most {max_rows} rows"})
    settings = TenantSettings.from_json(await uow.tenants.settings())
    problems = _Problems()
    parsed = [p for row in rows if (p := _parse_row(row, settings, problems)) is not None]
    by_sku = await _check_against_store(uow, parsed, problems)
    stocked = [row for row in parsed if row.quantity > 0]
    if stocked:
        principal.require(Permission.STOCK_MANAGE)
        if shop_id is None:
            problems.add(stocked[0].line, "quantity", "give ?shop= to import quantities")
    if shop_id is not None:
        shop = await uow.shops.get(shop_id)
        if shop is None or not principal.sees_shop(shop_id):
            raise ValidationFailed("no such shop", fields={"shop": "no such shop"})
    if problems.count:
        shown = len(problems.found)
        more = f" (first {shown} shown)" if problems.count > shown else ""
        raise ValidationFailed(
            f"{problems.count} problem(s) in the file{more}; nothing was imported",
            fields=problems.found,
        )
    report = ImportReport(rows=len(parsed), dry_run=dry_run)
    if dry_run:
        report.updated = sum(1 for r in parsed if r.sku in by_sku)
        report.created = len(parsed) - report.updated
        report.stocked = len(stocked)
        return report
    await _apply(uow, principal, parsed, by_sku, shop_id, report)
    await uow.commit()
    return report


async def _apply(
    uow: UnitOfWork,
    principal: Principal,
    parsed: Sequence[ParsedRow],
    by_sku: dict[str, uuid.UUID],
    shop_id: uuid.UUID | None,
    report: ImportReport,
) -> None:
    resolver = _Resolver(uow)
    existing = await uow.products.many(by_sku.values())
    fresh_stock: list[tuple[Product, ParsedRow]] = []
    for row in parsed:
        product = existing.get(by_sku[row.sku]) if row.sku in by_sku else None
        is_new = product is None
        if product is None:
            product = Product(id=new_id(), attributes={}, is_active=True)
            uow.products.add(product)
            report.created += 1
        else:
            report.updated += 1
        product.name = row.name
        product.name_folded = fold(row.name)
        product.sku = row.sku
        product.price = row.price
        product.cost = row.cost
        product.unit = row.unit.value
        product.vat_rate = row.vat_rate
        product.category_id = await resolver.category(row.category_path)
        product.supplier_id = await resolver.supplier(row.supplier)
        report.product_ids.append(product.id)
        await uow.session.flush()
        if row.barcodes:
            barcodes = [
                Barcode(code=c, product_id=product.id, kind=k.value) for c, k in row.barcodes
            ]
            if is_new:
                uow.session.add_all(barcodes)
            else:
                current = {
                    b.code for b in (await uow.products.barcodes_of([product.id]))[product.id]
                }
                uow.session.add_all(b for b in barcodes if b.code not in current)
        if row.quantity > 0 and shop_id is not None:
            report.stocked += 1
            if is_new:
                fresh_stock.append((product, row))
            else:
                await stock.receive(
                    uow,
                    principal,
                    stock.Receipt(
                        shop_id=shop_id,
                        product_id=product.id,
                        quantity=row.quantity,
                        cost=row.cost,
                        batch_number=row.batch_number,
                        expiry_date=row.expiry_date,
                        supplier_id=product.supplier_id,
                        reason="import",
                    ),
                    commit=False,
                )
    if shop_id is not None and fresh_stock:
        _stock_new_products(uow, principal, shop_id, fresh_stock)


def _stock_new_products(
    uow: UnitOfWork,
    principal: Principal,
    shop_id: uuid.UUID,
    rows: Iterable[tuple[Product, ParsedRow]],
) -> None:
    """Opening stock of products created by this import: nobody else can hold their
    level rows yet, so they are written directly, with one summary event."""
    count = 0
    for product, row in rows:
        batch = Batch(
            id=new_id(),
            shop_id=shop_id,
            product_id=product.id,
            batch_number=row.batch_number,
            supplier_id=product.supplier_id,
            expiry_date=row.expiry_date,
            cost=row.cost,
            quantity=row.quantity,
            remaining=row.quantity,
            created_by=principal.user_id,
        )
        uow.stock.add(batch)
        uow.stock.add(
            StockMovement(
                shop_id=shop_id,
                product_id=product.id,
                batch_id=batch.id,
                kind=MovementKind.RECEIPT.value,
                quantity=row.quantity,
                reason="import",
                user_id=principal.user_id,
            )
        )
        uow.session.add(
            StockLevel(
                shop_id=shop_id, product_id=product.id, on_hand=row.quantity, reserved=Decimal(0)
            )
        )
        count += 1
    uow.emit(
        channels.shop(uow.tenant_id, shop_id),
        "stock.imported",
        {"shop": str(shop_id), "products": count},
    )


# --- exports ---------------------------------------------------------------------------


async def category_paths(uow: UnitOfWork) -> dict[uuid.UUID, str]:
    everything = {c.id: c for c in await uow.categories.all()}
    paths: dict[uuid.UUID, str] = {}

    def path(category_id: uuid.UUID) -> str:
        if category_id not in paths:
            category = everything[category_id]
            parent = path(category.parent_id) if category.parent_id in everything else ""
            paths[category_id] = f"{parent} {CATEGORY_SEPARATOR} {category.name}".strip(
                f" {CATEGORY_SEPARATOR}"
            )
        return paths[category_id]

    for category_id in everything:
        path(category_id)
    return paths


CATALOGUE_HEADERS = ("id", *COLUMNS[:9], "is_active")


async def catalogue_rows(uow: UnitOfWork, views: Sequence[ProductView]) -> list[list[Cell]]:
    """The import's columns (without stock), so an export can be edited and imported."""
    paths = await category_paths(uow)
    suppliers = {
        s: (await uow.suppliers.get(s))
        for s in {v.product.supplier_id for v in views if v.product.supplier_id}
    }
    rows: list[list[Cell]] = []
    for view in views:
        product = view.product
        supplier = suppliers.get(product.supplier_id) if product.supplier_id else None
        rows.append(
            [
                str(product.id),
                product.name,
                product.sku or "",
                " ".join(b.code for b in view.barcodes),
                paths.get(product.category_id, "") if product.category_id else "",
                product.unit,
                product.price,
                product.cost,
                product.vat_rate,
                supplier.name if supplier else "",
                product.is_active,
            ]
        )
    return rows
