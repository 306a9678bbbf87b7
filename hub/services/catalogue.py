"""Catalogue use cases: categories, suppliers, products and their barcodes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hub.adapters.db.catalogue_repositories import ProductFilter
from hub.adapters.db.catalogue_tables import Barcode, Category, Product, Supplier
from hub.adapters.db.repositories import PageRequest
from hub.adapters.db.uow import UnitOfWork
from hub.domain.catalogue import (
    BarcodeKind,
    Unit,
    check_attributes,
    check_vat_rate,
    classify_barcode,
    money,
)
from hub.domain.errors import Conflict, NotFound, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.permissions import Permission
from hub.domain.tenant_settings import TenantSettings
from hub.domain.text import fold
from hub.services.principal import Principal
from protocol.errors import ErrorCode

UNSET: Any = object()
MAX_CATEGORY_DEPTH = 10


# --- categories ----------------------------------------------------------------------


async def get_category(uow: UnitOfWork, category_id: uuid.UUID) -> Category:
    category = await uow.categories.get(category_id)
    if category is None:
        raise NotFound("no such category")
    return category


async def _parent(uow: UnitOfWork, parent_id: uuid.UUID | None) -> Category | None:
    if parent_id is None:
        return None
    parent = await uow.categories.get(parent_id)
    if parent is None:
        raise NotFound("no such parent category", fields={"parent": "no such category"})
    return parent


async def _check_place(
    uow: UnitOfWork, category_id: uuid.UUID | None, parent_id: uuid.UUID | None, name: str
) -> None:
    """No cycles, a bounded depth, and no two siblings with one name."""
    depth = 1
    cursor = parent_id
    while cursor is not None:
        if cursor == category_id:
            raise ValidationFailed(
                "a category cannot sit inside itself", fields={"parent": "would make a cycle"}
            )
        depth += 1
        if depth > MAX_CATEGORY_DEPTH:
            raise ValidationFailed(
                "too deep", fields={"parent": f"at most {MAX_CATEGORY_DEPTH} levels"}
            )
        node = await uow.categories.get(cursor)
        cursor = node.parent_id if node else None
    twin = await uow.categories.by_parent_and_name(parent_id, name)
    if twin is not None and twin.id != category_id:
        raise Conflict("a sibling has this name", fields={"name": "already used at this level"})


def _name(value: str, field_name: str = "name") -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise ValidationFailed("must not be blank", fields={field_name: "must not be blank"})
    return cleaned


async def create_category(
    uow: UnitOfWork, principal: Principal, name: str, parent_id: uuid.UUID | None
) -> Category:
    principal.require(Permission.CATALOGUE_MANAGE)
    name = _name(name)
    await _parent(uow, parent_id)
    await _check_place(uow, None, parent_id, name)
    category = Category(id=new_id(), name=name, parent_id=parent_id)
    uow.categories.add(category)
    await uow.commit()
    return category


async def update_category(
    uow: UnitOfWork,
    principal: Principal,
    category_id: uuid.UUID,
    *,
    name: str | None = None,
    parent_id: uuid.UUID | None = UNSET,
) -> Category:
    principal.require(Permission.CATALOGUE_MANAGE)
    category = await get_category(uow, category_id)
    new_name = _name(name) if name is not None else category.name
    new_parent = category.parent_id if parent_id is UNSET else parent_id
    await _parent(uow, new_parent)
    await _check_place(uow, category.id, new_parent, new_name)
    category.name = new_name
    category.parent_id = new_parent
    await uow.commit()
    return category


async def delete_category(uow: UnitOfWork, principal: Principal, category_id: uuid.UUID) -> None:
    principal.require(Permission.CATALOGUE_MANAGE)
    category = await get_category(uow, category_id)
    if await uow.categories.in_use(category_id):
        raise Conflict(
            "the category holds products or subcategories; move them first",
            code=ErrorCode.IN_USE,
        )
    await uow.categories.delete(category)
    await uow.commit()


async def subtree(uow: UnitOfWork, root: uuid.UUID) -> list[uuid.UUID]:
    """A category and every category below it."""
    children: dict[uuid.UUID | None, list[uuid.UUID]] = {}
    for category in await uow.categories.all():
        children.setdefault(category.parent_id, []).append(category.id)
    found, queue = [], [root]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


# --- suppliers -----------------------------------------------------------------------


@dataclass(frozen=True)
class SupplierFields:
    name: str | None = None
    tax_id: str | None = None
    phone: str | None = None
    email: str | None = None
    notes: str | None = None
    is_active: bool | None = None


async def get_supplier(uow: UnitOfWork, supplier_id: uuid.UUID) -> Supplier:
    supplier = await uow.suppliers.get(supplier_id)
    if supplier is None:
        raise NotFound("no such supplier")
    return supplier


def _apply_supplier(supplier: Supplier, fields: SupplierFields) -> None:
    if fields.name is not None:
        supplier.name = _name(fields.name)
    for attribute in ("tax_id", "phone", "email", "notes"):
        value = getattr(fields, attribute)
        if value is not None:
            setattr(supplier, attribute, value.strip())
    if fields.is_active is not None:
        supplier.is_active = fields.is_active


async def create_supplier(
    uow: UnitOfWork, principal: Principal, fields: SupplierFields
) -> Supplier:
    principal.require(Permission.CATALOGUE_MANAGE)
    supplier = Supplier(id=new_id(), name="", tax_id="", phone="", email="", notes="")
    supplier.is_active = True
    _apply_supplier(supplier, fields)
    if not supplier.name:
        raise ValidationFailed("name required", fields={"name": "required"})
    uow.suppliers.add(supplier)
    await uow.commit()
    return supplier


async def update_supplier(
    uow: UnitOfWork, principal: Principal, supplier_id: uuid.UUID, fields: SupplierFields
) -> Supplier:
    principal.require(Permission.CATALOGUE_MANAGE)
    supplier = await get_supplier(uow, supplier_id)
    _apply_supplier(supplier, fields)
    await uow.commit()
    return supplier


# --- products ------------------------------------------------------------------------


@dataclass(frozen=True)
class BarcodeIn:
    code: str
    kind: BarcodeKind | None = None


@dataclass
class ProductFields:
    """What a create or an edit sets; UNSET leaves a field as it is."""

    name: str = UNSET
    price: Decimal = UNSET
    sku: str | None = UNSET
    category_id: uuid.UUID | None = UNSET
    supplier_id: uuid.UUID | None = UNSET
    cost: Decimal = UNSET
    unit: Unit = UNSET
    vat_rate: Decimal | None = UNSET
    attributes: dict[str, str] = UNSET
    barcodes: Sequence[BarcodeIn] = UNSET
    is_active: bool = UNSET


@dataclass(frozen=True)
class ProductView:
    product: Product
    barcodes: list[Barcode]


async def get_product(uow: UnitOfWork, product_id: uuid.UUID) -> Product:
    product = await uow.products.get(product_id)
    if product is None:
        raise NotFound("no such product")
    return product


async def product_views(uow: UnitOfWork, products: Sequence[Product]) -> list[ProductView]:
    codes = await uow.products.barcodes_of(p.id for p in products)
    return [ProductView(p, codes.get(p.id, [])) for p in products]


async def read_product(uow: UnitOfWork, principal: Principal, product_id: uuid.UUID) -> ProductView:
    principal.require(Permission.CATALOGUE_VIEW)
    return (await product_views(uow, [await get_product(uow, product_id)]))[0]


async def list_products(
    uow: UnitOfWork,
    principal: Principal,
    page: PageRequest,
    where: ProductFilter,
    *,
    category: uuid.UUID | None = None,
) -> tuple[list[ProductView], int]:
    principal.require(Permission.CATALOGUE_VIEW)
    where = await _with_category(uow, where, category)
    found, count = await uow.products.find(page, where)
    return await product_views(uow, found), count


async def _with_category(
    uow: UnitOfWork, where: ProductFilter, category: uuid.UUID | None
) -> ProductFilter:
    if category is None:
        return where
    await get_category(uow, category)
    return ProductFilter(**{**where.__dict__, "category_ids": await subtree(uow, category)})


async def all_products(
    uow: UnitOfWork, principal: Principal, where: ProductFilter, *, category: uuid.UUID | None
) -> list[ProductView]:
    """Every match, for an export."""
    principal.require(Permission.CATALOGUE_VIEW)
    where = await _with_category(uow, where, category)
    return await product_views(uow, await uow.products.all_matching(where))


async def _checked_barcodes(
    uow: UnitOfWork, product_id: uuid.UUID, barcodes: Sequence[BarcodeIn]
) -> list[Barcode]:
    cleaned: dict[str, BarcodeKind] = {}
    for barcode in barcodes:
        code, kind = classify_barcode(barcode.code, barcode.kind)
        if code in cleaned:
            raise ValidationFailed("duplicate barcode", fields={"barcodes": f"{code} twice"})
        cleaned[code] = kind
    owners = await uow.products.barcode_owners(cleaned)
    taken = sorted(code for code, owner in owners.items() if owner != product_id)
    if taken:
        raise Conflict(
            "barcode already belongs to another product",
            fields={"barcodes": f"{', '.join(taken)} already used"},
            code=ErrorCode.BARCODE_TAKEN,
        )
    return [Barcode(code=c, product_id=product_id, kind=k.value) for c, k in cleaned.items()]


async def _apply_product(
    uow: UnitOfWork, product: Product, fields: ProductFields, settings: TenantSettings
) -> None:
    if fields.name is not UNSET:
        product.name = _name(fields.name)
        product.name_folded = fold(product.name)
    if fields.price is not UNSET:
        product.price = money(fields.price, field="price")
    if fields.cost is not UNSET:
        product.cost = money(fields.cost, field="cost")
    if fields.unit is not UNSET:
        if product.unit != fields.unit.value and await uow.products.has_history(product.id):
            raise Conflict(
                "stock was counted in the old unit", fields={"unit": "has stock history"}
            )
        product.unit = fields.unit.value
    if fields.vat_rate is not UNSET:
        product.vat_rate = check_vat_rate(fields.vat_rate, settings.vat_rates)
    if fields.attributes is not UNSET:
        product.attributes = check_attributes(fields.attributes)
    if fields.is_active is not UNSET:
        product.is_active = fields.is_active
    if fields.category_id is not UNSET:
        if fields.category_id is not None and await uow.categories.get(fields.category_id) is None:
            raise NotFound("no such category", fields={"category": "no such category"})
        product.category_id = fields.category_id
    if fields.supplier_id is not UNSET:
        if fields.supplier_id is not None and await uow.suppliers.get(fields.supplier_id) is None:
            raise NotFound("no such supplier", fields={"supplier": "no such supplier"})
        product.supplier_id = fields.supplier_id
    if fields.sku is not UNSET:
        sku = fields.sku.strip() if fields.sku else None
        if sku:
            owner = await uow.products.by_sku(sku)
            if owner is not None and owner.id != product.id:
                raise Conflict(
                    "SKU already used", fields={"sku": "already used"}, code=ErrorCode.SKU_TAKEN
                )
        product.sku = sku or None


async def create_product(
    uow: UnitOfWork, principal: Principal, fields: ProductFields
) -> ProductView:
    principal.require(Permission.CATALOGUE_MANAGE)
    product = await build_product(
        uow, fields, TenantSettings.from_json(await uow.tenants.settings())
    )
    await uow.commit()
    return (await product_views(uow, [product]))[0]


async def build_product(
    uow: UnitOfWork, fields: ProductFields, settings: TenantSettings
) -> Product:
    """A new product added to the unit of work (not committed): for create and import."""
    if fields.name is UNSET or fields.price is UNSET:
        raise ValidationFailed("name and price required", fields={"name": "required"})
    product = Product(
        id=new_id(), unit=Unit.PIECE.value, cost=Decimal("0"), attributes={}, is_active=True
    )
    await _apply_product(uow, product, fields, settings)
    uow.products.add(product)
    if fields.barcodes is not UNSET:
        await uow.session.flush()
        for barcode in await _checked_barcodes(uow, product.id, fields.barcodes):
            uow.session.add(barcode)
    return product


async def update_product(
    uow: UnitOfWork, principal: Principal, product_id: uuid.UUID, fields: ProductFields
) -> ProductView:
    principal.require(Permission.CATALOGUE_MANAGE)
    product = await get_product(uow, product_id)
    settings = TenantSettings.from_json(await uow.tenants.settings())
    await _apply_product(uow, product, fields, settings)
    if fields.barcodes is not UNSET:
        await uow.products.replace_barcodes(
            product.id, await _checked_barcodes(uow, product.id, fields.barcodes)
        )
    await uow.commit()
    return (await product_views(uow, [product]))[0]


async def delete_product(uow: UnitOfWork, principal: Principal, product_id: uuid.UUID) -> None:
    """Only a product that never moved stock can go; others are deactivated instead."""
    principal.require(Permission.CATALOGUE_MANAGE)
    product = await get_product(uow, product_id)
    if await uow.products.has_history(product_id):
        raise Conflict(
            "the product has stock history; set is_active=false instead", code=ErrorCode.IN_USE
        )
    await uow.products.delete(product)
    await uow.commit()
