from __future__ import annotations

import uuid

from hub.domain.permissions import Permission
from hub.services import devices
from hub.web.api import Api, Ctx
from hub.web.schemas.common import Page
from hub.web.schemas.devices import (
    DeviceTokenCreatedOut,
    DeviceTokenCreateIn,
    DeviceTokenOut,
    DeviceTokenQuery,
)

api = Api()
TAG = "devices"


@api.get("/api/users/device-tokens/", tag=TAG, permission=Permission.DEVICES_MANAGE)
async def list_device_tokens(ctx: Ctx, query: DeviceTokenQuery) -> Page[DeviceTokenOut]:
    """Edge-agent tokens of the shops one manages."""
    found, count = await devices.list_device_tokens(
        ctx.uow,
        ctx.principal,
        query.page_request(),
        shop=query.shop,
        include_revoked=query.include_revoked,
    )
    return Page[DeviceTokenOut].build(
        ctx.request, query, [DeviceTokenOut.of(d) for d in found], count
    )


@api.post("/api/users/device-tokens/", tag=TAG, permission=Permission.DEVICES_MANAGE, status=201)
async def create_device_token(ctx: Ctx, body: DeviceTokenCreateIn) -> DeviceTokenCreatedOut:
    """Issue a token for a shop's edge agent; the secret is shown once."""
    issued = await devices.issue_device_token(
        ctx.uow, ctx.principal, name=body.name, shop_id=body.shop
    )
    return DeviceTokenCreatedOut(
        **DeviceTokenOut.of(issued.device).model_dump(), token=issued.token
    )


@api.get("/api/users/device-tokens/{device_id}/", tag=TAG, permission=Permission.DEVICES_MANAGE)
async def get_device_token(ctx: Ctx, device_id: uuid.UUID) -> DeviceTokenOut:
    """One device token (without its secret)."""
    return DeviceTokenOut.of(await devices.get_device_token(ctx.uow, ctx.principal, device_id))


@api.delete("/api/users/device-tokens/{device_id}/", tag=TAG, permission=Permission.DEVICES_MANAGE)
async def revoke_device_token(ctx: Ctx, device_id: uuid.UUID) -> None:
    """Revoke a device token; the agent is refused from its next request."""
    await devices.revoke_device_token(ctx.uow, ctx.principal, device_id)
