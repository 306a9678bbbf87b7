"""The permission matrix: who may do what, who may manage whom, and its generated doc."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from hub.domain import permissions
from hub.domain.permissions import (
    MANAGEABLE_ROLES,
    MATRIX,
    Permission,
    Role,
    can_act_in_shop,
    can_manage_role,
    matrix_markdown,
    role_has,
    sees_all_shops,
)

DOC = Path(__file__).parents[2] / "docs/permissions.md"
START = "<!-- matrix:start -->"
END = "<!-- matrix:end -->"

NEVER_FOR_STOCKKEEPER = (Permission.SALES_SELL, Permission.SALES_RETURN, Permission.SHIFTS_OPERATE)
NEVER_FOR_CASHIER = (Permission.USERS_MANAGE, Permission.TENANT_MANAGE, Permission.STOCK_MANAGE)
OWNER_ONLY = (Permission.TENANT_MANAGE, Permission.SHOPS_CREATE)


@pytest.mark.parametrize("permission", list(Permission))
def test_owner_has_every_permission(permission: Permission) -> None:
    assert role_has(Role.OWNER, permission)


@pytest.mark.parametrize("permission", NEVER_FOR_STOCKKEEPER)
def test_stockkeeper_never_sells_returns_or_operates_shifts(permission: Permission) -> None:
    assert not role_has(Role.STOCKKEEPER, permission)


@pytest.mark.parametrize("permission", NEVER_FOR_CASHIER)
def test_cashier_cannot_manage_users_tenant_or_stock(permission: Permission) -> None:
    assert not role_has(Role.CASHIER, permission)


def test_cashier_can_sell_and_run_own_shift() -> None:
    assert role_has(Role.CASHIER, Permission.SALES_SELL)
    assert role_has(Role.CASHIER, Permission.SHIFTS_OPERATE)


def test_stockkeeper_keeps_stock_and_catalogue() -> None:
    assert role_has(Role.STOCKKEEPER, Permission.STOCK_MANAGE)
    assert role_has(Role.STOCKKEEPER, Permission.CATALOGUE_MANAGE)


@pytest.mark.parametrize("permission", list(Permission))
def test_manager_has_everything_but_tenant_manage_and_shop_creation(
    permission: Permission,
) -> None:
    assert role_has(Role.MANAGER, permission) is (permission not in OWNER_ONLY)


@pytest.mark.parametrize("permission", OWNER_ONLY)
def test_owner_only_permissions_belong_to_owner_alone(permission: Permission) -> None:
    assert MATRIX[permission] == frozenset({Role.OWNER})


def test_role_has_agrees_with_matrix() -> None:
    for permission, roles in MATRIX.items():
        for role in Role:
            assert role_has(role, permission) is (role in roles)


def test_every_permission_has_a_matrix_row_and_nothing_else() -> None:
    assert set(MATRIX) == set(Permission)
    for roles in MATRIX.values():
        assert roles, "a permission nobody has is dead"
        assert roles <= set(Role)


def test_every_permission_has_a_description() -> None:
    descriptions = permissions._DESCRIPTIONS
    assert set(descriptions) == set(Permission)
    for permission in Permission:
        assert descriptions[permission].strip(), permission


def test_permission_values_are_unique_dotted_names() -> None:
    values = [p.value for p in Permission]
    assert len(values) == len(set(values))
    for value in values:
        area, _, action = value.partition(".")
        assert area, value
        assert action, value


def test_manageable_roles_covers_every_role() -> None:
    assert set(MANAGEABLE_ROLES) == set(Role)


def test_owner_manages_everyone_including_co_owners() -> None:
    assert MANAGEABLE_ROLES[Role.OWNER] == frozenset(Role)
    for target in Role:
        assert can_manage_role(Role.OWNER, target)


def test_manager_manages_only_cashiers_and_stockkeepers() -> None:
    assert MANAGEABLE_ROLES[Role.MANAGER] == frozenset({Role.CASHIER, Role.STOCKKEEPER})
    assert can_manage_role(Role.MANAGER, Role.CASHIER)
    assert can_manage_role(Role.MANAGER, Role.STOCKKEEPER)
    assert not can_manage_role(Role.MANAGER, Role.MANAGER)
    assert not can_manage_role(Role.MANAGER, Role.OWNER)


@pytest.mark.parametrize("actor", [Role.CASHIER, Role.STOCKKEEPER])
def test_staff_manage_nobody(actor: Role) -> None:
    assert MANAGEABLE_ROLES[actor] == frozenset()
    for target in Role:
        assert not can_manage_role(actor, target)


def test_roles_that_manage_someone_have_users_manage() -> None:
    for role, targets in MANAGEABLE_ROLES.items():
        assert bool(targets) is role_has(role, Permission.USERS_MANAGE), role


def test_only_owner_sees_all_shops() -> None:
    assert sees_all_shops(Role.OWNER)
    for role in (Role.MANAGER, Role.CASHIER, Role.STOCKKEEPER):
        assert not sees_all_shops(role)


def test_can_act_in_shop_is_scoped_for_everyone_but_owner() -> None:
    mine, other = uuid.uuid4(), uuid.uuid4()
    assert can_act_in_shop(Role.OWNER, [], other)
    for role in (Role.MANAGER, Role.CASHIER, Role.STOCKKEEPER):
        assert can_act_in_shop(role, [mine], mine)
        assert not can_act_in_shop(role, [mine], other)
        assert not can_act_in_shop(role, [], mine)


def test_can_act_in_shop_accepts_a_generator() -> None:
    mine = uuid.uuid4()
    assert can_act_in_shop(Role.MANAGER, (s for s in [mine]), mine)


def test_matrix_markdown_shape() -> None:
    text = matrix_markdown()
    lines = text.splitlines()
    roles = [r.value for r in Role]
    assert lines[0] == "| permission | meaning | " + " | ".join(roles) + " |"
    assert lines[1] == "|---|---|" + "---|" * len(roles)
    rows = lines[2 : 2 + len(Permission)]
    for permission, row in zip(Permission, rows, strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == f"`{permission.value}`"
        assert cells[1] == permissions._DESCRIPTIONS[permission]
        marks = cells[2:]
        assert len(marks) == len(roles)
        for role, mark in zip(Role, marks, strict=True):
            assert mark == ("yes" if role_has(role, permission) else "—")
    assert "- **manager**: cashier, stockkeeper" in lines
    assert "- **cashier**: none" in lines
    assert "- **owner**: " + ", ".join(roles) in lines
    assert text.endswith("\n")


def test_docs_permissions_md_contains_the_generated_matrix() -> None:
    assert DOC.is_file(), f"{DOC} is missing; generate it with `pos-hub permissions`"
    text = DOC.read_text(encoding="utf-8")
    assert text.count(START) == 1
    assert text.count(END) == 1
    start = text.index(START) + len(START)
    end = text.index(END)
    assert start < end
    between = text[start:end]
    assert between.strip("\n") == matrix_markdown().strip("\n"), (
        "docs/permissions.md is out of date; regenerate it with `pos-hub permissions`"
    )
