"""Shops of the tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.adapters.db.repositories import PageRequest
from hub.adapters.db.tables import Shop
from hub.adapters.db.uow import UnitOfWork
from hub.domain.errors import NotFound, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.permissions import Permission
from hub.services.customer_accounts import settings_of
from hub.services.principal import Principal
from protocol import channels


@dataclass(frozen=True)
class ShopFields:
    name: str | None = None
    address: str | None = None
    timezone: str | None = None
    is_active: bool | None = None


def _check(fields: ShopFields) -> None:
    if fields.name is not None and not fields.name.strip():
        raise ValidationFailed("must not be blank", fields={"name": "must not be blank"})
    if fields.timezone is not None:
        try:
            ZoneInfo(fields.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationFailed("bad timezone", fields={"timezone": "IANA name"}) from exc


async def get_shop(uow: UnitOfWork, principal: Principal, shop_id: uuid.UUID) -> Shop:
    """The shop if the principal sees it. Every shop a request names (in its body or as a
    list's `?shop=` filter) is checked here, so an unknown shop, another business's or
    one outside the principal's shops answers the same 404 everywhere."""
    shop = await uow.shops.get(shop_id)
    if shop is None or not principal.sees_shop(shop_id):
        raise NotFound("no such shop", fields={"shop": "no such shop"})
    return shop


async def check_shop_filter(
    uow: UnitOfWork, principal: Principal, shop_id: uuid.UUID | None
) -> None:
    """A list's `?shop=`: 404 rather than an empty page for a shop one cannot see."""
    if shop_id is not None:
        await get_shop(uow, principal, shop_id)


async def list_shops(
    uow: UnitOfWork,
    principal: Principal,
    page: PageRequest,
    *,
    is_active: bool | None = None,
    search: str | None = None,
) -> tuple[list[Shop], int]:
    principal.require(Permission.SHOPS_VIEW)
    return await uow.shops.find(
        page, only=principal.visible_shops(), is_active=is_active, search=search
    )


async def create_shop(uow: UnitOfWork, principal: Principal, fields: ShopFields) -> Shop:
    principal.require(Permission.SHOPS_CREATE)
    _check(fields)
    assert fields.name is not None
    shop = Shop(
        id=new_id(),
        name=fields.name.strip(),
        address=fields.address or "",
        timezone=fields.timezone or (await settings_of(uow)).timezone,
        is_active=True if fields.is_active is None else fields.is_active,
    )
    uow.shops.add(shop)
    await uow.commit()
    return shop


async def update_shop(
    uow: UnitOfWork, principal: Principal, shop_id: uuid.UUID, fields: ShopFields
) -> Shop:
    shop = await get_shop(uow, principal, shop_id)
    principal.require(Permission.SHOPS_UPDATE)
    _check(fields)
    if fields.name is not None:
        shop.name = fields.name.strip()
    if fields.address is not None:
        shop.address = fields.address
    if fields.timezone is not None:
        shop.timezone = fields.timezone
    if fields.is_active is not None:
        shop.is_active = fields.is_active
    uow.emit(
        channels.shop(uow.tenant_id, shop.id),
        "shop.updated",
        {
            "id": str(shop.id),
            "name": shop.name,
            "address": shop.address,
            "timezone": shop.timezone,
            "is_active": shop.is_active,
        },
    )
    await uow.commit()
    return shop
