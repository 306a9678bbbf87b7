"""Registration, login, refresh-token rotation, logout, password change, and turning a
token into a principal."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from hub.adapters.db.database import tenant_schema_name
from hub.adapters.db.migrate import create_tenant_at_head
from hub.adapters.db.tables import AuthSession, RefreshToken, Shop, Tenant, User
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import SharedUnitOfWork, UnitOfWork
from hub.adapters.security.tokens import (
    DEVICE_PREFIX,
    REFRESH_PREFIX,
    AccessClaims,
    digest,
    new_secret,
)
from hub.domain.accounts import (
    UsernameTaken,
    check_password,
    check_username,
    normalise_username,
)
from hub.domain.errors import AuthenticationFailed, Throttled, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.permissions import Role
from hub.domain.tenant_settings import TenantSettings
from hub.services.deps import Deps
from hub.services.principal import Principal
from hub.settings import MAIN_CLUSTER
from protocol import channels
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientInfo:
    ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    access_expires_at: datetime
    refresh_expires_at: datetime


@dataclass(frozen=True)
class Registration:
    tenant_name: str
    username: str
    password: str
    shop_name: str
    email: str = ""
    full_name: str = ""
    # The business's zone (its days, reports, schedules); the first shop's too.
    timezone: str | None = None


@dataclass(frozen=True)
class Registered:
    tokens: TokenPair
    tenant: Tenant
    user: User
    shop: Shop


@dataclass(frozen=True)
class LoggedIn:
    tokens: TokenPair
    user: User
    shop_ids: list[uuid.UUID]


async def _open_session(
    deps: Deps,
    uow: UnitOfWork,
    user: User,
    shop_ids: list[uuid.UUID],
    client: ClientInfo,
    *,
    auth_session: AuthSession | None = None,
) -> TokenPair:
    """Issue an access token and a new refresh token, in a new or an existing session."""
    now = utcnow()
    refresh = new_secret(REFRESH_PREFIX)
    expires = now + timedelta(seconds=deps.settings.refresh_token_ttl)
    if auth_session is None:
        auth_session = AuthSession(
            id=new_id(),
            user_id=user.id,
            expires_at=expires,
            user_agent=client.user_agent[:300],
            client_ip=client.ip[:64],
        )
        uow.auth_sessions.add(
            auth_session,
            RefreshToken(
                token_hash=digest(refresh), session_id=auth_session.id, expires_at=expires
            ),
        )
    else:
        auth_session.expires_at = expires
        uow.auth_sessions.add_token(
            RefreshToken(token_hash=digest(refresh), session_id=auth_session.id, expires_at=expires)
        )
    access, access_expires = deps.access_tokens.issue(
        user_id=user.id,
        tenant_id=uow.tenant_id,
        role=user.role,
        shops=shop_ids,
        session_id=auth_session.id,
        auth_version=user.auth_version,
        now=now,
    )
    return TokenPair(access, refresh, access_expires, expires)


async def register(deps: Deps, reg: Registration, client: ClientInfo) -> Registered:
    """A new business: tenant, its store at head, its owner and its first shop, at once."""
    check_username(reg.username)
    check_password(reg.password, username=reg.username)
    for field, value in (("tenant_name", reg.tenant_name), ("shop_name", reg.shop_name)):
        if not value.strip():
            raise ValidationFailed("must not be blank", fields={field: "must not be blank"})
    settings = TenantSettings() if reg.timezone is None else TenantSettings(timezone=reg.timezone)
    username_key = normalise_username(reg.username)
    async with SharedUnitOfWork(deps.db) as shared:
        if await shared.logins.username_taken(username_key):
            raise UsernameTaken()
    password_hash = await deps.passwords.hash(reg.password)

    owner = User(
        id=new_id(),
        username=reg.username,
        username_key=username_key,
        email=reg.email,
        full_name=reg.full_name,
        password_hash=password_hash,
        role=Role.OWNER.value,
        last_login_at=utcnow(),
    )
    tenant_id = new_id()
    cluster = MAIN_CLUSTER
    store_on_its_own = False  # committed apart from the shared rows (another cluster)
    try:
        cluster = await deps.db.place_new_tenant(tenant_id)
        tenant = Tenant(
            id=tenant_id,
            name=reg.tenant_name.strip(),
            schema_name=tenant_schema_name(tenant_id),
            cluster=cluster,
        )
        async with UnitOfWork(deps.db, tenant_id, write=True) as uow:
            shop = await _open_store(deps, uow, reg.shop_name, settings, owner.id)
            if cluster == MAIN_CLUSTER:  # one transaction holds it all
                tokens = await _enrol(deps, uow, tenant, owner, shop, client)
            await uow.commit()
        if cluster != MAIN_CLUSTER:
            # Through postgres_fdw, one transaction would commit its main-cluster part
            # just before the tenant cluster's: a failure between would leave a login
            # for a business with no store. So the store first, then the shared rows
            # straight on the main cluster: a failure between leaves an unused schema.
            store_on_its_own = True
            async with UnitOfWork(deps.db, tenant_id, write=True, on_main=True) as main:
                tokens = await _enrol(deps, main, tenant, owner, shop, client)
                await main.commit()
    except IntegrityError as exc:
        await _discard_store(deps, tenant_id, cluster if store_on_its_own else None)
        raise UsernameTaken() from exc
    except BaseException:
        await _discard_store(deps, tenant_id, cluster if store_on_its_own else None)
        raise
    return Registered(tokens, tenant, owner, shop)


async def _open_store(
    deps: Deps, uow: UnitOfWork, shop_name: str, settings: TenantSettings, owner_id: uuid.UUID
) -> Shop:
    """A new tenant's store at head, with its first shop, its owner bound to it, and the
    settings."""
    await create_tenant_at_head(deps.db, await uow.connection(), uow.tenant_id)
    shop = Shop(id=new_id(), name=shop_name.strip(), timezone=settings.timezone)
    uow.shops.add(shop)
    await uow.session.flush()
    await uow.users.set_shops(owner_id, [shop.id])
    for key, value in settings.as_json().items():
        await uow.tenants.put_setting(key, value)
    return shop


async def _enrol(
    deps: Deps, uow: UnitOfWork, tenant: Tenant, owner: User, shop: Shop, client: ClientInfo
) -> TokenPair:
    """The new tenant's shared rows: the tenant, its owner's login, a first session."""
    uow.tenants.add(tenant)
    await uow.session.flush()
    uow.users.add(owner)
    await uow.session.flush()
    return await _open_session(deps, uow, owner, [shop.id], client)


async def _discard_store(deps: Deps, tenant_id: uuid.UUID, committed_on: str | None) -> None:
    """What a failed registration left: a store committed on its own (on the cluster
    `committed_on`) is dropped; should that fail too, it stays unused, as no login leads
    to it."""
    if committed_on is not None:
        try:
            await deps.db.drop_tenant_store(tenant_id, committed_on)
        except Exception:  # the cluster that failed the registration may be away
            log.warning("could not drop the store of failed registration %s", tenant_id)
    deps.db.discard_tenant_store(tenant_id)


def sessions_ended(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    *,
    session: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
) -> None:
    """Tell the hubs to close the user's websockets of the ended session(s): one
    session, or all of them but `keep`."""
    uow.emit(
        channels.user(uow.tenant_id, user_id),
        "session.revoked",
        {"session": str(session) if session else None, "except": str(keep) if keep else None},
    )


def tokens_outdated(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    """Tell the hubs that the user's role or shops changed: their open websockets were
    authorised by the old ones, so each closes (4003) and comes back with a fresh token."""
    uow.emit(channels.user(uow.tenant_id, user_id), "session.outdated", {})


def _throttle_keys(username_key: str, client: ClientInfo) -> tuple[str, str]:
    return f"login:user:{username_key}", f"login:ip:{client.ip or '-'}"


async def _check_throttle(deps: Deps, username_key: str, client: ClientInfo) -> None:
    """Fails closed: with the limiter (Redis) unreachable its error propagates and the
    client gets 503, because guessing passwords unthrottled is worse than a login that
    waits for Redis. (The websocket connect limiter fails open: it only sheds load.)"""
    user_key, ip_key = _throttle_keys(username_key, client)
    s = deps.settings
    for key, limit in ((user_key, s.login_max_failures), (ip_key, s.login_ip_max_failures)):
        window = await deps.limiter.peek(key)
        if window.count >= limit:
            raise Throttled(
                "too many failed attempts; try again later", retry_after=window.retry_after
            )


async def _record_failure(deps: Deps, username_key: str, client: ClientInfo) -> None:
    for key in _throttle_keys(username_key, client):
        await deps.limiter.hit(key, deps.settings.login_lockout_seconds)


async def login(deps: Deps, username: str, password: str, client: ClientInfo) -> LoggedIn:
    username_key = normalise_username(username)
    await _check_throttle(deps, username_key, client)
    async with SharedUnitOfWork(deps.db) as shared:
        user = await shared.logins.user_by_username_key(username_key)
        tenant = await shared.logins.tenant(user.tenant_id) if user else None
    valid = await deps.passwords.verify(user.password_hash if user else None, password)
    if not valid or user is None or tenant is None or not user.is_active or not tenant.is_active:
        await _record_failure(deps, username_key, client)
        raise AuthenticationFailed("wrong username or password", code=ErrorCode.INVALID_CREDENTIALS)
    await deps.limiter.reset(_throttle_keys(username_key, client)[0])

    async with UnitOfWork(deps.db, user.tenant_id, write=True) as uow:
        current = await uow.users.get(user.id)
        if current is None or not current.is_active:
            raise AuthenticationFailed(
                "wrong username or password", code=ErrorCode.INVALID_CREDENTIALS
            )
        if deps.passwords.needs_rehash(current.password_hash):
            current.password_hash = await deps.passwords.hash(password)
        current.last_login_at = utcnow()
        shop_ids = (await uow.users.shops_of([current.id]))[current.id]
        tokens = await _open_session(deps, uow, current, shop_ids, client)
        await uow.commit()
    return LoggedIn(tokens, current, shop_ids)


async def refresh(deps: Deps, refresh_token: str, client: ClientInfo) -> TokenPair:
    """Rotate: the presented token is spent; reusing a spent one revokes the session,
    because only a thief or a replay would present it twice."""
    token_hash = digest(refresh_token)
    async with SharedUnitOfWork(deps.db) as shared:
        found = await shared.logins.refresh_token(token_hash)
    if found is None:
        raise AuthenticationFailed("unknown refresh token", code=ErrorCode.TOKEN_INVALID)
    _, known_session = found
    now = utcnow()
    async with UnitOfWork(deps.db, known_session.tenant_id, write=True) as uow:
        auth_session = await uow.auth_sessions.get(known_session.id)
        if auth_session is None or auth_session.revoked_at is not None:
            raise AuthenticationFailed("session ended", code=ErrorCode.TOKEN_REVOKED)
        if not await uow.auth_sessions.claim_refresh(token_hash, now):
            await uow.auth_sessions.revoke(auth_session.id, now, "refresh_reuse")
            sessions_ended(uow, auth_session.user_id, session=auth_session.id)
            await uow.commit()
            raise AuthenticationFailed(
                "refresh token already used; session revoked", code=ErrorCode.TOKEN_REVOKED
            )
        token, _ = found
        if token.expires_at <= now or auth_session.expires_at <= now:
            raise AuthenticationFailed("refresh token expired", code=ErrorCode.TOKEN_EXPIRED)
        user = await uow.users.get(auth_session.user_id)
        tenant = await uow.tenants.current()
        if user is None or not user.is_active or not tenant.is_active:
            await uow.auth_sessions.revoke(auth_session.id, now, "user_inactive")
            await uow.commit()
            raise AuthenticationFailed("account disabled", code=ErrorCode.TOKEN_REVOKED)
        shop_ids = (await uow.users.shops_of([user.id]))[user.id]
        tokens = await _open_session(deps, uow, user, shop_ids, client, auth_session=auth_session)
        await uow.commit()
    return tokens


async def logout_refresh(deps: Deps, refresh_token: str) -> None:
    """End the session a refresh token belongs to (when the access token is gone)."""
    async with SharedUnitOfWork(deps.db) as shared:
        found = await shared.logins.refresh_token(digest(refresh_token))
    if found is None:
        raise AuthenticationFailed("unknown refresh token", code=ErrorCode.TOKEN_INVALID)
    _, auth_session = found
    async with UnitOfWork(deps.db, auth_session.tenant_id, write=True) as uow:
        await uow.auth_sessions.revoke(auth_session.id, utcnow(), "logout")
        sessions_ended(uow, auth_session.user_id, session=auth_session.id)
        await uow.commit()


async def logout(uow: UnitOfWork, principal: Principal) -> None:
    if principal.session_id is None:
        raise AuthenticationFailed("devices have no session to end")
    await uow.auth_sessions.revoke(principal.session_id, utcnow(), "logout")
    assert principal.user_id is not None
    sessions_ended(uow, principal.user_id, session=principal.session_id)
    await uow.commit()


async def confirm_password(
    deps: Deps, user: User, password: str, client: ClientInfo, *, field: str
) -> None:
    """A signed-in user proves it is them before a sensitive change; wrong passwords count
    towards the login throttle of their username, so this is no side door for guessing."""
    await _check_throttle(deps, user.username_key, client)
    if not await deps.passwords.verify(user.password_hash, password):
        await _record_failure(deps, user.username_key, client)
        raise ValidationFailed("current password is wrong", fields={field: "does not match"})


async def change_password(
    deps: Deps,
    uow: UnitOfWork,
    principal: Principal,
    old_password: str,
    new_password: str,
    client: ClientInfo,
) -> TokenPair:
    """Change one's own password; every other session ends, this one gets new tokens."""
    if principal.user_id is None or principal.session_id is None:
        raise AuthenticationFailed("only staff users have passwords")
    user = await uow.users.get(principal.user_id, for_update=True)
    assert user is not None
    await confirm_password(deps, user, old_password, client, field="old_password")
    check_password(new_password, username=user.username, field="new_password")
    if new_password == old_password:
        raise ValidationFailed(
            "new password equals the old one", fields={"new_password": "must change"}
        )
    user.password_hash = await deps.passwords.hash(new_password)
    user.auth_version += 1
    now = utcnow()
    await uow.auth_sessions.revoke_all_of(
        user.id, now, "password_changed", keep=principal.session_id
    )
    sessions_ended(uow, user.id, keep=principal.session_id)
    auth_session = await uow.auth_sessions.get(principal.session_id)
    assert auth_session is not None
    shop_ids = (await uow.users.shops_of([user.id]))[user.id]
    tokens = await _open_session(deps, uow, user, shop_ids, client, auth_session=auth_session)
    await uow.commit()
    return tokens


async def authenticate_user(uow: UnitOfWork, claims: AccessClaims) -> Principal:
    """Check a decoded access token against the live session, user and tenant."""
    state = await uow.auth_sessions.principal_state(claims.session_id, claims.user_id)
    if state is None:
        raise AuthenticationFailed("unknown session", code=ErrorCode.TOKEN_INVALID)
    if state.session_revoked or not state.user_active or not state.tenant_active:
        raise AuthenticationFailed("session ended", code=ErrorCode.TOKEN_REVOKED)
    if state.auth_version != claims.auth_version:
        # Role, shops or password changed since the token was issued: refresh it.
        raise AuthenticationFailed("token outdated; refresh it", code=ErrorCode.TOKEN_EXPIRED)
    return Principal(
        tenant_id=uow.tenant_id,
        user_id=claims.user_id,
        role=Role(state.role),
        shop_ids=frozenset(claims.shops),
        session_id=state.session_id,
    )


DEVICE_TOKEN_PREFIX = DEVICE_PREFIX


@dataclass(frozen=True)
class DeviceIdentity:
    tenant_id: uuid.UUID
    device_id: uuid.UUID
    shop_id: uuid.UUID


async def identify_device(deps: Deps, token: str) -> DeviceIdentity:
    """Resolve a device token to its tenant and shop (before any tenant is bound)."""
    async with SharedUnitOfWork(deps.db) as shared:
        device = await shared.logins.device_by_hash(digest(token))
        tenant = await shared.logins.tenant(device.tenant_id) if device else None
    if device is None or tenant is None:
        raise AuthenticationFailed("unknown device token", code=ErrorCode.TOKEN_INVALID)
    if device.revoked_at is not None or not tenant.is_active:
        raise AuthenticationFailed("device token revoked", code=ErrorCode.TOKEN_REVOKED)
    now = utcnow()
    if device.last_used_at is None or now - device.last_used_at > timedelta(minutes=1):
        # Written at most once a minute: operators see which agents are alive.
        async with SharedUnitOfWork(deps.db, write=True) as shared:
            await shared.logins.touch_device(device.id, now)
            await shared.commit()
    return DeviceIdentity(device.tenant_id, device.id, device.shop_id)


async def authenticate_device(uow: UnitOfWork, identity: DeviceIdentity) -> Principal:
    device = await uow.devices.get(identity.device_id)
    if device is None or device.revoked_at is not None:
        raise AuthenticationFailed("device token revoked", code=ErrorCode.TOKEN_REVOKED)
    return Principal(
        tenant_id=uow.tenant_id,
        shop_ids=frozenset({device.shop_id}),
        device_id=device.id,
    )


async def authenticate_bearer(deps: Deps, token: str) -> tuple[Principal, datetime | None]:
    """A bearer token (access or device) to a principal, in its own short transaction;
    for long-lived connections. Returns when the token stops being valid (None: never)."""
    if token.startswith(DEVICE_TOKEN_PREFIX):
        identity = await identify_device(deps, token)
        async with UnitOfWork(deps.db, identity.tenant_id) as uow:
            return await authenticate_device(uow, identity), None
    claims = deps.access_tokens.decode(token)
    async with UnitOfWork(deps.db, claims.tenant_id) as uow:
        return await authenticate_user(uow, claims), claims.expires_at
