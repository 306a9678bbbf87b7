"""Tenant isolation: tenant A's token on tenant B's ids answers 404, on every endpoint,
and lists never show B's rows. Runs on SQLite (file per tenant) and PostgreSQL (schema
per tenant)."""

from __future__ import annotations

import re

import httpx

from tests.helpers import PASSWORD, TenantKit, build_tenant, unique

# Which of tenant B's ids goes into each path parameter.
PATH_IDS = {
    "user_id": lambda b: b.members["cashier"].id,
    "shop_id": lambda b: b.shop_id,
    "device_id": lambda b: b.device_id,
}

BODIES = {
    "PATCH": {"full_name": "hijacked"},
    "POST": {"password": "hijacked-pass-1"},
}
SHOP_BODY = {"PATCH": {"name": "hijacked"}}


def _fill(template: str, other: TenantKit) -> str:
    return re.sub(r"{(\w+)}", lambda m: PATH_IDS[m.group(1)](other), template)


async def test_foreign_ids_in_paths_are_404(client: httpx.AsyncClient) -> None:
    a = await build_tenant(client)
    b = await build_tenant(client)
    endpoints = [e for e in client.app.state.api.endpoints if e.path_params]  # type: ignore[attr-defined]
    assert endpoints, "no endpoint takes an id?"
    for endpoint in endpoints:
        assert set(endpoint.path_params) <= set(PATH_IDS), f"add {endpoint.path} to PATH_IDS"
        path = _fill(endpoint.path, b)
        body = (SHOP_BODY if "shop_id" in endpoint.path_params else BODIES).get(endpoint.method)
        response = await client.request(endpoint.method, path, json=body, headers=a.token("owner"))
        assert response.status_code == 404, f"{endpoint.method} {path}: {response.text}"
        assert response.json()["error"]["code"] == "not_found"

    # Nothing of B's changed.
    cashier = await client.get(
        f"/api/users/users/{b.members['cashier'].id}/", headers=b.token("owner")
    )
    assert cashier.json()["is_active"] is True
    assert cashier.json()["full_name"] == ""
    shop = await client.get(f"/api/core/shops/{b.shop_id}/", headers=b.token("owner"))
    assert shop.json()["name"] == "Main Street"
    device = await client.get(f"/api/users/device-tokens/{b.device_id}/", headers=b.token("owner"))
    assert device.json()["revoked_at"] is None


async def test_foreign_ids_in_bodies_and_filters(client: httpx.AsyncClient) -> None:
    a = await build_tenant(client)
    b = await build_tenant(client)
    user = await client.post(
        "/api/users/users/",
        json={
            "username": unique("x"),
            "password": PASSWORD,
            "role": "cashier",
            "shops": [b.shop_id],
        },
        headers=a.token("owner"),
    )
    assert user.status_code == 404
    assert "shops" in user.json()["error"]["fields"]
    device = await client.post(
        "/api/users/device-tokens/", json={"name": "x", "shop": b.shop_id}, headers=a.token("owner")
    )
    assert device.status_code == 404
    move = await client.patch(
        f"/api/users/users/{a.members['cashier'].id}/",
        json={"shops": [b.shop_id]},
        headers=a.token("owner"),
    )
    assert move.status_code == 404
    for path in ("/api/users/users/", "/api/users/device-tokens/"):
        filtered = await client.get(f"{path}?shop={b.shop_id}", headers=a.token("owner"))
        assert filtered.status_code == 200
        assert filtered.json()["count"] == 0


async def test_lists_hold_only_own_rows(client: httpx.AsyncClient) -> None:
    a = await build_tenant(client)
    b = await build_tenant(client)
    b_ids = {m.id for m in b.members.values()} | {b.shop_id, b.second_shop_id, b.device_id}
    for path in ("/api/users/users/", "/api/core/shops/", "/api/users/device-tokens/"):
        listed = await client.get(path + "?page_size=200", headers=a.token("owner"))
        ids = {row["id"] for row in listed.json()["results"]}
        assert ids, path
        assert not ids & b_ids, path
    tenant = await client.get("/api/core/tenant/", headers=a.token("owner"))
    assert tenant.json()["id"] == a.tenant_id
    search = await client.get(
        f"/api/users/users/?search={b.members['cashier'].username}", headers=a.token("owner")
    )
    assert search.json()["count"] == 0
