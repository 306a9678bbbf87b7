"""Managers' PINs. An owner or manager sets a short PIN, confirmed with their password;
typed at a till, it approves what the cashier's role may not do alone (today: returns).

A PIN is hashed with the password hasher (argon2id) and never logged, stored in clear or
put into an idempotency digest. Wrong PINs are throttled per user who types them, and per
manager when one is named, in the login throttle's window. A PIN approves only while its
holder is active, of a role that may approve, and works in the shop; deactivating a user,
resetting their password or moving them to such a role clears it (`hub/services/users.py`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from hub.adapters.db.tables import User
from hub.adapters.db.uow import UnitOfWork
from hub.domain.accounts import InvalidPin, check_pin, check_pin_shape, may_hold_pin
from hub.domain.errors import (
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    Throttled,
    ValidationFailed,
)
from hub.domain.permissions import Role, sees_all_shops
from hub.services.auth import ClientInfo, confirm_password
from hub.services.deps import Deps
from hub.services.principal import Principal

# Without a named manager a PIN is tried against everyone who may approve in the shop;
# each try is an argon2 verification, so there are at most this many.
MAX_CANDIDATES = 8

_APPROVER_ROLES = [r.value for r in Role if may_hold_pin(r)]
_EVERY_SHOP_ROLES = [r.value for r in Role if sees_all_shops(r)]


@dataclass(frozen=True)
class PinApproval:
    """A manager's PIN typed at a till, and optionally whose it is."""

    pin: str = field(repr=False)
    manager_id: uuid.UUID | None = None


async def set_pin(
    deps: Deps,
    uow: UnitOfWork,
    principal: Principal,
    password: str,
    pin: str | None,
    client: ClientInfo,
) -> bool:
    """Set (or, with None, clear) one's own PIN, confirmed with one's password. Returns
    whether a PIN is set now."""
    if principal.user_id is None or principal.role is None:
        raise AuthenticationFailed("only staff users have PINs")
    if pin is not None:
        if not may_hold_pin(principal.role):
            raise PermissionDenied(
                "only roles that may approve returns (sales.return) hold a PIN",
                fields={"pin": f"a {principal.role.value} holds no PIN"},
            )
        check_pin(pin)
    user = await uow.users.get(principal.user_id, for_update=True)
    assert user is not None
    await confirm_password(deps, user, password, client, field="password")
    user.pin_hash = None if pin is None else await deps.passwords.hash(pin)
    await uow.commit()
    return user.pin_hash is not None


def _throttle_keys(principal: Principal, approval: PinApproval) -> list[str]:
    keys = [f"pin:user:{principal.user_id or principal.device_id}"]
    if approval.manager_id is not None:
        keys.append(f"pin:manager:{approval.manager_id}")
    return keys


async def _may_approve_in(uow: UnitOfWork, user: User, shop_id: uuid.UUID) -> bool:
    if not user.is_active or user.pin_hash is None or user.role not in _APPROVER_ROLES:
        return False
    return (
        user.role in _EVERY_SHOP_ROLES or shop_id in (await uow.users.shops_of([user.id]))[user.id]
    )


async def _candidates(uow: UnitOfWork, shop_id: uuid.UUID, approval: PinApproval) -> list[User]:
    if approval.manager_id is not None:
        named = await uow.users.get(approval.manager_id)
        if named is None:
            raise NotFound("no such user", fields={"manager": "no such user"})
        return [named] if await _may_approve_in(uow, named, shop_id) else []
    found = await uow.users.pin_holders(
        shop_id, roles=_APPROVER_ROLES, everywhere=_EVERY_SHOP_ROLES, limit=MAX_CANDIDATES + 1
    )
    if len(found) > MAX_CANDIDATES:
        raise ValidationFailed(
            "name the approving manager",
            fields={"manager": f"more than {MAX_CANDIDATES} people may approve in this shop"},
        )
    return found


async def approve(
    deps: Deps,
    uow: UnitOfWork,
    principal: Principal,
    shop_id: uuid.UUID,
    approval: PinApproval,
) -> uuid.UUID:
    """The id of the active owner or manager working in `shop_id` whose PIN this is: the
    one named, or else the one among the shop's managers and owners. `InvalidPin`
    otherwise (counted towards the throttle), `Throttled` after too many."""
    check_pin_shape(approval.pin, field="manager_pin")
    keys = _throttle_keys(principal, approval)
    settings = deps.settings
    # Fails closed, as login does: a limiter outage propagates (503), PINs are short.
    for key in keys:
        window = await deps.limiter.peek(key)
        if window.count >= settings.pin_max_failures:
            raise Throttled("too many wrong PINs; try again later", retry_after=window.retry_after)
    candidates = await _candidates(uow, shop_id, approval)
    matches = []
    for candidate in candidates:
        if await deps.passwords.verify(candidate.pin_hash, approval.pin):
            matches.append(candidate.id)
    if not candidates:
        await deps.passwords.verify(None, approval.pin)  # as long as a wrong PIN takes
    if not matches:
        for key in keys:
            await deps.limiter.hit(key, settings.login_lockout_seconds)
        raise InvalidPin()
    if len(matches) > 1:
        raise ValidationFailed(
            "name the approving manager",
            fields={"manager": "more than one manager of this shop has this PIN"},
        )
    await deps.limiter.reset(keys[0])
    return matches[0]
