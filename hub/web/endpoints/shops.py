from __future__ import annotations

import uuid

from hub.domain.permissions import Permission
from hub.services import shops
from hub.services.shops import ShopFields
from hub.web.api import Api, Ctx
from hub.web.schemas.common import Page
from hub.web.schemas.shops import ShopCreateIn, ShopOut, ShopQuery, ShopUpdateIn

api = Api()
TAG = "shops"


@api.get("/api/core/shops/", tag=TAG, permission=Permission.SHOPS_VIEW)
async def list_shops(ctx: Ctx, query: ShopQuery) -> Page[ShopOut]:
    """Shops one may see: all for an owner, one's own for everyone else."""
    found, count = await shops.list_shops(
        ctx.uow, ctx.principal, query.page_request(), is_active=query.is_active, search=query.search
    )
    results = [ShopOut.model_validate(s) for s in found]
    return Page[ShopOut].build(ctx.request, query, results, count)


@api.post("/api/core/shops/", tag=TAG, permission=Permission.SHOPS_CREATE, status=201)
async def create_shop(ctx: Ctx, body: ShopCreateIn) -> ShopOut:
    """Open a new shop."""
    shop = await shops.create_shop(
        ctx.uow,
        ctx.principal,
        ShopFields(name=body.name, address=body.address, timezone=body.timezone),
    )
    return ShopOut.model_validate(shop)


@api.get("/api/core/shops/{shop_id}/", tag=TAG, permission=Permission.SHOPS_VIEW)
async def get_shop(ctx: Ctx, shop_id: uuid.UUID) -> ShopOut:
    """One shop."""
    return ShopOut.model_validate(await shops.get_shop(ctx.uow, ctx.principal, shop_id))


@api.patch("/api/core/shops/{shop_id}/", tag=TAG, permission=Permission.SHOPS_UPDATE)
async def update_shop(ctx: Ctx, shop_id: uuid.UUID, body: ShopUpdateIn) -> ShopOut:
    """Edit a shop's details or close it (is_active=false)."""
    shop = await shops.update_shop(
        ctx.uow,
        ctx.principal,
        shop_id,
        ShopFields(
            name=body.name, address=body.address, timezone=body.timezone, is_active=body.is_active
        ),
    )
    return ShopOut.model_validate(shop)
