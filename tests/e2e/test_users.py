"""Staff accounts: who may create and change whom, shop binding, pagination."""

from __future__ import annotations

import httpx

from tests.helpers import PASSWORD, bearer, build_tenant, create_user, login, unique


async def test_staff_create_and_login_with_appendix_fields(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    created = await client.post(
        "/api/users/users/",
        json={
            "username": unique("anna"),
            "password": PASSWORD,
            "role": "cashier",
            "shops": [kit.shop_id],
            "email": "anna@example.com",
            "full_name": "Anna K",
        },
        headers=kit.token("owner"),
    )
    assert created.status_code == 201
    body = created.json()
    assert body["role"] == "cashier"
    assert body["shops"] == [kit.shop_id]
    assert body["is_active"] is True
    assert "password" not in body
    assert "password_hash" not in body
    tokens = await login(client, body["username"])
    assert tokens["user"]["shops"] == [kit.shop_id]


async def test_manager_limits(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    manager = kit.token("manager")
    for role in ("owner", "manager"):
        refused = await client.post(
            "/api/users/users/",
            json={
                "username": unique(role),
                "password": PASSWORD,
                "role": role,
                "shops": [kit.shop_id],
            },
            headers=manager,
        )
        assert refused.status_code == 403, role
    # Not the manager's shop: may not be assigned.
    foreign_shop = await client.post(
        "/api/users/users/",
        json={
            "username": unique("c"),
            "password": PASSWORD,
            "role": "cashier",
            "shops": [kit.second_shop_id],
        },
        headers=manager,
    )
    assert foreign_shop.status_code == 403
    # The owner account is not the manager's to touch.
    owner_id = kit.members["owner"].id
    touched = await client.patch(
        f"/api/users/users/{owner_id}/", json={"full_name": "x"}, headers=manager
    )
    assert touched.status_code == 403
    # Staff of another shop are invisible to the manager.
    elsewhere = await create_user(
        client, kit.members["owner"].token, "cashier", [kit.second_shop_id]
    )
    hidden = await client.get(f"/api/users/users/{elsewhere['id']}/", headers=manager)
    assert hidden.status_code == 404
    listed = await client.get("/api/users/users/?page_size=200", headers=manager)
    assert elsewhere["id"] not in {u["id"] for u in listed.json()["results"]}


async def test_manager_edits_only_their_shops_of_a_user(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    both = await create_user(
        client, kit.members["owner"].token, "cashier", [kit.shop_id, kit.second_shop_id]
    )
    # The manager (shop 1 only) clears the shops they manage; shop 2 stays.
    response = await client.patch(
        f"/api/users/users/{both['id']}/", json={"shops": []}, headers=kit.token("manager")
    )
    assert response.status_code == 200
    assert response.json()["shops"] == [kit.second_shop_id]


async def test_owner_rules(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    owner = kit.members["owner"]
    self_demote = await client.patch(
        f"/api/users/users/{owner.id}/", json={"role": "manager"}, headers=bearer(owner.token)
    )
    assert self_demote.status_code == 409
    self_off = await client.delete(f"/api/users/users/{owner.id}/", headers=bearer(owner.token))
    assert self_off.status_code == 409
    co_owner = await create_user(client, owner.token, "owner", [])
    assert co_owner["shops"] == []
    # A co-owner sees every shop without being bound to any.
    co_tokens = await login(client, co_owner["username"])
    shops = await client.get("/api/core/shops/", headers=bearer(co_tokens["access"]))
    assert shops.json()["count"] == 2
    # With two owners one may be demoted; the last one may not be deactivated by the other.
    demoted = await client.patch(
        f"/api/users/users/{co_owner['id']}/",
        json={"role": "manager", "shops": [kit.shop_id]},
        headers=bearer(owner.token),
    )
    assert demoted.status_code == 200
    assert demoted.json()["role"] == "manager"


async def test_user_validation(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    owner = kit.token("owner")
    taken = await client.post(
        "/api/users/users/",
        json={
            "username": kit.members["cashier"].username,
            "password": PASSWORD,
            "role": "cashier",
            "shops": [kit.shop_id],
        },
        headers=owner,
    )
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "username_taken"
    shopless = await client.post(
        "/api/users/users/",
        json={"username": unique("c"), "password": PASSWORD, "role": "cashier", "shops": []},
        headers=owner,
    )
    assert shopless.status_code == 400
    assert shopless.json()["error"]["fields"] == {"shops": "at least one shop"}
    bad_role = await client.post(
        "/api/users/users/",
        json={
            "username": unique("c"),
            "password": PASSWORD,
            "role": "admin",
            "shops": [kit.shop_id],
        },
        headers=owner,
    )
    assert bad_role.status_code == 400
    assert "role" in bad_role.json()["error"]["fields"]


async def test_set_password_ends_sessions(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    cashier = kit.members["cashier"]
    reset = await client.post(
        f"/api/users/users/{cashier.id}/set-password/",
        json={"password": "fresh-start-42"},
        headers=kit.token("manager"),
    )
    assert reset.status_code == 204
    assert (
        await client.get("/api/users/auth/me/", headers=bearer(cashier.token))
    ).status_code == 401
    await login(client, cashier.username, "fresh-start-42")


async def test_pagination_and_filters(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    for _ in range(4):
        await create_user(client, kit.members["owner"].token, "stockkeeper", [kit.shop_id])
    page1 = await client.get(
        "/api/users/users/?role=stockkeeper&page_size=2", headers=kit.token("owner")
    )
    data = page1.json()
    assert data["count"] == 5
    assert len(data["results"]) == 2
    assert data["previous"] is None
    assert "page=2" in data["next"]
    assert "role=stockkeeper" in data["next"]
    page3 = await client.get(data["next"].replace("page=2", "page=3"), headers=kit.token("owner"))
    assert len(page3.json()["results"]) == 1
    assert page3.json()["next"] is None
    assert "page=2" in page3.json()["previous"]
    all_ids = set()
    for page in (1, 2, 3):
        r = await client.get(
            f"/api/users/users/?role=stockkeeper&page_size=2&page={page}",
            headers=kit.token("owner"),
        )
        all_ids |= {u["id"] for u in r.json()["results"]}
    assert len(all_ids) == 5
    beyond = await client.get("/api/users/users/?page=99", headers=kit.token("owner"))
    assert beyond.json()["results"] == []
    bad = await client.get("/api/users/users/?page_size=100000", headers=kit.token("owner"))
    assert bad.status_code == 400
    assert "page_size" in bad.json()["error"]["fields"]
    search = await client.get(
        f"/api/users/users/?search={kit.members['cashier'].username[:12].upper()}",
        headers=kit.token("owner"),
    )
    assert [u["id"] for u in search.json()["results"]] == [kit.members["cashier"].id]


async def test_shops_and_tenant_settings(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client, timezone="Europe/Moscow")
    owner = kit.token("owner")
    created = await client.post(
        "/api/core/shops/",
        json={"name": "Airport", "address": "Terminal 2", "timezone": "Asia/Yekaterinburg"},
        headers=owner,
    )
    assert created.status_code == 201
    assert created.json()["timezone"] == "Asia/Yekaterinburg"
    bad_tz = await client.post(
        "/api/core/shops/", json={"name": "X", "timezone": "Mars/Olympus"}, headers=owner
    )
    assert bad_tz.status_code == 400
    closed = await client.patch(
        f"/api/core/shops/{created.json()['id']}/", json={"is_active": False}, headers=owner
    )
    assert closed.json()["is_active"] is False
    active = await client.get("/api/core/shops/?is_active=true", headers=owner)
    assert created.json()["id"] not in {s["id"] for s in active.json()["results"]}

    tenant = await client.get("/api/core/tenant/", headers=kit.token("cashier"))
    assert tenant.json()["settings"] == {
        "currency": "RUB",
        "timezone": "Europe/Moscow",
        "allow_negative_stock": False,
        "vat_rates": ["0", "5", "7", "10", "20", "22"],
        "country": "RU",
        "bonus_accrual_percent": "0.00",
        "bonus_redeem_cap_percent": "50.00",
        "bonus_ttl_days": None,
        "cart_idle_minutes": 60,
    }
    changed = await client.patch(
        "/api/core/tenant/",
        json={"name": "New Name", "settings": {"allow_negative_stock": True}},
        headers=owner,
    )
    assert changed.status_code == 200
    assert changed.json()["name"] == "New Name"
    assert changed.json()["settings"]["allow_negative_stock"] is True
    assert changed.json()["settings"]["currency"] == "RUB"
    bad = await client.patch(
        "/api/core/tenant/", json={"settings": {"currency": "rub"}}, headers=owner
    )
    assert bad.status_code == 400
    assert "currency" in bad.json()["error"]["fields"]
