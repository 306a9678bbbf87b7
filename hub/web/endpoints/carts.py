"""Live carts, read over REST: `/api/sales/carts/`. A dashboard loads the shop's open
carts here, then follows `cart.updated` on the live-carts channel; a till that missed
events reloads its cart. Changes go over the websocket (`cart.*` requests); opening one
is also here, for a till that starts over HTTP."""

from __future__ import annotations

import uuid

from hub.domain.permissions import Permission
from hub.services import carts
from hub.web.api import Api, Ctx
from hub.web.schemas.carts import CartOpenIn, CartOut, CartQuery
from hub.web.schemas.common import Page

api = Api()
TAG = "carts"


@api.get("/api/sales/carts/", tag=TAG, permission=Permission.SALES_VIEW)
async def list_carts(ctx: Ctx, query: CartQuery) -> Page[CartOut]:
    """Carts of one's shops, newest first, by shop, register and status."""
    found, count = await carts.list_carts(
        ctx.uow,
        ctx.principal,
        query.page_request(),
        shop=query.shop,
        status=query.status,
        register=query.cash_register,
    )
    return Page[CartOut].build(ctx.request, query, [CartOut.of(v) for v in found], count)


@api.post("/api/sales/carts/", tag=TAG, permission=Permission.SALES_SELL)
async def open_cart(ctx: Ctx, body: CartOpenIn) -> CartOut:
    """The shift's open cart, or a new one (what `cart.open` does over the websocket)."""
    return CartOut.of(await carts.open_cart(ctx.uow, ctx.principal, body.session))


@api.get("/api/sales/carts/{cart_id}/", tag=TAG, permission=Permission.SALES_VIEW)
async def get_cart(ctx: Ctx, cart_id: uuid.UUID) -> CartOut:
    """One cart, priced."""
    return CartOut.of(await carts.get_cart(ctx.uow, ctx.principal, cart_id))
