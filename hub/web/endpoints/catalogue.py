"""Catalogue endpoints: categories, suppliers, products, barcodes, pictures, import."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from hub.adapters import tabular
from hub.adapters.db.catalogue_repositories import ProductFilter
from hub.adapters.tabular import TableFormat, UnreadableTable
from hub.domain.errors import ValidationFailed
from hub.domain.permissions import Permission
from hub.services import catalogue, catalogue_io, product_images
from hub.services.catalogue import UNSET, BarcodeIn, ProductFields, SupplierFields
from hub.services.pictures import ImageLimits
from hub.web.api import Api, Ctx, read_upload
from hub.web.export import table_response
from hub.web.schemas.catalogue import (
    CategoryCreateIn,
    CategoryOut,
    CategoryQuery,
    CategoryUpdateIn,
    ImageList,
    ImageOut,
    ImageQuery,
    ImportOut,
    ImportQuery,
    ProductCreateIn,
    ProductOut,
    ProductQuery,
    ProductUpdateIn,
    SupplierCreateIn,
    SupplierOut,
    SupplierQuery,
    SupplierUpdateIn,
)
from hub.web.schemas.common import Page

api = Api()
TAG = "catalogue"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


async def uploaded_picture(ctx: Ctx) -> tuple[bytes, ImageLimits]:
    """A picture sent as the raw body, refused past the size limit before it is all read,
    and the limits its check applies."""
    settings = ctx.deps.settings
    _, data = await read_upload(ctx.request, IMAGE_TYPES, settings.max_image_bytes)
    return data, ImageLimits(settings.max_image_bytes, settings.max_image_pixels)


def picture_response(media: str, data: bytes) -> Response:
    # nosniff: a picture with HTML appended must stay a picture, never run as a page.
    headers = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type=media, headers=headers)


CSV_TYPES = ("text/csv", "application/csv", "text/plain")
XLSX_TYPE = tabular.MEDIA_TYPES[TableFormat.XLSX]


def _given(body: BaseModel, name: str, default: Any = UNSET) -> Any:
    """A field the client sent (explicit null included), or UNSET."""
    return getattr(body, name) if name in body.model_fields_set else default


# --- categories ------------------------------------------------------------------------


@api.get("/api/products/categories/", tag=TAG, permission=Permission.CATALOGUE_VIEW)
async def list_categories(ctx: Ctx, query: CategoryQuery) -> Page[CategoryOut]:
    """Categories, filtered by parent (or only the top level) and name."""
    found, count = await ctx.uow.categories.find(
        query.page_request(), parent=query.parent, roots=query.roots, search=query.search
    )
    return Page[CategoryOut].build(
        ctx.request, query, [CategoryOut.model_validate(c) for c in found], count
    )


@api.post("/api/products/categories/", tag=TAG, permission=Permission.CATALOGUE_MANAGE, status=201)
async def create_category(ctx: Ctx, body: CategoryCreateIn) -> CategoryOut:
    """Add a category, at the top or under a parent."""
    category = await catalogue.create_category(ctx.uow, ctx.principal, body.name, body.parent)
    return CategoryOut.model_validate(category)


@api.get("/api/products/categories/{category_id}/", tag=TAG, permission=Permission.CATALOGUE_VIEW)
async def get_category(ctx: Ctx, category_id: uuid.UUID) -> CategoryOut:
    """One category."""
    return CategoryOut.model_validate(await catalogue.get_category(ctx.uow, category_id))


@api.patch(
    "/api/products/categories/{category_id}/", tag=TAG, permission=Permission.CATALOGUE_MANAGE
)
async def update_category(ctx: Ctx, category_id: uuid.UUID, body: CategoryUpdateIn) -> CategoryOut:
    """Rename a category or move it (never under itself)."""
    category = await catalogue.update_category(
        ctx.uow, ctx.principal, category_id, name=body.name, parent_id=_given(body, "parent")
    )
    return CategoryOut.model_validate(category)


@api.delete(
    "/api/products/categories/{category_id}/", tag=TAG, permission=Permission.CATALOGUE_MANAGE
)
async def delete_category(ctx: Ctx, category_id: uuid.UUID) -> None:
    """Remove an empty category (no products, no subcategories)."""
    await catalogue.delete_category(ctx.uow, ctx.principal, category_id)


# --- suppliers -------------------------------------------------------------------------


@api.get("/api/products/suppliers/", tag=TAG, permission=Permission.CATALOGUE_VIEW)
async def list_suppliers(ctx: Ctx, query: SupplierQuery) -> Page[SupplierOut]:
    """Suppliers, by name or tax id."""
    found, count = await ctx.uow.suppliers.find(
        query.page_request(), is_active=query.is_active, search=query.search
    )
    return Page[SupplierOut].build(
        ctx.request, query, [SupplierOut.model_validate(s) for s in found], count
    )


@api.post("/api/products/suppliers/", tag=TAG, permission=Permission.CATALOGUE_MANAGE, status=201)
async def create_supplier(ctx: Ctx, body: SupplierCreateIn) -> SupplierOut:
    """Add a supplier."""
    supplier = await catalogue.create_supplier(
        ctx.uow, ctx.principal, SupplierFields(**body.model_dump())
    )
    return SupplierOut.model_validate(supplier)


@api.get("/api/products/suppliers/{supplier_id}/", tag=TAG, permission=Permission.CATALOGUE_VIEW)
async def get_supplier(ctx: Ctx, supplier_id: uuid.UUID) -> SupplierOut:
    """One supplier."""
    return SupplierOut.model_validate(await catalogue.get_supplier(ctx.uow, supplier_id))


@api.patch(
    "/api/products/suppliers/{supplier_id}/", tag=TAG, permission=Permission.CATALOGUE_MANAGE
)
async def update_supplier(ctx: Ctx, supplier_id: uuid.UUID, body: SupplierUpdateIn) -> SupplierOut:
    """Edit a supplier or mark it inactive."""
    supplier = await catalogue.update_supplier(
        ctx.uow, ctx.principal, supplier_id, SupplierFields(**body.model_dump())
    )
    return SupplierOut.model_validate(supplier)


# --- products --------------------------------------------------------------------------


_COLUMN_OF = {"category": "category_id", "supplier": "supplier_id"}
# Fields a product always has: null in an edit means "leave as it is".
_NEVER_EMPTY = {"name", "price", "cost", "unit", "attributes", "is_active"}


def _product_fields(body: ProductCreateIn | ProductUpdateIn, *, partial: bool) -> ProductFields:
    fields = ProductFields()
    for name in type(body).model_fields:
        if partial and name not in body.model_fields_set:
            continue
        value = getattr(body, name)
        if value is None and name in _NEVER_EMPTY | {"barcodes"}:
            continue
        if name == "barcodes":
            fields.barcodes = [BarcodeIn(b.code, b.kind) for b in value]
        else:
            setattr(fields, _COLUMN_OF.get(name, name), value)
    return fields


def _product_filter(query: ProductQuery) -> ProductFilter:
    return ProductFilter(
        search=query.search,
        barcode=query.barcode,
        sku=query.sku,
        supplier=query.supplier,
        is_active=query.is_active,
    )


@api.get("/api/products/products/", tag=TAG, permission=Permission.CATALOGUE_VIEW)
async def list_products(ctx: Ctx, query: ProductQuery) -> Page[ProductOut] | Response:
    """Find products by barcode, SKU, name fragment, category, supplier; `format=csv|xlsx`
    downloads every match in the import's columns."""
    where = _product_filter(query)
    if query.table_format is not None:
        views = await catalogue.all_products(ctx.uow, ctx.principal, where, category=query.category)
        rows = await catalogue_io.catalogue_rows(ctx.uow, views)
        return table_response(query.table_format, "catalogue", catalogue_io.CATALOGUE_HEADERS, rows)
    found, count = await catalogue.list_products(
        ctx.uow, ctx.principal, query.page_request(), where, category=query.category
    )
    return Page[ProductOut].build(ctx.request, query, [ProductOut.of(v) for v in found], count)


@api.post("/api/products/products/", tag=TAG, permission=Permission.CATALOGUE_MANAGE, status=201)
async def create_product(ctx: Ctx, body: ProductCreateIn) -> ProductOut:
    """Add a product with its barcodes."""
    view = await catalogue.create_product(
        ctx.uow, ctx.principal, _product_fields(body, partial=False)
    )
    return ProductOut.of(view)


@api.get("/api/products/products/{product_id}/", tag=TAG, permission=Permission.CATALOGUE_VIEW)
async def get_product(ctx: Ctx, product_id: uuid.UUID) -> ProductOut:
    """One product."""
    return ProductOut.of(await catalogue.read_product(ctx.uow, ctx.principal, product_id))


@api.patch("/api/products/products/{product_id}/", tag=TAG, permission=Permission.CATALOGUE_MANAGE)
async def update_product(ctx: Ctx, product_id: uuid.UUID, body: ProductUpdateIn) -> ProductOut:
    """Edit a product; `barcodes` replaces the list."""
    view = await catalogue.update_product(
        ctx.uow, ctx.principal, product_id, _product_fields(body, partial=True)
    )
    return ProductOut.of(view)


@api.delete("/api/products/products/{product_id}/", tag=TAG, permission=Permission.CATALOGUE_MANAGE)
async def delete_product(ctx: Ctx, product_id: uuid.UUID) -> None:
    """Remove a product that never had stock; otherwise deactivate it instead."""
    await catalogue.delete_product(ctx.uow, ctx.principal, product_id)


# --- pictures --------------------------------------------------------------------------


@api.get(
    "/api/products/products/{product_id}/images/", tag=TAG, permission=Permission.CATALOGUE_VIEW
)
async def list_images(ctx: Ctx, product_id: uuid.UUID) -> ImageList:
    """A product's pictures."""
    images = await product_images.list_images(ctx.uow, ctx.principal, product_id)
    return ImageList(results=[ImageOut.model_validate(i) for i in images])


@api.post(
    "/api/products/products/{product_id}/images/",
    tag=TAG,
    permission=Permission.CATALOGUE_MANAGE,
    status=201,
    upload=IMAGE_TYPES,
)
async def upload_image(ctx: Ctx, product_id: uuid.UUID) -> ImageOut:
    """Upload a picture as the raw body (JPEG, PNG or WebP; the type is read from the
    bytes); a thumbnail is made."""
    data, limits = await uploaded_picture(ctx)
    image = await product_images.upload(
        ctx.uow, ctx.principal, ctx.deps.storage, product_id, data, limits
    )
    return ImageOut.model_validate(image)


@api.get(
    "/api/products/products/{product_id}/images/{image_id}/",
    tag=TAG,
    permission=Permission.CATALOGUE_VIEW,
)
async def get_image(
    ctx: Ctx, product_id: uuid.UUID, image_id: uuid.UUID, query: ImageQuery
) -> Response:
    """The picture's bytes; `thumbnail=true` for the small WebP."""
    media, data = await product_images.read_image(
        ctx.uow, ctx.principal, ctx.deps.storage, product_id, image_id, thumbnail=query.thumbnail
    )
    return picture_response(media, data)


@api.delete(
    "/api/products/products/{product_id}/images/{image_id}/",
    tag=TAG,
    permission=Permission.CATALOGUE_MANAGE,
)
async def delete_image(ctx: Ctx, product_id: uuid.UUID, image_id: uuid.UUID) -> None:
    """Remove a picture."""
    await product_images.delete_image(
        ctx.uow, ctx.principal, ctx.deps.storage, product_id, image_id
    )


# --- import ----------------------------------------------------------------------------


@api.post(
    "/api/products/import/",
    tag=TAG,
    permission=Permission.CATALOGUE_MANAGE,
    upload=(*CSV_TYPES, XLSX_TYPE),
)
async def import_products(ctx: Ctx, query: ImportQuery) -> ImportOut:
    """Import products (and, with `shop`, their opening stock) from a CSV or XLSX file
    sent as the raw body. All or nothing: any bad row rejects the file, naming each bad
    row by line and column. `dry_run=true` only checks."""
    settings = ctx.deps.settings
    media, data = await read_upload(ctx.request, (*CSV_TYPES, XLSX_TYPE), settings.max_import_bytes)
    fmt = TableFormat.XLSX if media == XLSX_TYPE else TableFormat.CSV
    try:
        headers, rows = tabular.read(fmt, data)
    except UnreadableTable as exc:
        raise ValidationFailed(str(exc), fields={"file": str(exc)}) from None
    report = await catalogue_io.import_products(
        ctx.uow,
        ctx.principal,
        rows,
        headers,
        shop_id=query.shop,
        dry_run=query.dry_run,
        max_rows=settings.max_import_rows,
    )
    return ImportOut(
        rows=report.rows,
        created=report.created,
        updated=report.updated,
        stocked=report.stocked,
        dry_run=report.dry_run,
    )
