"""A demo business for trying the hub: an owner, a manager, a cashier, a stockkeeper."""

from __future__ import annotations

from dataclasses import dataclass

from hub.adapters.db.uow import SharedUnitOfWork, UnitOfWork
from hub.domain.accounts import normalise_username
from hub.domain.permissions import Role
from hub.services import auth, users
from hub.services.deps import Deps
from hub.services.principal import Principal

TENANT_NAME = "Demo Shop Ltd"
SHOP_NAME = "Demo Shop"
PASSWORD = "demo-pass-2026"
LOGINS = [
    ("demo.owner", Role.OWNER),
    ("demo.manager", Role.MANAGER),
    ("demo.cashier", Role.CASHIER),
    ("demo.stockkeeper", Role.STOCKKEEPER),
]


@dataclass(frozen=True)
class Demo:
    tenant_name: str
    shop_name: str
    password: str
    logins: list[tuple[str, str]]
    created: bool


async def ensure_demo(deps: Deps) -> Demo:
    """Create the demo business unless its owner exists; idempotent."""
    logins = [(name, role.value) for name, role in LOGINS]
    async with SharedUnitOfWork(deps.db) as shared:
        exists = await shared.logins.username_taken(normalise_username(LOGINS[0][0]))
    if exists:
        return Demo(TENANT_NAME, SHOP_NAME, PASSWORD, logins, created=False)
    registered = await auth.register(
        deps,
        auth.Registration(
            tenant_name=TENANT_NAME,
            username=LOGINS[0][0],
            password=PASSWORD,
            shop_name=SHOP_NAME,
            email="owner@demo.example",
        ),
        auth.ClientInfo(),
    )
    owner = Principal(
        tenant_id=registered.tenant.id,
        shop_ids=frozenset({registered.shop.id}),
        user_id=registered.user.id,
        role=Role.OWNER,
    )
    for username, role in LOGINS[1:]:
        async with UnitOfWork(deps.db, registered.tenant.id, write=True) as uow:
            await users.create_user(
                deps,
                uow,
                owner,
                users.NewUser(
                    username=username, password=PASSWORD, role=role, shops=[registered.shop.id]
                ),
            )
    return Demo(TENANT_NAME, SHOP_NAME, PASSWORD, logins, created=True)
