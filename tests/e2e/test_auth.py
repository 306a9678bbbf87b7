"""Register, login, refresh rotation, logout, password change, throttling, expiry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hub.adapters.security.tokens import AccessTokens
from tests import services
from tests.conftest import TEST_SECRET
from tests.helpers import PASSWORD, bearer, build_tenant, login, register, unique

store = services.stores_with_clusters()

ME = "/api/users/auth/me/"


async def test_register_returns_appendix_fields(client: httpx.AsyncClient) -> None:
    data = await register(client, tenant_name="Corner Shop", shop_name="Corner #1")
    assert {"access", "refresh", "tenant", "user", "shop"} <= data.keys()
    assert data["tenant"]["name"] == "Corner Shop"
    assert data["shop"]["name"] == "Corner #1"
    assert data["user"]["role"] == "owner"
    assert data["user"]["shops"] == [data["shop"]["id"]]
    me = await client.get(ME, headers=bearer(data["access"]))
    assert me.status_code == 200
    assert me.json()["tenant"] == data["tenant"]["id"]
    assert "users.manage" in me.json()["permissions"]


async def shop_zones(client: httpx.AsyncClient, data: dict[str, Any]) -> tuple[str, str, str]:
    """The business's zone, its first shop's, and that of a shop opened after."""
    owner = bearer(data["access"])
    tenant = await client.get("/api/core/tenant/", headers=owner)
    first = await client.get(f"/api/core/shops/{data['shop']['id']}/", headers=owner)
    later = await client.post("/api/core/shops/", json={"name": "Later"}, headers=owner)
    assert later.status_code == 201, later.text
    return tenant.json()["settings"]["timezone"], first.json()["timezone"], later.json()["timezone"]


async def test_register_puts_the_business_and_its_shops_in_one_zone(
    client: httpx.AsyncClient,
) -> None:
    # Unsaid, the default zone; the first shop no longer keeps UTC days beside it.
    assert await shop_zones(client, await register(client)) == ("Europe/Moscow",) * 3
    far_east = await register(client, timezone="Asia/Vladivostok")
    assert await shop_zones(client, far_east) == ("Asia/Vladivostok",) * 3
    bad = await client.post(
        "/api/users/auth/register/",
        json={
            "tenant_name": "X",
            "username": unique("u"),
            "password": PASSWORD,
            "shop_name": "Y",
            "timezone": "Mars/Olympus",
        },
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "validation_error")
    assert bad.json()["error"]["fields"] == {"timezone": "IANA name, e.g. Europe/Moscow"}


async def test_register_refuses_taken_username_case_insensitively(
    client: httpx.AsyncClient,
) -> None:
    first = await register(client)
    again = await client.post(
        "/api/users/auth/register/",
        json={
            "tenant_name": "X",
            "username": first["user"]["username"].upper(),
            "password": PASSWORD,
            "shop_name": "Y",
        },
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "username_taken"
    assert again.json()["error"]["fields"] == {"username": "already taken"}


async def test_register_refuses_weak_password(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/users/auth/register/",
        json={
            "tenant_name": "X",
            "username": unique("u"),
            "password": "12345678",
            "shop_name": "Y",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "password" in response.json()["error"]["fields"]


async def test_login_returns_tokens_with_claims(client: httpx.AsyncClient) -> None:
    reg = await register(client)
    tokens = await login(client, reg["user"]["username"])
    assert tokens["access"]
    assert tokens["refresh"].startswith("rt_")
    claims = AccessTokens(TEST_SECRET, 60).decode(tokens["access"])
    assert str(claims.tenant_id) == reg["tenant"]["id"]
    assert str(claims.user_id) == reg["user"]["id"]
    assert claims.role == "owner"
    assert [str(s) for s in claims.shops] == [reg["shop"]["id"]]


async def test_login_is_case_insensitive_and_refuses_wrong_password(
    client: httpx.AsyncClient,
) -> None:
    reg = await register(client)
    ok = await client.post(
        "/api/users/auth/login/",
        json={"username": reg["user"]["username"].upper(), "password": PASSWORD},
    )
    assert ok.status_code == 200
    bad = await client.post(
        "/api/users/auth/login/",
        json={"username": reg["user"]["username"], "password": "nope-nope"},
    )
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "invalid_credentials"
    unknown = await client.post(
        "/api/users/auth/login/", json={"username": unique("ghost"), "password": "nope-nope"}
    )
    assert unknown.status_code == 401
    assert unknown.json()["error"]["code"] == "invalid_credentials"


async def test_refresh_rotates_and_spent_token_revokes_the_session(
    client: httpx.AsyncClient,
) -> None:
    reg = await register(client)
    first = await client.post("/api/users/auth/refresh/", json={"refresh": reg["refresh"]})
    assert first.status_code == 200
    pair = first.json()
    assert pair["refresh"] != reg["refresh"]
    assert (await client.get(ME, headers=bearer(pair["access"]))).status_code == 200

    # The old refresh token was spent: presenting it again is refused...
    replay = await client.post("/api/users/auth/refresh/", json={"refresh": reg["refresh"]})
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "token_revoked"
    # ...and, since only a thief replays, the whole session is gone with it.
    after = await client.post("/api/users/auth/refresh/", json={"refresh": pair["refresh"]})
    assert after.status_code == 401
    assert (await client.get(ME, headers=bearer(pair["access"]))).status_code == 401


async def test_refresh_with_unknown_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/users/auth/refresh/", json={"refresh": "rt_nonsense"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


async def test_logout_ends_access_and_refresh(client: httpx.AsyncClient) -> None:
    reg = await register(client)
    other = await login(client, reg["user"]["username"])
    out = await client.post("/api/users/auth/logout/", headers=bearer(reg["access"]))
    assert out.status_code == 204
    gone = await client.get(ME, headers=bearer(reg["access"]))
    assert gone.status_code == 401
    assert gone.json()["error"]["code"] == "token_revoked"
    refused = await client.post("/api/users/auth/refresh/", json={"refresh": reg["refresh"]})
    assert refused.status_code == 401
    # Another session of the same user is untouched.
    assert (await client.get(ME, headers=bearer(other["access"]))).status_code == 200
    # Logout by refresh token, for a client whose access token is already gone.
    out2 = await client.post("/api/users/auth/logout/", json={"refresh": other["refresh"]})
    assert out2.status_code == 204
    assert (await client.get(ME, headers=bearer(other["access"]))).status_code == 401


async def test_expired_and_forged_access_tokens_are_refused(client: httpx.AsyncClient) -> None:
    reg = await register(client)
    claims = AccessTokens(TEST_SECRET, 60).decode(reg["access"])
    past = datetime.now(UTC) - timedelta(hours=1)
    expired, _ = AccessTokens(TEST_SECRET, 60).issue(
        user_id=claims.user_id,
        tenant_id=claims.tenant_id,
        role="owner",
        shops=list(claims.shops),
        session_id=claims.session_id,
        auth_version=claims.auth_version,
        now=past,
    )
    response = await client.get(ME, headers=bearer(expired))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"

    forged, _ = AccessTokens("another-secret-" + "y" * 40, 60).issue(
        user_id=claims.user_id,
        tenant_id=claims.tenant_id,
        role="owner",
        shops=[],
        session_id=claims.session_id,
        auth_version=claims.auth_version,
    )
    response = await client.get(ME, headers=bearer(forged))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"

    # A validly signed token naming another tenant finds no session there.
    crossed, _ = AccessTokens(TEST_SECRET, 60).issue(
        user_id=claims.user_id,
        tenant_id=uuid.uuid4(),
        role="owner",
        shops=[],
        session_id=claims.session_id,
        auth_version=claims.auth_version,
    )
    assert (await client.get(ME, headers=bearer(crossed))).status_code in (401, 404)

    missing = await client.get(ME)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "not_authenticated"
    assert missing.headers["www-authenticate"].startswith("Bearer")


async def test_change_password(client: httpx.AsyncClient) -> None:
    reg = await register(client)
    username = reg["user"]["username"]
    elsewhere = await login(client, username)
    wrong = await client.post(
        "/api/users/auth/change-password/",
        json={"old_password": "not-it-at-all", "new_password": "brand-new-pass-1"},
        headers=bearer(reg["access"]),
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"]["fields"] == {"old_password": "does not match"}

    changed = await client.post(
        "/api/users/auth/change-password/",
        json={"old_password": PASSWORD, "new_password": "brand-new-pass-1"},
        headers=bearer(reg["access"]),
    )
    assert changed.status_code == 200
    fresh = changed.json()
    assert (await client.get(ME, headers=bearer(fresh["access"]))).status_code == 200
    # The token it replaced is stale, and every other session has ended.
    assert (await client.get(ME, headers=bearer(reg["access"]))).status_code == 401
    assert (await client.get(ME, headers=bearer(elsewhere["access"]))).status_code == 401
    refused = await client.post("/api/users/auth/refresh/", json={"refresh": elsewhere["refresh"]})
    assert refused.status_code == 401
    old = await client.post(
        "/api/users/auth/login/", json={"username": username, "password": PASSWORD}
    )
    assert old.status_code == 401
    await login(client, username, "brand-new-pass-1")


@pytest.mark.parametrize("settings", [{"login_max_failures": 3}], indirect=True)
async def test_login_throttling(client: httpx.AsyncClient) -> None:
    reg = await register(client)
    username = reg["user"]["username"]
    for _ in range(3):
        bad = await client.post(
            "/api/users/auth/login/", json={"username": username, "password": "guess-guess"}
        )
        assert bad.status_code == 401
    # Locked now: even the right password is refused until the window passes.
    locked = await client.post(
        "/api/users/auth/login/", json={"username": username, "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert int(locked.headers["retry-after"]) > 0
    # Other users are not locked out by it.
    other = await register(client)
    await login(client, other["user"]["username"])


async def test_role_change_makes_old_token_stale_and_refresh_picks_it_up(
    client: httpx.AsyncClient,
) -> None:
    kit = await build_tenant(client)
    cashier = kit.members["cashier"]
    promoted = await client.patch(
        f"/api/users/users/{cashier.id}/", json={"role": "stockkeeper"}, headers=kit.token("owner")
    )
    assert promoted.status_code == 200
    stale = await client.get(ME, headers=bearer(cashier.token))
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "token_expired"
    renewed = await client.post("/api/users/auth/refresh/", json={"refresh": cashier.refresh})
    assert renewed.status_code == 200
    me = await client.get(ME, headers=bearer(renewed.json()["access"]))
    assert me.json()["role"] == "stockkeeper"


async def test_deactivated_user_is_locked_out(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    cashier = kit.members["cashier"]
    gone = await client.delete(f"/api/users/users/{cashier.id}/", headers=kit.token("manager"))
    assert gone.status_code == 204
    assert (await client.get(ME, headers=bearer(cashier.token))).status_code == 401
    refused = await client.post("/api/users/auth/refresh/", json={"refresh": cashier.refresh})
    assert refused.status_code == 401
    again = await client.post(
        "/api/users/auth/login/", json={"username": cashier.username, "password": PASSWORD}
    )
    assert again.status_code == 401


async def test_device_token_identifies_the_device_and_is_revocable(
    client: httpx.AsyncClient,
) -> None:
    kit = await build_tenant(client)
    me = await client.get(ME, headers=bearer(kit.device_token))
    assert me.status_code == 200
    assert me.json() == {
        "kind": "device",
        "tenant": kit.tenant_id,
        "shops": [kit.shop_id],
        "user": None,
        "username": None,
        "role": None,
        "permissions": [],
        "has_pin": None,
        "device": kit.device_id,
    }
    # A device token opens no staff endpoint.
    users = await client.get("/api/users/users/", headers=bearer(kit.device_token))
    assert users.status_code == 403
    listed = await client.get("/api/users/device-tokens/", headers=kit.token("owner"))
    assert listed.json()["results"][0]["last_used_at"] is not None
    revoked = await client.delete(
        f"/api/users/device-tokens/{kit.device_id}/", headers=kit.token("manager")
    )
    assert revoked.status_code == 204
    refused = await client.get(ME, headers=bearer(kit.device_token))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_revoked"
    assert (await client.get("/api/users/device-tokens/", headers=kit.token("owner"))).json()[
        "count"
    ] == 0
    with_revoked = await client.get(
        "/api/users/device-tokens/?include_revoked=true", headers=kit.token("owner")
    )
    assert with_revoked.json()["results"][0]["revoked_at"] is not None
    unknown = await client.get(ME, headers=bearer("dt_unknown"))
    assert unknown.status_code == 401


async def _stores(client: httpx.AsyncClient) -> set[str]:
    """Every tenant store there is: schemas on each PostgreSQL cluster, or files."""
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    if db.is_sqlite:
        return {path.name for path in db.tenants_dir.glob("*.db")}
    found: set[str] = set()
    for name, engine in db.cluster_engines.items():
        async with engine.connect() as conn:
            rows = await conn.exec_driver_sql(
                "SELECT schema_name FROM information_schema.schemata"
                " WHERE schema_name LIKE 'tenant\\_%'"
            )
            found |= {f"{name}:{row[0]}" for row in rows}
    return found


async def test_a_registration_failing_part_way_leaves_no_login_and_no_store(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With several clusters the store is committed first and the login after, on the
    # main cluster: the failure comes between the two.
    from hub.services import auth

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the main cluster went away")

    before = await _stores(client)
    monkeypatch.setattr(auth, "_open_session", broken)
    username = unique("owner")
    body = {"tenant_name": "T", "username": username, "password": PASSWORD, "shop_name": "S"}
    failed = await client.post("/api/users/auth/register/", json=body)
    assert failed.status_code == 500
    assert await _stores(client) == before
    monkeypatch.undo()
    # Nothing holds the username: registering again succeeds.
    again = await client.post("/api/users/auth/register/", json=body)
    assert again.status_code == 201, again.text
    assert len(await _stores(client) - before) == 1


async def test_a_store_left_behind_by_a_failed_registration_leads_to_no_login(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the process died between the store's commit and the login's: the store
    # stays (on another cluster; elsewhere both are one transaction), no login leads
    # to it, and the username is free.
    from hub.adapters.db.database import Database
    from hub.services import auth

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("gone")

    db = client.app.state.deps.db  # type: ignore[attr-defined]
    before = await _stores(client)
    monkeypatch.setattr(auth, "_open_session", broken)
    monkeypatch.setattr(Database, "drop_tenant_store", broken)
    username = unique("owner")
    body = {"tenant_name": "T", "username": username, "password": PASSWORD, "shop_name": "S"}
    assert (await client.post("/api/users/auth/register/", json=body)).status_code == 500
    assert len(await _stores(client) - before) == (1 if db.clustered else 0)
    monkeypatch.undo()
    tenants = await client.get(
        "/api/core/tenant/", headers=bearer((await register(client))["access"])
    )
    assert tenants.status_code == 200
    assert (await client.post("/api/users/auth/register/", json=body)).status_code == 201
    denied = await client.post(
        "/api/users/auth/login/", json={"username": unique("nobody"), "password": PASSWORD}
    )
    assert denied.status_code == 401
