"""Stock endpoints: goods in (batches), levels, the ledger, counts, write-offs and
transfers. Every change publishes `stock.changed` on the shop's channel."""

from __future__ import annotations

import uuid

from starlette.responses import Response

from hub.adapters.db.catalogue_repositories import MovementFilter
from hub.adapters.tabular import Cell
from hub.domain.errors import NotFound
from hub.domain.permissions import Permission
from hub.services import shops, stock
from hub.web.api import Api, Ctx
from hub.web.export import table_response
from hub.web.schemas.catalogue import (
    AdjustmentIn,
    BatchCreateIn,
    BatchOut,
    BatchQuery,
    MovementOut,
    MovementQuery,
    StockOut,
    StockQuery,
    TransferIn,
    TransferOut,
    WriteOffIn,
)
from hub.web.schemas.common import Page

api = Api()
TAG = "stock"


@api.get("/api/products/batches/", tag=TAG, permission=Permission.STOCK_VIEW)
async def list_batches(ctx: Ctx, query: BatchQuery) -> Page[BatchOut]:
    """Batches in the shops one sees, newest first."""
    await shops.check_shop_filter(ctx.uow, ctx.principal, query.shop)
    found, count = await ctx.uow.stock.find_batches(
        query.page_request(),
        shops=ctx.principal.visible_shops(),
        shop=query.shop,
        product=query.product,
        only_remaining=query.remaining,
        expiring_before=query.expiring_before,
    )
    return Page[BatchOut].build(
        ctx.request, query, [BatchOut.model_validate(b) for b in found], count
    )


@api.post("/api/products/batches/", tag=TAG, permission=Permission.STOCK_MANAGE, status=201)
async def receive_batch(ctx: Ctx, body: BatchCreateIn) -> BatchOut:
    """Goods in: a batch with its number, expiry and cost; stock rises."""
    batch = await stock.receive(
        ctx.uow,
        ctx.principal,
        stock.Receipt(
            shop_id=body.shop,
            product_id=body.product,
            quantity=body.quantity,
            cost=body.cost,
            batch_number=body.batch_number,
            expiry_date=body.expiry_date,
            supplier_id=body.supplier,
            reason=body.reason,
        ),
    )
    return BatchOut.model_validate(batch)


@api.get("/api/products/batches/{batch_id}/", tag=TAG, permission=Permission.STOCK_VIEW)
async def get_batch(ctx: Ctx, batch_id: uuid.UUID) -> BatchOut:
    """One batch."""
    batch = await ctx.uow.stock.get_batch(batch_id)
    if batch is None or not ctx.principal.sees_shop(batch.shop_id):
        raise NotFound("no such batch")
    return BatchOut.model_validate(batch)


STOCK_HEADERS = ("shop", "product", "sku", "name", "on_hand", "reserved", "expired", "available")


@api.get("/api/products/stock/", tag=TAG, permission=Permission.STOCK_VIEW)
async def get_stock(ctx: Ctx, query: StockQuery) -> Page[StockOut] | StockOut | Response:
    """Stock levels. With both `shop` and `product`: that one level (`on_hand`,
    `reserved`, `available`; zeros if it never had stock). Otherwise a page, or a file
    with `format=csv|xlsx`."""
    if query.shop is not None and query.product is not None and query.table_format is None:
        view = await stock.get_stock(ctx.uow, ctx.principal, query.shop, query.product)
        return StockOut.of(view)
    page = None if query.table_format is not None else query.page_request()
    views, count = await stock.list_stock(
        ctx.uow,
        ctx.principal,
        page,
        shop_id=query.shop,
        product_id=query.product,
        in_stock=query.in_stock,
    )
    if query.table_format is not None:
        products = await ctx.uow.products.many(v.product_id for v in views)
        rows: list[list[Cell]] = []
        for v in views:
            product = products.get(v.product_id)
            rows.append(
                [
                    str(v.shop_id),
                    str(v.product_id),
                    product.sku if product else "",
                    product.name if product else "",
                    v.on_hand,
                    v.reserved,
                    v.expired,
                    v.available,
                ]
            )
        return table_response(query.table_format, "stock", STOCK_HEADERS, rows)
    return Page[StockOut].build(ctx.request, query, [StockOut.of(v) for v in views], count)


MOVEMENT_HEADERS = (
    "id", "created_at", "shop", "product", "batch", "kind", "quantity", "reason", "ref", "user",
)  # fmt: skip


@api.get("/api/products/stock/movements/", tag=TAG, permission=Permission.STOCK_VIEW)
async def list_movements(ctx: Ctx, query: MovementQuery) -> Page[MovementOut] | Response:
    """The stock ledger, newest first: who changed what, when and why."""
    where = MovementFilter(
        shop=query.shop,
        product=query.product,
        kind=query.kind,
        ref=query.ref,
        since=query.date_from,
        until=query.date_to,
    )
    page = None if query.table_format is not None else query.page_request()
    found, count = await stock.list_movements(ctx.uow, ctx.principal, page, where)
    if query.table_format is not None:
        rows: list[list[Cell]] = [
            [
                str(m.id),
                m.created_at,
                str(m.shop_id),
                str(m.product_id),
                str(m.batch_id or ""),
                m.kind,
                m.quantity,
                m.reason,
                str(m.ref_id or ""),
                str(m.user_id or ""),
            ]
            for m in found
        ]
        return table_response(query.table_format, "stock-movements", MOVEMENT_HEADERS, rows)
    results = [MovementOut.model_validate(m) for m in found]
    return Page[MovementOut].build(ctx.request, query, results, count)


@api.post("/api/products/stock/adjustments/", tag=TAG, permission=Permission.STOCK_MANAGE)
async def adjust_stock(ctx: Ctx, body: AdjustmentIn) -> StockOut:
    """Inventory count: on hand becomes what was counted."""
    view = await stock.adjust(
        ctx.uow, ctx.principal, body.shop, body.product, body.counted, body.reason
    )
    return StockOut.of(view)


@api.post("/api/products/stock/write-offs/", tag=TAG, permission=Permission.STOCK_MANAGE)
async def write_off_stock(ctx: Ctx, body: WriteOffIn) -> StockOut:
    """Write off damaged, expired or lost goods, from a named batch or in FEFO order."""
    view = await stock.write_off(
        ctx.uow,
        ctx.principal,
        body.shop,
        body.product,
        body.quantity,
        body.reason,
        batch_id=body.batch,
    )
    return StockOut.of(view)


@api.post("/api/products/stock/transfers/", tag=TAG, permission=Permission.STOCK_MANAGE, status=201)
async def transfer_stock(ctx: Ctx, body: TransferIn) -> TransferOut:
    """Move goods between two of the tenant's shops, batch by batch."""
    transfer_id = await stock.transfer(
        ctx.uow,
        ctx.principal,
        body.from_shop,
        body.to_shop,
        [stock.StockLine(line.product, line.quantity) for line in body.items],
        body.reason,
    )
    moves, _ = await ctx.uow.stock.movements(None, MovementFilter(ref=transfer_id))
    return TransferOut(
        id=transfer_id, movements=[MovementOut.model_validate(m) for m in reversed(moves)]
    )
