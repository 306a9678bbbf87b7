"""Repositories. Every query on a shared table is filtered by the unit of work's tenant;
tenant tables need no filter because the connection can only see one tenant."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Executable

from hub.adapters.db.job_tables import AgentLink
from hub.adapters.db.tables import (
    AuthSession,
    DeviceToken,
    RefreshToken,
    Shop,
    Tenant,
    TenantSetting,
    User,
    UserShop,
)


@dataclass(frozen=True)
class PageRequest:
    offset: int
    limit: int


async def _page(
    session: AsyncSession, query: Select[Any], page: PageRequest
) -> tuple[list[Any], int]:
    """One page of `query` (which selects one entity) and the count of all its rows.

    The count rides along as a window function, so the matches are found once, in one
    round trip; only a page past the end needs a count of its own."""
    counted = query.add_columns(func.count().over().label("total_rows"))
    rows = (await session.execute(counted.offset(page.offset).limit(page.limit))).all()
    if rows:
        return [row[0] for row in rows], int(rows[0][-1])
    if page.offset == 0:
        return [], 0
    count = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return [], int(count or 0)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Logins:
    """Look-ups made before a tenant is known: by a unique name or a secret's digest."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def user_by_username_key(self, username_key: str) -> User | None:
        return await self._session.scalar(select(User).where(User.username_key == username_key))

    async def username_taken(self, username_key: str) -> bool:
        found = await self._session.scalar(select(User.id).where(User.username_key == username_key))
        return found is not None

    async def refresh_token(self, token_hash: str) -> tuple[RefreshToken, AuthSession] | None:
        row = (
            await self._session.execute(
                select(RefreshToken, AuthSession)
                .join(AuthSession, AuthSession.id == RefreshToken.session_id)
                .where(RefreshToken.token_hash == token_hash)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def device_by_hash(self, token_hash: str) -> DeviceToken | None:
        return await self._session.scalar(
            select(DeviceToken).where(DeviceToken.token_hash == token_hash)
        )

    async def tenant(self, tenant_id: uuid.UUID) -> Tenant | None:
        return await self._session.get(Tenant, tenant_id)

    async def touch_device(self, device_id: uuid.UUID, now: datetime) -> None:
        await self._session.execute(
            update(DeviceToken).where(DeviceToken.id == device_id).values(last_used_at=now)
        )


class Tenants:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self._session = session
        self._tenant_id = tenant_id

    async def current(self) -> Tenant:
        tenant = await self._session.get(Tenant, self._tenant_id)
        assert tenant is not None, "unit of work bound to a missing tenant"
        return tenant

    async def with_shop_and_user(
        self, shop_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[Tenant, Shop | None, User | None]:
        """The tenant, one of its shops and one of its users in one statement (a
        receipt's header names all three)."""
        row = (
            await self._session.execute(
                select(Tenant, Shop, User)
                .select_from(Tenant)
                .outerjoin(Shop, Shop.id == shop_id)
                .outerjoin(User, (User.id == user_id) & (User.tenant_id == Tenant.id))
                .where(Tenant.id == self._tenant_id)
            )
        ).one()
        return row[0], row[1], row[2]

    def add(self, tenant: Tenant) -> None:
        assert tenant.id == self._tenant_id
        self._session.add(tenant)

    async def settings(self) -> dict[str, Any]:
        rows = await self._session.scalars(select(TenantSetting))
        return {row.key: row.value for row in rows}

    async def put_setting(self, key: str, value: Any) -> None:
        row = await self._session.get(TenantSetting, key)
        if row is None:
            self._session.add(TenantSetting(key=key, value=value))
        else:
            row.value = value


class Users:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self._session = session
        self._tenant_id = tenant_id

    def add(self, user: User) -> None:
        user.tenant_id = self._tenant_id
        self._session.add(user)

    async def get(self, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
        query = select(User).where(User.id == user_id, User.tenant_id == self._tenant_id)
        if for_update:
            query = query.with_for_update()
        return await self._session.scalar(query)

    async def find(
        self,
        page: PageRequest,
        *,
        role: str | None = None,
        is_active: bool | None = None,
        search: str | None = None,
        in_shops: Iterable[uuid.UUID] | None = None,
    ) -> tuple[list[User], int]:
        query = select(User).where(User.tenant_id == self._tenant_id)
        if role is not None:
            query = query.where(User.role == role)
        if is_active is not None:
            query = query.where(User.is_active == is_active)
        if search:
            pattern = _like(search.casefold())
            query = query.where(
                or_(
                    User.username_key.like(pattern, escape="\\"),
                    func.lower(User.email).like(pattern, escape="\\"),
                    func.lower(User.full_name).like(pattern, escape="\\"),
                )
            )
        if in_shops is not None:
            members = select(UserShop.user_id).where(UserShop.shop_id.in_(list(in_shops)))
            query = query.where(User.id.in_(members))
        return await _page(self._session, query.order_by(User.username_key), page)

    async def pin_holders(
        self,
        shop_id: uuid.UUID,
        *,
        roles: Iterable[str],
        everywhere: Iterable[str],
        limit: int,
    ) -> list[User]:
        """Active users of `roles` with a PIN who work in the shop (bound to it, or of a
        role in `everywhere`, which sees every shop): who may approve at its tills."""
        members = select(UserShop.user_id).where(UserShop.shop_id == shop_id)
        query = (
            select(User)
            .where(
                User.tenant_id == self._tenant_id,
                User.is_active.is_(True),
                User.pin_hash.is_not(None),
                User.role.in_(list(roles)),
                or_(User.role.in_(list(everywhere)), User.id.in_(members)),
            )
            .order_by(User.username_key)
            .limit(limit)
        )
        return list(await self._session.scalars(query))

    async def many(self, user_ids: Iterable[uuid.UUID]) -> list[User]:
        wanted = list(user_ids)
        if not wanted:
            return []
        query = select(User).where(User.tenant_id == self._tenant_id, User.id.in_(wanted))
        return list(await self._session.scalars(query.order_by(User.username_key)))

    async def shops_of(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        result: dict[uuid.UUID, list[uuid.UUID]] = {uid: [] for uid in user_ids}
        if not user_ids:
            return result
        rows = await self._session.execute(
            select(UserShop.user_id, UserShop.shop_id)
            .where(UserShop.user_id.in_(list(user_ids)))
            .order_by(UserShop.shop_id)
        )
        for user_id, shop_id in rows:
            result[user_id].append(shop_id)
        return result

    async def set_shops(self, user_id: uuid.UUID, shop_ids: Iterable[uuid.UUID]) -> None:
        await self._session.execute(delete(UserShop).where(UserShop.user_id == user_id))
        self._session.add_all(UserShop(user_id=user_id, shop_id=s) for s in set(shop_ids))
        await self._session.flush()


class Shops:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, shop: Shop) -> None:
        self._session.add(shop)

    async def get(self, shop_id: uuid.UUID) -> Shop | None:
        return await self._session.get(Shop, shop_id)

    async def existing(self, shop_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        ids = list(set(shop_ids))
        if not ids:
            return set()
        return set(await self._session.scalars(select(Shop.id).where(Shop.id.in_(ids))))

    async def find(
        self,
        page: PageRequest,
        *,
        only: Iterable[uuid.UUID] | None = None,
        is_active: bool | None = None,
        search: str | None = None,
    ) -> tuple[list[Shop], int]:
        query = select(Shop)
        if only is not None:
            query = query.where(Shop.id.in_(list(only)))
        if is_active is not None:
            query = query.where(Shop.is_active == is_active)
        if search:
            query = query.where(func.lower(Shop.name).like(_like(search.casefold()), escape="\\"))
        return await _page(self._session, query.order_by(Shop.name, Shop.id), page)


# Runs a read of shared tables and returns its first row, wherever they are best read.
SharedRead = Callable[[Executable, dict[str, Any]], Awaitable[Row[Any] | None]]


class AuthSessions:
    def __init__(
        self, session: AsyncSession, tenant_id: uuid.UUID, read_shared: SharedRead
    ) -> None:
        self._session = session
        self._tenant_id = tenant_id
        self._read_shared = read_shared

    def add(self, auth_session: AuthSession, token: RefreshToken) -> None:
        auth_session.tenant_id = self._tenant_id
        self._session.add(auth_session)
        self._session.add(token)

    def add_token(self, token: RefreshToken) -> None:
        self._session.add(token)

    async def get(self, session_id: uuid.UUID) -> AuthSession | None:
        return await self._session.scalar(
            select(AuthSession).where(
                AuthSession.id == session_id, AuthSession.tenant_id == self._tenant_id
            )
        )

    async def claim_refresh(self, token_hash: str, now: datetime) -> bool:
        """Mark a refresh token used; False when another request used it first."""
        result = await self._session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def revoke(self, session_id: uuid.UUID, now: datetime, reason: str) -> None:
        await self._session.execute(
            update(AuthSession)
            .where(
                AuthSession.id == session_id,
                AuthSession.tenant_id == self._tenant_id,
                AuthSession.revoked_at.is_(None),
            )
            .values(revoked_at=now, revoked_reason=reason)
        )

    async def revoke_all_of(
        self, user_id: uuid.UUID, now: datetime, reason: str, *, keep: uuid.UUID | None = None
    ) -> None:
        query = update(AuthSession).where(
            AuthSession.user_id == user_id,
            AuthSession.tenant_id == self._tenant_id,
            AuthSession.revoked_at.is_(None),
        )
        if keep is not None:
            query = query.where(AuthSession.id != keep)
        await self._session.execute(query.values(revoked_at=now, revoked_reason=reason))

    async def principal_state(
        self, session_id: uuid.UUID, user_id: uuid.UUID
    ) -> PrincipalState | None:
        row = await self._read_shared(
            _PRINCIPAL_STATE,
            {"session_id": session_id, "user_id": user_id, "tenant_id": self._tenant_id},
        )
        return None if row is None else PrincipalState(*tuple(row))


@dataclass(frozen=True)
class PrincipalState:
    """What every authenticated request checks: is the session, the user and the
    business still live, and is the token's auth version current."""

    session_id: uuid.UUID
    session_revoked: bool
    user_active: bool
    auth_version: int
    role: str
    tenant_active: bool


# Built once: it runs on every request, and building the expression costs more than
# the query's round trip.
_PRINCIPAL_STATE = (
    select(
        AuthSession.id,
        AuthSession.revoked_at.is_not(None),
        User.is_active,
        User.auth_version,
        User.role,
        Tenant.is_active,
    )
    .join(User, User.id == AuthSession.user_id)
    .join(Tenant, Tenant.id == User.tenant_id)
    .where(
        AuthSession.id == bindparam("session_id"),
        User.id == bindparam("user_id"),
        User.tenant_id == bindparam("tenant_id"),
    )
)


class Devices:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self._session = session
        self._tenant_id = tenant_id

    def add(self, device: DeviceToken) -> None:
        device.tenant_id = self._tenant_id
        self._session.add(device)

    async def get(
        self, device_id: uuid.UUID, *, lock: bool = False, share: bool = False
    ) -> DeviceToken | None:
        """`lock`: FOR UPDATE (a revocation), `share`: FOR SHARE (an agent's claim or
        report), both held until the transaction ends and the row re-read: a revocation
        waits for the claims and reports under way, and those after it see it. (SQLite
        has no row locks: its writers are serialised whole.)"""
        query = select(DeviceToken).where(
            DeviceToken.id == device_id, DeviceToken.tenant_id == self._tenant_id
        )
        if lock or share:
            query = query.with_for_update(read=not lock).execution_options(populate_existing=True)
        return await self._session.scalar(query)

    async def find(
        self,
        page: PageRequest,
        *,
        in_shops: Iterable[uuid.UUID] | None = None,
        shop: uuid.UUID | None = None,
        include_revoked: bool = False,
    ) -> tuple[list[DeviceToken], int]:
        query = select(DeviceToken).where(DeviceToken.tenant_id == self._tenant_id)
        if in_shops is not None:
            query = query.where(DeviceToken.shop_id.in_(list(in_shops)))
        if shop is not None:
            query = query.where(DeviceToken.shop_id == shop)
        if not include_revoked:
            query = query.where(DeviceToken.revoked_at.is_(None))
        return await _page(self._session, query.order_by(DeviceToken.created_at), page)

    async def agents_in_shop(self, shop_id: uuid.UUID) -> dict[uuid.UUID, list[dict[str, Any]]]:
        """Every device token of the shop that is not revoked, oldest first, with the
        devices its agent last announced (none if it never did)."""
        rows = await self._session.execute(
            select(DeviceToken.id, AgentLink.devices)
            .outerjoin(AgentLink, AgentLink.device_id == DeviceToken.id)
            .where(
                DeviceToken.tenant_id == self._tenant_id,
                DeviceToken.shop_id == shop_id,
                DeviceToken.revoked_at.is_(None),
            )
            .order_by(DeviceToken.created_at, DeviceToken.id)
        )
        return {device: list(announced or []) for device, announced in rows}
