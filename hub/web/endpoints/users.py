from __future__ import annotations

import uuid

from hub.domain.permissions import Permission
from hub.services import users
from hub.web.api import Api, Ctx
from hub.web.schemas.common import Page
from hub.web.schemas.users import SetPasswordIn, UserCreateIn, UserOut, UserQuery, UserUpdateIn

api = Api()
TAG = "users"


@api.get("/api/users/users/", tag=TAG, permission=Permission.USERS_VIEW)
async def list_users(ctx: Ctx, query: UserQuery) -> Page[UserOut]:
    """Staff of the tenant (a manager sees the staff of their shops)."""
    found, count = await users.list_users(
        ctx.uow,
        ctx.principal,
        query.page_request(),
        role=query.role,
        is_active=query.is_active,
        search=query.search,
        shop=query.shop,
    )
    return Page[UserOut].build(ctx.request, query, [UserOut.of(m) for m in found], count)


@api.post("/api/users/users/", tag=TAG, permission=Permission.USERS_MANAGE, status=201)
async def create_user(ctx: Ctx, body: UserCreateIn) -> UserOut:
    """Create a staff account bound to shops."""
    member = await users.create_user(
        ctx.deps,
        ctx.uow,
        ctx.principal,
        users.NewUser(
            username=body.username,
            password=body.password,
            role=body.role,
            shops=body.shops,
            email=body.email or "",
            full_name=body.full_name,
        ),
    )
    return UserOut.of(member)


@api.get("/api/users/users/{user_id}/", tag=TAG, permission=Permission.USERS_VIEW)
async def get_user(ctx: Ctx, user_id: uuid.UUID) -> UserOut:
    """One staff account."""
    return UserOut.of(await users.get_user(ctx.uow, ctx.principal, user_id))


@api.patch("/api/users/users/{user_id}/", tag=TAG, permission=Permission.USERS_MANAGE)
async def update_user(ctx: Ctx, user_id: uuid.UUID, body: UserUpdateIn) -> UserOut:
    """Change role, shops, contact details or activity; tokens of the user go stale."""
    member = await users.update_user(
        ctx.uow,
        ctx.principal,
        user_id,
        users.UserChanges(
            role=body.role,
            shops=body.shops,
            email=body.email,
            full_name=body.full_name,
            is_active=body.is_active,
        ),
    )
    return UserOut.of(member)


@api.delete("/api/users/users/{user_id}/", tag=TAG, permission=Permission.USERS_MANAGE)
async def deactivate_user(ctx: Ctx, user_id: uuid.UUID) -> None:
    """Deactivate an account (it is kept: sales and shifts refer to it)."""
    await users.deactivate_user(ctx.uow, ctx.principal, user_id)


@api.post(
    "/api/users/users/{user_id}/set-password/",
    tag=TAG,
    permission=Permission.USERS_MANAGE,
    status=204,
)
async def set_password(ctx: Ctx, user_id: uuid.UUID, body: SetPasswordIn) -> None:
    """Reset a staff member's password; their sessions end."""
    await users.set_password(ctx.deps, ctx.uow, ctx.principal, user_id, body.password)
