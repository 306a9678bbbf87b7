"""Tenant isolation: tenant A's token on tenant B's ids answers 404, on every endpoint,
and lists never show B's rows. Runs on SQLite (file per tenant) and PostgreSQL (schema
per tenant)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.helpers import PASSWORD, TenantKit, build_tenant, unique

# Which of tenant B's ids goes into each path parameter.
PATH_IDS = {
    "user_id": lambda b: b.members["cashier"].id,
    "shop_id": lambda b: b.shop_id,
    "device_id": lambda b: b.device_id,
}
# Ids of objects the kit does not make; created for B by `_customer_ids`.
CREATED_IDS = ("customer_id", "group_id")

BODIES = {
    "PATCH": {"full_name": "hijacked"},
    "POST": {"password": "hijacked-pass-1"},
}
# Valid bodies, so that the 404 is about the id, not a 400 about the body.
BODIES_BY_ID = {
    "shop_id": {"PATCH": {"name": "hijacked"}},
    "group_id": {"PATCH": {"name": "hijacked"}},
    "customer_id": {"PATCH": {"notes": "hijacked"}, "POST": {"amount": "1.00"}},
}


async def _customer_ids(client: httpx.AsyncClient, kit: TenantKit) -> dict[str, str]:
    """A group and a customer in it, with some balance: what B's paths point at."""
    group = await client.post(
        "/api/customers/groups/",
        json={"name": "B's VIP", "discount_percent": "10"},
        headers=kit.token("owner"),
    )
    assert group.status_code == 201, group.text
    customer = await client.post(
        "/api/customers/customers/",
        json={"name": "B's customer", "phone": "+79160000001", "group": group.json()["id"]},
        headers=kit.token("owner"),
    )
    assert customer.status_code == 201, customer.text
    top_up = await client.post(
        f"/api/customers/customers/{customer.json()['id']}/top-up/",
        json={"amount": "50"},
        headers=kit.token("owner"),
    )
    assert top_up.status_code == 200, top_up.text
    return {"customer_id": customer.json()["id"], "group_id": group.json()["id"]}


def _fill(template: str, ids: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], template)


def _body(endpoint: Any) -> Any:
    for name in endpoint.path_params:
        if name in BODIES_BY_ID:
            return BODIES_BY_ID[name].get(endpoint.method)
    return BODIES.get(endpoint.method)


async def test_foreign_ids_in_paths_are_404(client: httpx.AsyncClient) -> None:
    a = await build_tenant(client)
    b = await build_tenant(client)
    await _customer_ids(client, a)  # A has objects of each kind too
    b_ids = {name: get(b) for name, get in PATH_IDS.items()} | await _customer_ids(client, b)
    endpoints = [e for e in client.app.state.api.endpoints if e.path_params]  # type: ignore[attr-defined]
    assert endpoints, "no endpoint takes an id?"
    for endpoint in endpoints:
        assert set(endpoint.path_params) <= set(PATH_IDS) | set(CREATED_IDS), (
            f"add {endpoint.path} to PATH_IDS"
        )
        path = _fill(endpoint.path, b_ids)
        body = _body(endpoint)
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
    customer = await client.get(
        f"/api/customers/customers/{b_ids['customer_id']}/", headers=b.token("owner")
    )
    assert customer.json()["is_active"] is True
    assert (customer.json()["notes"], customer.json()["balance"]) == ("", "50.00")
    group = await client.get(
        f"/api/customers/groups/{b_ids['group_id']}/", headers=b.token("owner")
    )
    assert group.json()["name"] == "B's VIP"


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

    b_customers = await _customer_ids(client, b)
    a_customers = await _customer_ids(client, a)
    customer = await client.post(
        "/api/customers/customers/",
        json={"name": "x", "group": b_customers["group_id"]},
        headers=a.token("owner"),
    )
    assert customer.status_code == 404
    assert "group" in customer.json()["error"]["fields"]
    moved = await client.patch(
        f"/api/customers/customers/{a_customers['customer_id']}/",
        json={"group": b_customers["group_id"]},
        headers=a.token("owner"),
    )
    assert moved.status_code == 404
    assert "group" in moved.json()["error"]["fields"]
    filtered = await client.get(
        f"/api/customers/customers/?group={b_customers['group_id']}", headers=a.token("owner")
    )
    assert filtered.status_code == 200
    assert filtered.json()["count"] == 0


async def test_lists_hold_only_own_rows(client: httpx.AsyncClient) -> None:
    a = await build_tenant(client)
    b = await build_tenant(client)
    b_ids = {m.id for m in b.members.values()} | {b.shop_id, b.second_shop_id, b.device_id}
    await _customer_ids(client, a)
    b_ids |= set((await _customer_ids(client, b)).values())
    for path in (
        "/api/users/users/",
        "/api/core/shops/",
        "/api/users/device-tokens/",
        "/api/customers/customers/",
        "/api/customers/groups/",
    ):
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
    for term in ("B's", "0000001"):  # B's customer's name and phone; A's has the same phone
        found = await client.get(
            "/api/customers/customers/", params={"search": term}, headers=a.token("owner")
        )
        assert {c["id"] for c in found.json()["results"]}.isdisjoint(b_ids)
