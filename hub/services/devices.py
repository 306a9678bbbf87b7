"""Device tokens for edge agents: issued once, stored as a digest, revocable."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hub.adapters.db.repositories import PageRequest
from hub.adapters.db.tables import DeviceToken
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.adapters.security.tokens import DEVICE_PREFIX, digest, new_secret
from hub.domain.errors import NotFound, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.permissions import Permission
from hub.services import device_jobs
from hub.services.principal import Principal
from hub.services.shops import check_shop_filter, get_shop
from protocol import channels


@dataclass(frozen=True)
class IssuedDevice:
    device: DeviceToken
    token: str  # shown once, never stored


async def issue_device_token(
    uow: UnitOfWork, principal: Principal, *, name: str, shop_id: uuid.UUID
) -> IssuedDevice:
    principal.require(Permission.DEVICES_MANAGE)
    if not name.strip():
        raise ValidationFailed("must not be blank", fields={"name": "must not be blank"})
    await get_shop(uow, principal, shop_id)
    token = new_secret(DEVICE_PREFIX)
    device = DeviceToken(
        id=new_id(),
        shop_id=shop_id,
        name=name.strip(),
        token_hash=digest(token),
        token_prefix=token[:10],
        created_by=principal.user_id,
    )
    uow.devices.add(device)
    await uow.commit()
    return IssuedDevice(device, token)


async def list_device_tokens(
    uow: UnitOfWork,
    principal: Principal,
    page: PageRequest,
    *,
    shop: uuid.UUID | None = None,
    include_revoked: bool = False,
) -> tuple[list[DeviceToken], int]:
    principal.require(Permission.DEVICES_MANAGE)
    await check_shop_filter(uow, principal, shop)
    return await uow.devices.find(
        page, in_shops=principal.visible_shops(), shop=shop, include_revoked=include_revoked
    )


async def get_device_token(
    uow: UnitOfWork, principal: Principal, device_id: uuid.UUID
) -> DeviceToken:
    principal.require(Permission.DEVICES_MANAGE)
    device = await uow.devices.get(device_id)
    if device is None or not principal.sees_shop(device.shop_id):
        raise NotFound("no such device token")
    return device


async def revoke_device_token(uow: UnitOfWork, principal: Principal, device_id: uuid.UUID) -> None:
    """Revoke an agent's token. Its row is locked (FOR UPDATE) until the commit: the
    agent's claims and reports under way (which hold it FOR SHARE) finish first, and
    those after see it revoked; its pending jobs are read under the lock."""
    await get_device_token(uow, principal, device_id)
    device = await uow.devices.get(device_id, lock=True)
    assert device is not None, "a token is never deleted"
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        # Connected agents holding this token are closed by the hub on this event.
        uow.emit(
            channels.device(uow.tenant_id, device.id), "device.revoked", {"id": str(device.id)}
        )
        await device_jobs.give_away_jobs(uow, device.id, device.shop_id)
    await uow.commit()
