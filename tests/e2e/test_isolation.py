"""Tenant isolation: tenant A's token on tenant B's ids answers 404, on every endpoint,
and lists never show B's rows. Runs on SQLite (file per tenant) and PostgreSQL (schema
per tenant)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests import services
from tests.helpers import (
    PASSWORD,
    TenantKit,
    bearer,
    build_tenant,
    create_product,
    path_ids,
    png_bytes,
    receive,
    set_pin,
    stock_of,
    unique,
)

store = services.stores_with_clusters()

BODIES = {
    "PATCH": {"full_name": "hijacked"},
    "POST": {"password": "hijacked-pass-1"},
}
# Bodies that would be valid for the endpoint's own tenant, so only the id decides.
BODY_FOR = {
    "shop_id": {"PATCH": {"name": "hijacked"}},
    "category_id": {"PATCH": {"name": "hijacked"}},
    "supplier_id": {"PATCH": {"name": "hijacked"}},
    "product_id": {"PATCH": {"name": "hijacked"}},
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


BODY_FOR_PATH = {
    "/api/sales/sessions/{shift_id}/cash/": {"kind": "out", "amount": "1.00", "reason": "x"},
    "/api/sales/sessions/{shift_id}/close/": {"closing_cash": "0"},
    "/api/sales/cash-registers/{register_id}/": {"is_active": False},
    "/api/devices/jobs/{job_id}/done/": {"note": "hijacked"},
    "/api/devices/jobs/{job_id}/failed/": {"error": "hijacked"},
    "/api/tasks/tasks/{task_id}/": {"title": "hijacked"},
    "/api/tasks/tasks/{task_id}/status/": {"status": "cancelled"},
    "/api/tasks/tasks/{task_id}/comments/": {"body": "hijacked"},
    "/api/tasks/templates/{template_id}/": {
        "title": "hijacked",
        "shop": "00000000-0000-0000-0000-000000000001",
        "assignee_role": "cashier",
        "weekdays": [0],
        "at": "09:00",
    },
}


def _body(endpoint: Any) -> Any:
    if endpoint.path in BODY_FOR_PATH:
        return BODY_FOR_PATH[endpoint.path]
    for name in endpoint.path_params:
        if name in BODY_FOR:
            return BODY_FOR[name].get(endpoint.method)
    return BODIES.get(endpoint.method)


async def test_foreign_ids_in_paths_are_404(client: httpx.AsyncClient) -> None:
    a = await build_tenant(client)
    b = await build_tenant(client)
    await _customer_ids(client, a)  # A has objects of each kind too
    b_ids = await path_ids(client, b) | await _customer_ids(client, b)
    endpoints = [e for e in client.app.state.api.endpoints if e.path_params]  # type: ignore[attr-defined]
    assert endpoints, "no endpoint takes an id?"
    for endpoint in endpoints:
        assert set(endpoint.path_params) <= set(b_ids), f"add {endpoint.path} to path_ids"
        path = _fill(endpoint.path, b_ids)
        body = _body(endpoint)
        if endpoint.upload:
            response = await client.request(
                endpoint.method,
                path,
                content=png_bytes(),
                headers={**a.token("owner"), "content-type": endpoint.upload[0]},
            )
        else:
            response = await client.request(
                endpoint.method, path, json=body, headers=a.token("owner")
            )
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
    product = await client.get(
        f"/api/products/products/{b_ids['product_id']}/", headers=b.token("owner")
    )
    assert product.json()["name"] != "hijacked"
    task = await client.get(f"/api/tasks/tasks/{b_ids['task_id']}/", headers=b.token("owner"))
    assert (task.json()["title"], task.json()["status"]) == ("Tidy the window", "new")
    assert [p["id"] for p in task.json()["photos"]] == [b_ids["photo_id"]]
    assert task.json()["comments"] == []
    template = await client.get(
        f"/api/tasks/templates/{b_ids['template_id']}/", headers=b.token("owner")
    )
    assert template.json()["title"] == "Opening checklist"
    images = await client.get(
        f"/api/products/products/{b_ids['product_id']}/images/", headers=b.token("owner")
    )
    assert [i["id"] for i in images.json()["results"]] == [b_ids["image_id"]]
    category = await client.get(
        f"/api/products/categories/{b_ids['category_id']}/", headers=b.token("owner")
    )
    assert category.json()["name"] != "hijacked"
    shift = await client.get(f"/api/sales/sessions/{b_ids['shift_id']}/", headers=b.token("owner"))
    assert (shift.json()["status"], shift.json()["cash_out"]) == ("open", "0.00")
    till = await client.get(
        f"/api/sales/cash-registers/{b_ids['register_id']}/", headers=b.token("owner")
    )
    assert till.json()["is_active"] is True
    customer = await client.get(
        f"/api/customers/customers/{b_ids['customer_id']}/", headers=b.token("owner")
    )
    assert customer.json()["is_active"] is True
    assert (customer.json()["notes"], customer.json()["balance"]) == ("", "50.00")
    group = await client.get(
        f"/api/customers/groups/{b_ids['group_id']}/", headers=b.token("owner")
    )
    assert group.json()["name"] == "B's VIP"
    jobs = await client.get(
        "/api/devices/jobs/", params={"ref": b_ids["sale_id"]}, headers=b.token("owner")
    )
    assert [(j["id"], j["status"]) for j in jobs.json()["results"]] == [
        (b_ids["job_id"], "pending")
    ]


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
        # Another business's shop is no shop of A's (tests/e2e/test_shop_filters.py).
        filtered = await client.get(f"{path}?shop={b.shop_id}", headers=a.token("owner"))
        assert filtered.status_code == 404
        assert filtered.json()["error"]["fields"] == {"shop": "no such shop"}

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
    # another business's group is no group here: 404 naming it, as a foreign ?shop= is
    assert filtered.status_code == 404
    assert list(filtered.json()["error"]["fields"]) == ["group"]


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


async def test_foreign_catalogue_ids_in_bodies_and_filters(client: httpx.AsyncClient) -> None:
    a = await build_tenant(client)
    b = await build_tenant(client)
    b_ids = await path_ids(client, b)
    mine = await create_product(client, a)
    owner = a.token("owner")
    attempts = [
        ("/api/products/products/", {"name": "x", "price": "1", "category": b_ids["category_id"]}),
        ("/api/products/products/", {"name": "x", "price": "1", "supplier": b_ids["supplier_id"]}),
        ("/api/products/categories/", {"name": "x", "parent": b_ids["category_id"]}),
        (
            "/api/sales/sales/",
            {
                "session": b_ids["shift_id"],
                "items": [{"product": mine["id"], "quantity": "1"}],
                "payments": [{"method": "card", "amount": "10.00"}],
            },
        ),
        ("/api/sales/sessions/", {"cash_register": b_ids["register_id"], "opening_cash": "0"}),
        (
            "/api/sales/returns/",
            {
                "sale": b_ids["sale_id"],
                "items": [{"product": b_ids["product_id"], "quantity": "1"}],
            },
        ),
        ("/api/sales/cash-registers/", {"name": "x", "shop": b.shop_id}),
        (
            "/api/products/batches/",
            {"product": b_ids["product_id"], "shop": a.shop_id, "quantity": "1"},
        ),
        ("/api/products/batches/", {"product": mine["id"], "shop": b.shop_id, "quantity": "1"}),
        (
            "/api/products/stock/adjustments/",
            {"product": b_ids["product_id"], "shop": b.shop_id, "counted": "0"},
        ),
        (
            "/api/products/stock/write-offs/",
            {"product": b_ids["product_id"], "shop": b.shop_id, "quantity": "1", "reason": "x"},
        ),
        (
            "/api/products/stock/transfers/",
            {
                "from_shop": b.shop_id,
                "to_shop": a.shop_id,
                "items": [{"product": b_ids["product_id"], "quantity": "1"}],
            },
        ),
    ]
    for path, body in attempts:
        response = await client.post(path, json=body, headers=owner)
        assert response.status_code == 404, f"{path} {body}: {response.text}"
    foreign = await client.get(
        "/api/products/stock/",
        params={"shop": b.shop_id, "product": b_ids["product_id"]},
        headers=owner,
    )
    assert foreign.status_code == 404
    for path, params in (
        ("/api/products/products/", {"category": b_ids["category_id"]}),
        ("/api/products/products/", {"supplier": b_ids["supplier_id"]}),
        ("/api/products/batches/", {"product": b_ids["product_id"]}),
        ("/api/products/stock/movements/", {"product": b_ids["product_id"]}),
        ("/api/products/stock/", {"product": b_ids["product_id"]}),
    ):
        listed = await client.get(path, params=params, headers=owner)
        assert listed.status_code in (200, 404), path
        if listed.status_code == 200:
            assert listed.json()["count"] == 0, path
    # B's goods are untouched.
    left = await stock_of(client, b, b_ids["product_id"])
    assert left["on_hand"] == "2.000"  # 3 received, 1 sold by path_ids
    await receive(client, b, b_ids["product_id"], "1")


async def test_foreign_shifts_and_carts(client: httpx.AsyncClient) -> None:
    a = await build_tenant(client)
    b = await build_tenant(client)
    a_ids, b_ids = await path_ids(client, a), await path_ids(client, b)
    opened = await client.post(
        "/api/sales/carts/", json={"session": b_ids["shift_id"]}, headers=a.token("owner")
    )
    assert opened.status_code == 404
    for query in (f"shop={b.shop_id}", f"cash_register={b_ids['register_id']}"):
        foreign = await client.get(f"/api/sales/carts/?{query}", headers=a.token("owner"))
        assert foreign.status_code == 404, query  # another business's is none here
    listed = await client.get("/api/sales/carts/", headers=a.token("owner"))
    assert listed.status_code == 200
    assert {c["id"] for c in listed.json()["results"]} <= {a_ids["cart_id"]}
    assert b_ids["cart_id"] not in {c["id"] for c in listed.json()["results"]}


async def test_another_tenants_manager_approves_nothing(client: httpx.AsyncClient) -> None:
    """B's manager's PIN, named or not, approves no return in A; A's cashier learns only
    that the PIN was refused, or that no such user exists."""
    a = await build_tenant(client)
    b = await build_tenant(client)
    assert (await set_pin(client, b.token("manager"), "2580")).status_code == 200
    a_ids = await path_ids(client, a)  # A's owner sold one unit in A's first shop
    shift = await client.post(
        "/api/sales/sessions/",
        json={"cash_register": await _cashiers_register(client, a), "opening_cash": "0"},
        headers=a.token("cashier"),
    )
    body = {
        "sale": a_ids["sale_id"],
        "items": [{"product": a_ids["product_id"], "quantity": "1"}],
        "session": shift.json()["id"],
        "manager_pin": "2580",
    }
    unnamed = await client.post("/api/sales/returns/", json=body, headers=a.token("cashier"))
    assert unnamed.status_code == 403
    assert set(unnamed.json()["error"]["fields"]) == {"manager_pin"}
    named = await client.post(
        "/api/sales/returns/",
        json={**body, "manager": b.members["manager"].id},
        headers=a.token("cashier"),
    )
    assert named.status_code == 404
    assert set(named.json()["error"]["fields"]) == {"manager"}
    assert (await stock_of(client, a, a_ids["product_id"]))["on_hand"] == "2.000"
    # With A's own manager's PIN the same return goes through.
    await set_pin(client, a.token("manager"), "2580")
    done = await client.post("/api/sales/returns/", json=body, headers=a.token("cashier"))
    assert done.status_code == 201, done.text
    assert done.json()["approved_by"] == a.members["manager"].id


async def _cashiers_register(client: httpx.AsyncClient, kit: TenantKit) -> str:
    made = await client.post(
        "/api/sales/cash-registers/",
        json={"name": unique("Till"), "shop": kit.shop_id},
        headers=kit.token("owner"),
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def test_edge_agents_see_and_report_only_their_own_tenants_jobs(
    client: httpx.AsyncClient,
) -> None:
    a = await build_tenant(client)
    b = await build_tenant(client)
    a_ids = await path_ids(client, a)
    b_ids = await path_ids(client, b)
    for kit, own, other in ((a, a_ids, b_ids), (b, b_ids, a_ids)):
        agent = bearer(kit.device_token)
        for headers in (agent, kit.token("owner")):
            listed = await client.get("/api/devices/jobs/?page_size=200", headers=headers)
            assert [j["id"] for j in listed.json()["results"]] == [own["job_id"]]
            filtered = await client.get(
                "/api/devices/jobs/", params={"ref": other["sale_id"]}, headers=headers
            )
            assert filtered.json()["count"] == 0
        for outcome, body in (("done", {}), ("failed", {"error": "x"})):
            response = await client.post(
                f"/api/devices/jobs/{other['job_id']}/{outcome}/", json=body, headers=agent
            )
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "not_found"
    for kit, own in ((a, a_ids), (b, b_ids)):
        job = await client.get(
            "/api/devices/jobs/", params={"ref": own["sale_id"]}, headers=kit.token("owner")
        )
        assert job.json()["results"][0]["status"] == "pending"
