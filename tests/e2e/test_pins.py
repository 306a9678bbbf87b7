"""A manager's own PIN: `PUT /api/users/auth/pin/`, confirmed with the password; only
roles that may approve returns hold one; stored as an argon2 hash."""

from __future__ import annotations

import uuid

import httpx
import pytest

from hub.adapters.db.uow import UnitOfWork
from tests.helpers import PASSWORD, build_tenant, set_pin

ME = "/api/users/auth/me/"


async def stored_pin_hash(client: httpx.AsyncClient, tenant_id: str, user_id: str) -> str | None:
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    async with UnitOfWork(db, uuid.UUID(tenant_id)) as uow:
        user = await uow.users.get(uuid.UUID(user_id))
        assert user is not None
        return user.pin_hash


async def test_set_change_and_clear_a_pin(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    manager = kit.token("manager")
    assert (await client.get(ME, headers=manager)).json()["has_pin"] is False
    done = await set_pin(client, manager, "258013")
    assert (done.status_code, done.json()) == (200, {"has_pin": True})
    assert (await client.get(ME, headers=manager)).json()["has_pin"] is True
    stored = await stored_pin_hash(client, kit.tenant_id, kit.members["manager"].id)
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert "258013" not in stored
    # Changing it hashes anew; a wrong password changes nothing.
    assert (await set_pin(client, manager, "7391")).status_code == 200
    changed = await stored_pin_hash(client, kit.tenant_id, kit.members["manager"].id)
    assert changed not in (None, stored)
    wrong = await set_pin(client, manager, None, password="not-my-password")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["fields"] == {"password": "does not match"}
    assert await stored_pin_hash(client, kit.tenant_id, kit.members["manager"].id) == changed
    # Clearing, twice over, is fine.
    for _ in range(2):
        cleared = await set_pin(client, manager, None)
        assert cleared.json() == {"has_pin": False}
    assert await stored_pin_hash(client, kit.tenant_id, kit.members["manager"].id) is None
    assert (await client.get(ME, headers=kit.token("owner"))).json()["has_pin"] is False


@pytest.mark.parametrize(
    ("pin", "problem"),
    [
        ("123", "4 to 8 digits"),
        ("123456789", "4 to 8 digits"),
        ("12a4", "4 to 8 digits"),
        (" 2580", "4 to 8 digits"),
        ("\uff12\uff15\uff18\uff10", "4 to 8 digits"),  # fullwidth digits
        ("\u0662\u0665\u0668\u0660", "4 to 8 digits"),  # Arabic-Indic digits
        ("", "4 to 8 digits"),
        ("0000", "not one digit repeated or a run like 1234"),
        ("1234", "not one digit repeated or a run like 1234"),
        ("98765", "not one digit repeated or a run like 1234"),
    ],
)
async def test_pins_that_are_refused(client: httpx.AsyncClient, pin: str, problem: str) -> None:
    kit = await build_tenant(client)
    refused = await set_pin(client, kit.token("owner"), pin)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == {
        "code": "validation_error",
        "message": refused.json()["error"]["message"],
        "fields": {"pin": problem},
    }
    assert pin not in refused.json()["error"]["message"] or not pin
    assert await stored_pin_hash(client, kit.tenant_id, kit.members["owner"].id) is None


async def test_only_roles_that_approve_returns_hold_a_pin(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    for role in ("cashier", "stockkeeper"):
        refused = await set_pin(client, kit.token(role), "2580")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"
        assert "sales.return" in refused.json()["error"]["message"]
        assert (await client.get(ME, headers=kit.token(role))).json()["has_pin"] is False
    device = await client.put(
        "/api/users/auth/pin/",
        json={"password": PASSWORD, "pin": "2580"},
        headers={"Authorization": f"Bearer {kit.device_token}"},
    )
    assert device.status_code == 403


async def test_changing_ones_own_password_keeps_the_pin(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    await set_pin(client, kit.token("owner"), "2580")
    changed = await client.post(
        "/api/users/auth/change-password/",
        json={"old_password": PASSWORD, "new_password": "another-pass-42"},
        headers=kit.token("owner"),
    )
    assert changed.status_code == 200, changed.text
    fresh = {"Authorization": f"Bearer {changed.json()['access']}"}
    assert (await client.get(ME, headers=fresh)).json()["has_pin"] is True
    # ...and the PIN is now confirmed with the new password.
    assert (await set_pin(client, fresh, None)).status_code == 400
    assert (await set_pin(client, fresh, None, password="another-pass-42")).status_code == 200


@pytest.mark.parametrize("settings", [{"login_max_failures": 2}], indirect=True)
async def test_wrong_passwords_count_towards_the_login_throttle(
    client: httpx.AsyncClient,
) -> None:
    kit = await build_tenant(client)
    for _ in range(2):
        wrong = await set_pin(client, kit.token("manager"), "2580", password="guess-guess-1")
        assert wrong.status_code == 400
    locked = await set_pin(client, kit.token("manager"), "2580")
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert int(locked.headers["retry-after"]) > 0
    login = await client.post(
        "/api/users/auth/login/",
        json={"username": kit.members["manager"].username, "password": PASSWORD},
    )
    assert login.status_code == 429
    assert await stored_pin_hash(client, kit.tenant_id, kit.members["manager"].id) is None
