"""The tenant itself: its name and settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.adapters.db.tables import Tenant
from hub.adapters.db.uow import UnitOfWork
from hub.domain.errors import ValidationFailed
from hub.domain.permissions import Permission
from hub.domain.tenant_settings import TenantSettings
from hub.services.principal import Principal


@dataclass(frozen=True)
class TenantView:
    tenant: Tenant
    settings: TenantSettings


async def get_tenant(uow: UnitOfWork, principal: Principal) -> TenantView:
    principal.require(Permission.TENANT_VIEW)
    return TenantView(
        await uow.tenants.current(), TenantSettings.from_json(await uow.tenants.settings())
    )


async def update_tenant(
    uow: UnitOfWork, principal: Principal, *, name: str | None, settings: dict[str, Any]
) -> TenantView:
    principal.require(Permission.TENANT_MANAGE)
    view = await get_tenant(uow, principal)
    if name is not None:
        if not name.strip():
            raise ValidationFailed("must not be blank", fields={"name": "must not be blank"})
        view.tenant.name = name.strip()
    new_settings = view.settings.changed(**settings)
    for key, value in new_settings.as_json().items():
        await uow.tenants.put_setting(key, value)
    await uow.commit()
    return TenantView(view.tenant, new_settings)
