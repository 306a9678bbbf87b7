"""A `?shop=` filter naming a shop one cannot see (another business's, an unknown one, or
one of the business outside one's own shops) answers 404 `not_found` with
`fields.shop` on every endpoint that takes it, never an empty page."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.helpers import TenantKit, build_tenant

# Other parameters an endpoint requires beside the shop.
REQUIRED = {"date": "2026-01-05", "date_from": "2026-01-01", "date_to": "2026-01-05"}
NO_SUCH_SHOP = {"shop": "no such shop"}
# One day's snapshot: none was taken in a new business, a 404 that names no shop.
NOT_A_LIST = "/api/analytics/stock-snapshots/"


def shop_filtered(client: httpx.AsyncClient) -> list[Any]:
    """Every GET endpoint taking `?shop=`, found from the routes so a new one is covered."""
    return [
        e
        for e in client.app.state.api.endpoints  # type: ignore[attr-defined]
        if e.method == "GET" and e.query is not None and "shop" in e.query.model_fields
    ]


def params(endpoint: Any, shop: str) -> dict[str, str]:
    required = [n for n, f in endpoint.query.model_fields.items() if f.is_required()]
    assert set(required) <= {"shop", *REQUIRED}, f"give {endpoint.path} its parameters"
    return {**{n: REQUIRED[n] for n in required if n != "shop"}, "shop": shop}


async def get(
    client: httpx.AsyncClient, kit: TenantKit, role: str, endpoint: Any, shop: str
) -> httpx.Response:
    return await client.get(endpoint.path, params=params(endpoint, shop), headers=kit.token(role))


def assert_no_such_shop(response: httpx.Response, what: str) -> None:
    assert response.status_code == 404, f"{what}: {response.status_code} {response.text}"
    error = response.json()["error"]
    assert error["code"] == "not_found", what
    assert error["fields"] == NO_SUCH_SHOP, what


async def test_every_shop_filter_answers_404_for_a_shop_one_cannot_see(
    client: httpx.AsyncClient,
) -> None:
    a = await build_tenant(client)
    b = await build_tenant(client)
    endpoints = shop_filtered(client)
    paths = {e.path for e in endpoints}
    # The lists the QA pass named, so the discovery above cannot silently miss them.
    assert {
        "/api/sales/sales/",
        "/api/sales/sessions/",
        "/api/sales/carts/",
        "/api/tasks/tasks/",
        "/api/products/stock/",
        "/api/analytics/daily/",
    } <= paths
    for endpoint in endpoints:
        own = await get(client, a, "owner", endpoint, a.shop_id)
        if endpoint.path == NOT_A_LIST:
            assert own.status_code == 404, own.text
            assert own.json()["error"]["fields"] == {}, own.text
        else:
            assert own.status_code == 200, f"{endpoint.path} own shop: {own.text}"
        for shop, whose in ((b.shop_id, "another business's"), (str(uuid.uuid4()), "unknown")):
            response = await get(client, a, "owner", endpoint, shop)
            assert_no_such_shop(response, f"{endpoint.path} {whose} shop")


async def test_a_shop_of_the_business_outside_ones_own_is_404_too(
    client: httpx.AsyncClient,
) -> None:
    """The manager works in the first shop only; the second is the business's but not
    theirs. Endpoints a manager may not use at all answer 403 before the filter."""
    kit = await build_tenant(client)
    checked = []
    for endpoint in shop_filtered(client):
        own = await get(client, kit, "manager", endpoint, kit.shop_id)
        if own.status_code == 403:
            continue
        assert own.status_code == 200 or endpoint.path == NOT_A_LIST, own.text
        other = await get(client, kit, "manager", endpoint, kit.second_shop_id)
        assert_no_such_shop(other, f"{endpoint.path} the second shop")
        checked.append(endpoint.path)
    assert {"/api/sales/sales/", "/api/sales/sessions/", "/api/users/users/"} <= set(checked)


async def test_cashier_and_agent_filters(client: httpx.AsyncClient) -> None:
    """A cashier's shift list and an edge agent's job list: the same 404 for another
    shop, while their own shop still lists."""
    a = await build_tenant(client)
    b = await build_tenant(client)
    shifts = await client.get(
        "/api/sales/sessions/", params={"shop": b.shop_id}, headers=a.token("cashier")
    )
    assert_no_such_shop(shifts, "cashier's shifts, another business's shop")
    own = await client.get(
        "/api/sales/sessions/", params={"shop": a.shop_id}, headers=a.token("cashier")
    )
    assert own.status_code == 200, own.text
    agent = {"authorization": f"Bearer {a.device_token}"}
    jobs = await client.get("/api/devices/jobs/", params={"shop": b.shop_id}, headers=agent)
    assert_no_such_shop(jobs, "agent's jobs, another business's shop")
    jobs = await client.get("/api/devices/jobs/", params={"shop": a.second_shop_id}, headers=agent)
    assert_no_such_shop(jobs, "agent's jobs, another shop of its business")
    jobs = await client.get("/api/devices/jobs/", params={"shop": a.shop_id}, headers=agent)
    assert jobs.status_code == 200, jobs.text


async def test_every_register_filter_answers_404_for_a_register_one_cannot_see(
    client: httpx.AsyncClient,
) -> None:
    """`?cash_register=` as `?shop=`: another business's till, or none, is 404 naming it."""
    a = await build_tenant(client)
    b = await build_tenant(client)
    theirs = await client.post(
        "/api/sales/cash-registers/",
        json={"name": "Theirs", "shop": b.shop_id},
        headers=b.token("owner"),
    )
    endpoints = [
        e
        for e in client.app.state.api.endpoints  # type: ignore[attr-defined]
        if e.method == "GET" and e.query is not None and "cash_register" in e.query.model_fields
    ]
    assert {e.path for e in endpoints} >= {"/api/sales/sales/", "/api/sales/sessions/"}
    for endpoint in endpoints:
        for register in (theirs.json()["id"], str(uuid.uuid4())):
            response = await client.get(
                endpoint.path, params={"cash_register": register}, headers=a.token("owner")
            )
            assert response.status_code == 404, f"{endpoint.path}: {response.text}"
            assert list(response.json()["error"]["fields"]) == ["cash_register"], endpoint.path
