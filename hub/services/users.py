"""Staff accounts: list, read, create, edit, deactivate, reset a password. A manager's PIN
(`hub/services/pins.py`) is cleared when its holder is deactivated, has their password
reset or moves to a role that approves nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from hub.adapters.db.repositories import PageRequest
from hub.adapters.db.tables import User
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.domain.accounts import (
    UsernameTaken,
    check_password,
    check_username,
    ensure_can_manage,
    may_hold_pin,
    normalise_username,
)
from hub.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.permissions import Permission, Role
from hub.services.auth import sessions_ended, tokens_outdated
from hub.services.deps import Deps
from hub.services.principal import Principal
from hub.services.shops import check_shop_filter


@dataclass(frozen=True)
class StaffMember:
    user: User
    shop_ids: list[uuid.UUID]


@dataclass(frozen=True)
class NewUser:
    username: str
    password: str
    role: Role
    shops: list[uuid.UUID]
    email: str = ""
    full_name: str = ""


@dataclass(frozen=True)
class UserChanges:
    role: Role | None = None
    shops: list[uuid.UUID] | None = None
    email: str | None = None
    full_name: str | None = None
    is_active: bool | None = None


async def _visible_user(uow: UnitOfWork, principal: Principal, user_id: uuid.UUID) -> StaffMember:
    """A user the principal may see, or NotFound: unseen users do not exist for them."""
    user = await uow.users.get(user_id)
    if user is None:
        raise NotFound("no such user")
    shops = (await uow.users.shops_of([user.id]))[user.id]
    if user.id != principal.user_id:
        principal.require(Permission.USERS_VIEW)
        visible = principal.visible_shops()
        if visible is not None and not visible.intersection(shops):
            raise NotFound("no such user")
    return StaffMember(user, shops)


async def _check_shops(uow: UnitOfWork, principal: Principal, shops: list[uuid.UUID]) -> None:
    """The shops exist in this tenant and are the principal's to assign."""
    unknown = set(shops) - await uow.shops.existing(shops)
    if unknown:
        first = sorted(map(str, unknown))[0]
        raise NotFound("unknown shop", fields={"shops": f"unknown shop id {first}"})
    if not principal.sees_all_shops and set(shops) - principal.shop_ids:
        raise PermissionDenied("you may only assign your own shops", fields={"shops": "not yours"})


def _require_a_shop(role: Role, shops: list[uuid.UUID]) -> None:
    if role is not Role.OWNER and not shops:
        raise ValidationFailed("staff need a shop", fields={"shops": "at least one shop"})


async def list_users(
    uow: UnitOfWork,
    principal: Principal,
    page: PageRequest,
    *,
    role: Role | None = None,
    is_active: bool | None = None,
    search: str | None = None,
    shop: uuid.UUID | None = None,
) -> tuple[list[StaffMember], int]:
    principal.require(Permission.USERS_VIEW)
    await check_shop_filter(uow, principal, shop)
    in_shops = principal.visible_shops()
    if shop is not None:
        in_shops = frozenset({shop})
    users, count = await uow.users.find(
        page,
        role=role.value if role else None,
        is_active=is_active,
        search=search,
        in_shops=in_shops,
    )
    shops = await uow.users.shops_of([u.id for u in users])
    return [StaffMember(u, shops[u.id]) for u in users], count


async def get_user(uow: UnitOfWork, principal: Principal, user_id: uuid.UUID) -> StaffMember:
    return await _visible_user(uow, principal, user_id)


async def create_user(
    deps: Deps, uow: UnitOfWork, principal: Principal, new: NewUser
) -> StaffMember:
    principal.require(Permission.USERS_MANAGE)
    assert principal.role is not None
    ensure_can_manage(principal.role, new.role)
    check_username(new.username)
    check_password(new.password, username=new.username)
    await _check_shops(uow, principal, new.shops)
    _require_a_shop(new.role, new.shops)
    username_key = normalise_username(new.username)
    if await uow.logins.username_taken(username_key):
        raise UsernameTaken()
    user = User(
        id=new_id(),
        username=new.username,
        username_key=username_key,
        email=new.email,
        full_name=new.full_name,
        password_hash=await deps.passwords.hash(new.password),
        role=new.role.value,
    )
    uow.users.add(user)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise UsernameTaken() from exc
    await uow.users.set_shops(user.id, new.shops)
    await uow.commit()
    return StaffMember(user, sorted(set(new.shops)))


async def _ensure_not_last_owner(uow: UnitOfWork, user: User) -> None:
    if user.role != Role.OWNER.value:
        return
    owners, _ = await uow.users.find(PageRequest(0, 2), role=Role.OWNER.value, is_active=True)
    if all(o.id == user.id for o in owners):
        raise Conflict("the business must keep an active owner")


async def update_user(
    uow: UnitOfWork, principal: Principal, user_id: uuid.UUID, changes: UserChanges
) -> StaffMember:
    principal.require(Permission.USERS_MANAGE)
    assert principal.role is not None
    member = await _visible_user(uow, principal, user_id)
    user = member.user
    ensure_can_manage(principal.role, Role(user.role))
    if user.id == principal.user_id and (changes.role is not None or changes.is_active is False):
        raise Conflict("you cannot change your own role or deactivate yourself")
    security_changed = False
    access_changed = False  # what open websockets were authorised by
    if changes.role is not None and changes.role.value != user.role:
        ensure_can_manage(principal.role, changes.role)
        await _ensure_not_last_owner(uow, user)
        user.role = changes.role.value
        if not may_hold_pin(changes.role):
            user.pin_hash = None
        security_changed = access_changed = True
    shops = member.shop_ids
    if changes.shops is not None:
        # A manager edits only their own shops of a user; other shops stay as they are.
        keep = set() if principal.sees_all_shops else set(shops) - principal.shop_ids
        await _check_shops(uow, principal, changes.shops)
        shops = sorted(set(changes.shops) | keep)
    _require_a_shop(Role(user.role), shops)
    if set(shops) != set(member.shop_ids):
        await uow.users.set_shops(user.id, shops)
        security_changed = access_changed = True
    if changes.email is not None:
        user.email = changes.email
    if changes.full_name is not None:
        user.full_name = changes.full_name
    if changes.is_active is not None and changes.is_active != user.is_active:
        if not changes.is_active:
            await _ensure_not_last_owner(uow, user)
            await uow.auth_sessions.revoke_all_of(user.id, utcnow(), "deactivated")
            sessions_ended(uow, user.id)
            user.pin_hash = None  # reactivated, they set a new one
        user.is_active = changes.is_active
        security_changed = True
    if security_changed:
        user.auth_version += 1
    if access_changed and user.is_active:  # a deactivation already ended every session
        tokens_outdated(uow, user.id)
    await uow.commit()
    return StaffMember(user, shops)


async def deactivate_user(uow: UnitOfWork, principal: Principal, user_id: uuid.UUID) -> None:
    """Users are never deleted: their sales and shifts keep pointing at them."""
    await update_user(uow, principal, user_id, UserChanges(is_active=False))


async def set_password(
    deps: Deps, uow: UnitOfWork, principal: Principal, user_id: uuid.UUID, password: str
) -> None:
    """A manager resets a forgotten password; the user's sessions all end, and their PIN
    with them (it was confirmed with the old password: whoever knew that may know it)."""
    principal.require(Permission.USERS_MANAGE)
    assert principal.role is not None
    member = await _visible_user(uow, principal, user_id)
    ensure_can_manage(principal.role, Role(member.user.role))
    check_password(password, username=member.user.username)
    member.user.password_hash = await deps.passwords.hash(password)
    member.user.pin_hash = None
    member.user.auth_version += 1
    await uow.auth_sessions.revoke_all_of(member.user.id, utcnow(), "password_reset")
    sessions_ended(uow, member.user.id)
    await uow.commit()
