from __future__ import annotations

from datetime import UTC, datetime

from hub.adapters.db.uow import UnitOfWork
from hub.domain.permissions import Permission
from hub.services import auth, pins
from hub.services.auth import TokenPair
from hub.web.api import Api, Auth, Ctx, PublicCtx
from hub.web.errors import ApiError
from hub.web.schemas.auth import (
    LoginIn,
    LoginOut,
    LogoutIn,
    MeOut,
    PasswordChangeIn,
    PinIn,
    PinOut,
    Ref,
    RefreshIn,
    RegisterIn,
    RegisterOut,
    TokensOut,
    UserRef,
)
from protocol.errors import ErrorCode

api = Api()
TAG = "auth"


def _tokens(pair: TokenPair) -> dict[str, object]:
    expires_in = int((pair.access_expires_at - datetime.now(UTC)).total_seconds())
    return {
        "access": pair.access,
        "refresh": pair.refresh,
        "expires_in": max(0, expires_in),
        "refresh_expires_at": pair.refresh_expires_at,
    }


@api.post("/api/users/auth/register/", tag=TAG, auth=Auth.PUBLIC, status=201)
async def register(ctx: PublicCtx, body: RegisterIn) -> RegisterOut:
    """Register a business: its tenant, its owner and its first shop."""
    done = await auth.register(
        ctx.deps,
        auth.Registration(
            tenant_name=body.tenant_name,
            username=body.username,
            password=body.password,
            shop_name=body.shop_name,
            email=body.email or "",
            full_name=body.full_name,
            timezone=body.timezone,
        ),
        ctx.client,
    )
    return RegisterOut(
        **_tokens(done.tokens),
        tenant=Ref(id=done.tenant.id, name=done.tenant.name),
        user=UserRef(
            id=done.user.id, username=done.user.username, role=done.user.role, shops=[done.shop.id]
        ),
        shop=Ref(id=done.shop.id, name=done.shop.name),
    )


@api.post("/api/users/auth/login/", tag=TAG, auth=Auth.PUBLIC)
async def login(ctx: PublicCtx, body: LoginIn) -> LoginOut:
    """Log in with a username and password; throttled against guessing."""
    done = await auth.login(ctx.deps, body.username, body.password, ctx.client)
    return LoginOut(
        **_tokens(done.tokens),
        user=UserRef(
            id=done.user.id, username=done.user.username, role=done.user.role, shops=done.shop_ids
        ),
    )


@api.post("/api/users/auth/refresh/", tag=TAG, auth=Auth.PUBLIC)
async def refresh(ctx: PublicCtx, body: RefreshIn) -> TokensOut:
    """Trade a refresh token for a new pair; the old refresh token is spent."""
    pair = await auth.refresh(ctx.deps, body.refresh, ctx.client)
    return TokensOut(**_tokens(pair))


@api.post("/api/users/auth/logout/", tag=TAG, auth=Auth.PUBLIC, write=True)
async def logout(ctx: PublicCtx, body: LogoutIn) -> None:
    """End a session: the one of the bearer access token, or of the refresh token given."""
    header = ctx.request.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and body.refresh is None:
        claims = ctx.deps.access_tokens.decode(header[7:].strip())
        async with UnitOfWork(ctx.deps.db, claims.tenant_id, write=True) as uow:
            principal = await auth.authenticate_user(uow, claims)
            await auth.logout(uow, principal)
        return
    if body.refresh is None:
        raise ApiError(ErrorCode.NOT_AUTHENTICATED, "send a bearer token or a refresh token")
    await auth.logout_refresh(ctx.deps, body.refresh)
    return


@api.post("/api/users/auth/change-password/", tag=TAG)
async def change_password(ctx: Ctx, body: PasswordChangeIn) -> TokensOut:
    """Change one's own password; other sessions end, this one gets fresh tokens."""
    pair = await auth.change_password(
        ctx.deps, ctx.uow, ctx.principal, body.old_password, body.new_password, ctx.client
    )
    return TokensOut(**_tokens(pair))


@api.get("/api/users/auth/me/", tag=TAG, auth=Auth.ANY)
async def me(ctx: Ctx) -> MeOut:
    """Who the bearer token belongs to: a staff user or an edge agent's device."""
    p = ctx.principal
    if p.is_device:
        return MeOut(
            kind="device", tenant=p.tenant_id, shops=sorted(p.shop_ids), device=p.device_id
        )
    assert p.user_id is not None
    assert p.role is not None
    user = await ctx.uow.users.get(p.user_id)
    assert user is not None
    return MeOut(
        kind="user",
        tenant=p.tenant_id,
        shops=sorted(p.shop_ids),
        user=p.user_id,
        username=user.username,
        role=p.role.value,
        permissions=[perm.value for perm in Permission if p.has(perm)],
        has_pin=user.pin_hash is not None,
    )


@api.put("/api/users/auth/pin/", tag=TAG, permission=Permission.SALES_RETURN)
async def set_pin(ctx: Ctx, body: PinIn) -> PinOut:
    """Set (4 to 8 digits) or clear (`null`) one's own PIN, confirmed with one's password;
    typed at a till, it approves a cashier's return. Managers and owners."""
    pin = None if body.pin is None else body.pin.get_secret_value()
    has_pin = await pins.set_pin(ctx.deps, ctx.uow, ctx.principal, body.password, pin, ctx.client)
    return PinOut(has_pin=has_pin)
