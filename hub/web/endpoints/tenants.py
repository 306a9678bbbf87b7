from __future__ import annotations

from hub.domain.permissions import Permission
from hub.services import tenants
from hub.web.api import Api, Ctx
from hub.web.schemas.tenants import TenantOut, TenantUpdateIn

api = Api()
TAG = "tenant"


@api.get("/api/core/tenant/", tag=TAG, permission=Permission.TENANT_VIEW)
async def get_tenant(ctx: Ctx) -> TenantOut:
    """The business: its name and settings."""
    return TenantOut.of(await tenants.get_tenant(ctx.uow, ctx.principal))


@api.patch("/api/core/tenant/", tag=TAG, permission=Permission.TENANT_MANAGE)
async def update_tenant(ctx: Ctx, body: TenantUpdateIn) -> TenantOut:
    """Rename the business or change its settings (owners only)."""
    changes = body.settings.changes() if body.settings else {}
    view = await tenants.update_tenant(ctx.uow, ctx.principal, name=body.name, settings=changes)
    return TenantOut.of(view)
