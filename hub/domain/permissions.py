"""Roles and the permission matrix: the one place that says who may do what.

`docs/permissions.md` is generated from this module (`pos-hub permissions`), and a test
keeps the two equal. Shop scoping (a manager acts only in their own shops) is applied on
top of the matrix by `can_act_in_shop`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    CASHIER = "cashier"
    STOCKKEEPER = "stockkeeper"


class Permission(StrEnum):
    TENANT_VIEW = "tenant.view"
    TENANT_MANAGE = "tenant.manage"
    SHOPS_VIEW = "shops.view"
    SHOPS_CREATE = "shops.create"
    SHOPS_UPDATE = "shops.update"
    USERS_VIEW = "users.view"
    USERS_MANAGE = "users.manage"
    DEVICES_MANAGE = "devices.manage"
    CATALOGUE_VIEW = "catalogue.view"
    CATALOGUE_MANAGE = "catalogue.manage"
    STOCK_VIEW = "stock.view"
    STOCK_MANAGE = "stock.manage"
    REGISTERS_MANAGE = "registers.manage"
    SHIFTS_OPERATE = "shifts.operate"
    SHIFTS_MANAGE = "shifts.manage"
    SALES_SELL = "sales.sell"
    SALES_RETURN = "sales.return"
    SALES_VIEW = "sales.view"
    CUSTOMERS_VIEW = "customers.view"
    CUSTOMERS_CREATE = "customers.create"
    CUSTOMERS_CREDIT = "customers.credit"
    REPORTS_VIEW = "reports.view"
    LIVE_WATCH = "live.watch"
    TASKS_VIEW = "tasks.view"
    TASKS_MANAGE = "tasks.manage"


_EVERYONE = frozenset(Role)
_MANAGEMENT = frozenset({Role.OWNER, Role.MANAGER})

# Why each row: cashiers sell and run their own shift; stockkeepers keep goods and stock
# and never sell; managers do everything in their shops except tenant settings and
# creating shops; owners do everything.
MATRIX: dict[Permission, frozenset[Role]] = {
    Permission.TENANT_VIEW: _EVERYONE,
    Permission.TENANT_MANAGE: frozenset({Role.OWNER}),
    Permission.SHOPS_VIEW: _EVERYONE,
    Permission.SHOPS_CREATE: frozenset({Role.OWNER}),
    Permission.SHOPS_UPDATE: _MANAGEMENT,
    Permission.USERS_VIEW: _MANAGEMENT,
    Permission.USERS_MANAGE: _MANAGEMENT,
    Permission.DEVICES_MANAGE: _MANAGEMENT,
    Permission.CATALOGUE_VIEW: _EVERYONE,
    Permission.CATALOGUE_MANAGE: frozenset({Role.OWNER, Role.MANAGER, Role.STOCKKEEPER}),
    Permission.STOCK_VIEW: _EVERYONE,
    Permission.STOCK_MANAGE: frozenset({Role.OWNER, Role.MANAGER, Role.STOCKKEEPER}),
    Permission.REGISTERS_MANAGE: _MANAGEMENT,
    Permission.SHIFTS_OPERATE: frozenset({Role.OWNER, Role.MANAGER, Role.CASHIER}),
    Permission.SHIFTS_MANAGE: _MANAGEMENT,
    Permission.SALES_SELL: frozenset({Role.OWNER, Role.MANAGER, Role.CASHIER}),
    Permission.SALES_RETURN: _MANAGEMENT,
    Permission.SALES_VIEW: frozenset({Role.OWNER, Role.MANAGER, Role.CASHIER}),
    Permission.CUSTOMERS_VIEW: frozenset({Role.OWNER, Role.MANAGER, Role.CASHIER}),
    Permission.CUSTOMERS_CREATE: frozenset({Role.OWNER, Role.MANAGER, Role.CASHIER}),
    Permission.CUSTOMERS_CREDIT: _MANAGEMENT,
    Permission.REPORTS_VIEW: _MANAGEMENT,
    Permission.LIVE_WATCH: _MANAGEMENT,
    Permission.TASKS_VIEW: _EVERYONE,
    Permission.TASKS_MANAGE: _MANAGEMENT,
}

# Which roles a role may create, edit or deactivate. Managers never touch owners or
# other managers; owners manage everyone, co-owners included.
MANAGEABLE_ROLES: dict[Role, frozenset[Role]] = {
    Role.OWNER: frozenset(Role),
    Role.MANAGER: frozenset({Role.CASHIER, Role.STOCKKEEPER}),
    Role.CASHIER: frozenset(),
    Role.STOCKKEEPER: frozenset(),
}

_DESCRIPTIONS: dict[Permission, str] = {
    Permission.TENANT_VIEW: "read the business's name and settings",
    Permission.TENANT_MANAGE: "change tenant settings",
    Permission.SHOPS_VIEW: "list and read shops (own shops unless owner)",
    Permission.SHOPS_CREATE: "open a new shop",
    Permission.SHOPS_UPDATE: "edit a shop's details (own shops unless owner)",
    Permission.USERS_VIEW: "list and read staff accounts",
    Permission.USERS_MANAGE: "create, edit, deactivate staff and reset their passwords",
    Permission.DEVICES_MANAGE: (
        "issue, list and revoke edge-agent device tokens; watch and retry their jobs"
    ),
    Permission.CATALOGUE_VIEW: "look up products, categories, barcodes",
    Permission.CATALOGUE_MANAGE: "create and edit products, categories, suppliers",
    Permission.STOCK_VIEW: "read stock levels",
    Permission.STOCK_MANAGE: "receive goods, adjust, write off, transfer",
    Permission.REGISTERS_MANAGE: "create and edit cash registers",
    Permission.SHIFTS_OPERATE: "open and close one's own shift, cash in/out",
    Permission.SHIFTS_MANAGE: "close any shift, see every shift",
    Permission.SALES_SELL: "build carts and take payments",
    Permission.SALES_RETURN: "process returns (cashiers need a manager's PIN)",
    Permission.SALES_VIEW: "read sales history",
    Permission.CUSTOMERS_VIEW: "find customers and see their balance",
    Permission.CUSTOMERS_CREATE: "register and edit customers, take top-ups and repayments",
    Permission.CUSTOMERS_CREDIT: (
        "credit limits, customer groups, deactivating customers, paying balances back out"
    ),
    Permission.REPORTS_VIEW: "analytics and exports",
    Permission.LIVE_WATCH: "watch a shop's live sales feed and every till's cart",
    Permission.TASKS_VIEW: "see and work on one's tasks",
    Permission.TASKS_MANAGE: "create, assign and review tasks",
}


def role_has(role: Role, permission: Permission) -> bool:
    return role in MATRIX[permission]


def can_manage_role(actor: Role, target: Role) -> bool:
    return target in MANAGEABLE_ROLES[actor]


def sees_all_shops(role: Role) -> bool:
    return role is Role.OWNER


def can_act_in_shop(role: Role, own_shops: Iterable[object], shop_id: object) -> bool:
    return sees_all_shops(role) or shop_id in set(own_shops)


def matrix_markdown() -> str:
    """The matrix as the Markdown table in docs/permissions.md."""
    roles = list(Role)
    lines = [
        "| permission | meaning | " + " | ".join(r.value for r in roles) + " |",
        "|---|---|" + "---|" * len(roles),
    ]
    for permission in Permission:
        marks = " | ".join("yes" if role_has(r, permission) else "—" for r in roles)
        lines.append(f"| `{permission.value}` | {_DESCRIPTIONS[permission]} | {marks} |")
    lines.append("")
    lines.append("Roles each role may create, edit and deactivate:")
    lines.append("")
    for role in roles:
        targets = ", ".join(r.value for r in roles if can_manage_role(role, r)) or "none"
        lines.append(f"- **{role.value}**: {targets}")
    return "\n".join(lines) + "\n"
