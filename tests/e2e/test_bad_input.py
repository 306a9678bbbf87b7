"""Bad input never makes a 500: malformed JSON, wrong types, missing and unknown fields,
oversized bodies, wrong media types, and random JSON thrown at every endpoint."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import httpx
import pytest

from tests.helpers import PASSWORD, build_tenant, path_ids


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert isinstance(error["fields"], dict)
    return error


def _body_endpoints(client: httpx.AsyncClient) -> list[Any]:
    return [e for e in client.app.state.api.endpoints if e.body is not None]  # type: ignore[attr-defined]


def _path(template: str, ids: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], template)


@pytest.fixture
async def ids_and_auth(client: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, str]]:
    kit = await build_tenant(client)
    return await path_ids(client, kit), kit.token("owner")


async def test_malformed_and_non_object_json(
    client: httpx.AsyncClient, ids_and_auth: tuple[dict[str, str], dict[str, str]]
) -> None:
    ids, auth = ids_and_auth
    for endpoint in _body_endpoints(client):
        path = _path(endpoint.path, ids)
        headers = {**auth, "content-type": "application/json"}
        nested = b"[" * 5000 + b"]" * 5000  # json's recursion limit, not a 500
        for raw in (b'{"username": ', b"\xff\xfe{}", b"{'single': 'quotes'}", b"NaN-ish", nested):
            response = await client.request(endpoint.method, path, content=raw, headers=headers)
            _error(response, 400, "malformed_json")
        for raw in (b"[]", b'"text"', b"42", b"null"):
            response = await client.request(endpoint.method, path, content=raw, headers=headers)
            _error(response, 400, "validation_error")


async def test_wrong_types_missing_and_unknown_fields(
    client: httpx.AsyncClient, ids_and_auth: tuple[dict[str, str], dict[str, str]]
) -> None:
    ids, auth = ids_and_auth
    for endpoint in _body_endpoints(client):
        path = _path(endpoint.path, ids)
        fields = endpoint.body.model_fields
        wrong = {name: {"nested": [1, 2]} for name in fields}
        error = _error(
            await client.request(endpoint.method, path, json=wrong, headers=auth),
            400,
            "validation_error",
        )
        assert set(error["fields"]) & set(fields), error
        required = [n for n, f in fields.items() if f.is_required()]
        if required:
            error = _error(
                await client.request(endpoint.method, path, json={}, headers=auth),
                400,
                "validation_error",
            )
            assert set(required) <= set(error["fields"]), (endpoint.path, error)
        unknown = _error(
            await client.request(endpoint.method, path, json={"no_such_field": 1}, headers=auth),
            400,
            "validation_error",
        )
        assert "no_such_field" in unknown["fields"]


async def test_oversized_body_and_media_type(
    client: httpx.AsyncClient, ids_and_auth: tuple[dict[str, str], dict[str, str]]
) -> None:
    ids, auth = ids_and_auth
    limit = client.app.state.deps.settings.max_body_bytes  # type: ignore[attr-defined]
    for endpoint in _body_endpoints(client):
        path = _path(endpoint.path, ids)
        huge = json.dumps({"name": "x" * (limit + 10)})
        response = await client.request(
            endpoint.method,
            path,
            content=huge,
            headers={**auth, "content-type": "application/json"},
        )
        _error(response, 413, "payload_too_large")
        response = await client.request(
            endpoint.method,
            path,
            content=b'{"a": 1}',
            headers={**auth, "content-type": "text/plain"},
        )
        _error(response, 415, "unsupported_media_type")

    # A body streamed without Content-Length is cut off at the limit too.
    async def chunks() -> Any:
        for _ in range(limit // 1000 + 2):
            yield b" " * 1000

    response = await client.post(
        "/api/users/auth/login/", content=chunks(), headers={"content-type": "application/json"}
    )
    _error(response, 413, "payload_too_large")


async def test_unknown_routes_methods_and_ids(
    client: httpx.AsyncClient, ids_and_auth: tuple[dict[str, str], dict[str, str]]
) -> None:
    _ids, auth = ids_and_auth
    _error(await client.get("/api/no/such/thing/", headers=auth), 404, "not_found")
    _error(await client.put("/api/core/tenant/", json={}, headers=auth), 405, "method_not_allowed")
    _error(await client.get("/api/users/users/not-a-uuid/", headers=auth), 404, "not_found")
    _error(
        await client.get("/api/users/users/?is_active=maybe", headers=auth), 400, "validation_error"
    )
    _error(await client.get("/api/users/users/?shop=nope", headers=auth), 400, "validation_error")
    malformed_auth = {"Authorization": "Bearer not.a.jwt"}
    _error(await client.get("/api/users/auth/me/", headers=malformed_auth), 401, "token_invalid")
    _error(
        await client.get("/api/users/auth/me/", headers={"Authorization": "Basic abc"}),
        401,
        "not_authenticated",
    )


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randint(-(2**70), 2**70)
    if kind == 3:
        return rng.uniform(-1e308, 1e308)
    if kind == 4:
        return "".join(rng.choice("aZ0 _-@.ёЖ\u0000\ud7ff/") for _ in range(rng.randrange(40)))
    if kind == 5:
        return str(rng.getrandbits(128))
    if kind == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [
        "username",
        "password",
        "role",
        "shops",
        "name",
        "shop",
        "refresh",
        "settings",
        "is_active",
        "email",
        "timezone",
        "new_password",
        "old_password",
        "tenant_name",
        "shop_name",
        "x",
    ]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(6))}


async def test_random_json_never_breaks_an_endpoint(
    client: httpx.AsyncClient, ids_and_auth: tuple[dict[str, str], dict[str, str]]
) -> None:
    ids, auth = ids_and_auth
    rng = random.Random(20261123)
    endpoints = client.app.state.api.endpoints  # type: ignore[attr-defined]
    for _ in range(300):
        endpoint = rng.choice(endpoints)
        body = _random_json(rng)
        response = await client.request(
            endpoint.method,
            _path(endpoint.path, ids),
            content=json.dumps(body),
            headers={**auth, "content-type": "application/json"},
        )
        assert response.status_code < 500, (endpoint.path, body, response.text)
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"code", "message", "fields"}


async def test_nul_characters_are_field_errors(
    client: httpx.AsyncClient, ids_and_auth: tuple[dict[str, str], dict[str, str]]
) -> None:
    """PostgreSQL cannot store NUL: every text field and filter refuses it as a 400."""
    ids, auth = ids_and_auth
    checked = 0
    for endpoint in _body_endpoints(client):
        for name, field in endpoint.body.model_fields.items():
            if field.annotation not in (str, str | None):
                continue
            response = await client.request(
                endpoint.method,
                _path(endpoint.path, ids),
                json={name: "bad\x00text"},
                headers=auth,
            )
            error = _error(response, 400, "validation_error")
            assert name in error["fields"], (endpoint.path, name, error)
            checked += 1
    assert checked > 20
    for path in ("/api/products/products/", "/api/core/shops/", "/api/customers/customers/"):
        response = await client.get(path, params={"search": "a\x00b"}, headers=auth)
        _error(response, 400, "validation_error")


async def test_pin_fields(client: httpx.AsyncClient) -> None:
    """PINs travel as strings of 4 to 8 ASCII digits; anything else is a field error,
    whoever sends it, and the error never echoes the value."""
    kit = await build_tenant(client)
    ids = await path_ids(client, kit)
    for body, field in (
        ({"password": PASSWORD, "pin": 2580}, "pin"),
        ({"password": PASSWORD, "pin": ["2580"]}, "pin"),
        ({"password": PASSWORD}, "pin"),
        ({"pin": "2580"}, "password"),
        ({"password": PASSWORD, "pin": "25\x0080"}, "pin"),
        ({"password": PASSWORD, "pin": "9" * 101}, "pin"),
    ):
        response = await client.put("/api/users/auth/pin/", json=body, headers=kit.token("owner"))
        error = _error(response, 400, "validation_error")
        assert field in error["fields"], (body, error)
        assert "2580" not in response.text
    sale = {"sale": ids["sale_id"], "items": [{"product": ids["product_id"], "quantity": "1"}]}
    for extra, field in (
        ({"manager_pin": 2580}, "manager_pin"),
        ({"manager_pin": "25a0"}, "manager_pin"),
        ({"manager_pin": "258"}, "manager_pin"),
        ({"manager_pin": "25\x0080"}, "manager_pin"),
        ({"manager_pin": "2580", "manager": "nobody"}, "manager"),
        ({"manager": kit.members["manager"].id}, "manager_pin"),
    ):
        for role in ("owner", "cashier"):  # needed or not, a bad PIN is refused
            response = await client.post(
                "/api/sales/returns/", json={**sale, **extra}, headers=kit.token(role)
            )
            error = _error(response, 400, "validation_error")
            assert field in error["fields"], (extra, error)
            assert "2580" not in response.text
    left = await client.get(
        "/api/products/stock/",
        params={"shop": kit.shop_id, "product": ids["product_id"]},
        headers=kit.token("owner"),
    )
    assert left.json()["on_hand"] == "2.000"  # nothing was returned


async def test_times_without_an_offset_are_utc(
    client: httpx.AsyncClient, ids_and_auth: tuple[dict[str, str], dict[str, str]]
) -> None:
    """A period's bounds may come without an offset, or as bare dates: UTC, not a 500."""
    _ids, auth = ids_and_auth
    for path in ("/api/sales/sales/", "/api/sales/sessions/", "/api/products/stock/movements/"):
        for since, until, found in (
            ("2000-01-01", "2999-01-01", True),
            ("2000-01-01T00:00:00", "2999-01-01T00:00:00", True),
            ("2999-01-01", None, False),
            ("2999-01-01T00:00:00+03:00", None, False),
        ):
            params = {"date_from": since} | ({"date_to": until} if until else {})
            response = await client.get(path, params=params, headers=auth)
            assert response.status_code == 200, (path, params, response.text)
            assert (response.json()["count"] > 0) is found, (path, params)


async def test_edge_agents_bad_reports_and_queries(client: httpx.AsyncClient) -> None:
    """The job endpoints as agents call them: with a device token."""
    kit = await build_tenant(client)
    ids = await path_ids(client, kit)
    agent = {"Authorization": f"Bearer {kit.device_token}"}
    as_json = {**agent, "content-type": "application/json"}
    as_text = {**agent, "content-type": "text/plain"}
    for outcome in ("done", "failed"):
        path = f"/api/devices/jobs/{ids['job_id']}/{outcome}/"
        response = await client.post(path, content=b'{"error": ', headers=as_json)
        _error(response, 400, "malformed_json")
        _error(await client.post(path, content=b"[]", headers=as_json), 400, "validation_error")
        response = await client.post(path, json={"status": "done"}, headers=agent)
        assert "status" in _error(response, 400, "validation_error")["fields"]
        response = await client.post(path, content=b'{"a": 1}', headers=as_text)
        _error(response, 415, "unsupported_media_type")
        response = await client.post(f"/api/devices/jobs/x/{outcome}/", json={}, headers=agent)
        _error(response, 404, "not_found")
    registered = {"document_number": 1, "fiscal_sign": "1", "registered_at": "2026-01-01T00:00Z"}
    for fiscal, field in (
        ({**registered, "document_number": "x"}, "fiscal.document_number"),
        ({**registered, "document_number": 0}, "fiscal.document_number"),
        ({**registered, "fiscal_sign": ""}, "fiscal.fiscal_sign"),
        ({**registered, "registered_at": "yesterday"}, "fiscal.registered_at"),
        ({**registered, "registered_at": "2026-01-01T00:00"}, "fiscal.registered_at"),
        ({**registered, "extra": 1}, "fiscal.extra"),
        ("printed", "fiscal"),
    ):
        response = await client.post(
            f"/api/devices/jobs/{ids['job_id']}/done/", json={"fiscal": fiscal}, headers=agent
        )
        assert field in _error(response, 400, "validation_error")["fields"], fiscal
    response = await client.post(
        f"/api/devices/jobs/{ids['job_id']}/failed/", json={"error": "x" * 501}, headers=agent
    )
    assert "error" in _error(response, 400, "validation_error")["fields"]
    # Nothing above changed the job.
    listed = await client.get("/api/devices/jobs/", params={"status": "pending"}, headers=agent)
    assert [j["id"] for j in listed.json()["results"]] == [ids["job_id"]]
    for params, field in (
        ({"status": "printed"}, "status"),
        ({"kind": "fax"}, "kind"),
        ({"page_size": "0"}, "page_size"),
        ({"shop": "nope"}, "shop"),
        ({"ref": "nope"}, "ref"),
    ):
        response = await client.get("/api/devices/jobs/", params=params, headers=agent)
        assert field in _error(response, 400, "validation_error")["fields"], params


async def test_numbers_and_dates_beyond_their_range_are_field_errors(
    client: httpx.AsyncClient, ids_and_auth: tuple[dict[str, str], dict[str, str]]
) -> None:
    """A receipt number beyond the column's range, or a date or time beyond what a shop
    means (year 1 in +14:00 is year 0 in UTC; a day after 9999-12-31 does not exist), is
    a 400 naming the field, not a 500."""
    ids, auth = ids_and_auth
    shop = (await client.get("/api/core/shops/", headers=auth)).json()["results"][0]["id"]
    customer = f"/api/customers/customers/{ids['customer_id']}"
    for path, params in (
        ("/api/sales/sales/", {"date_from": "0001-01-01T00:00:00+14:00"}),
        ("/api/sales/sessions/", {"date_to": "9999-12-31T23:59:59-12:00"}),
        ("/api/products/stock/movements/", {"date_to": "9999-12-31T23:59:59-12:00"}),
        ("/api/tasks/tasks/", {"due_before": "9999-12-31T23:59:59-12:00"}),
        (f"{customer}/statement/", {"date_to": "9999-12-31"}),
        (f"{customer}/ledger/", {"date_from": "0001-01-01"}),
        ("/api/analytics/daily/", {"shop": shop, "date": "0001-01-01"}),
        ("/api/analytics/top-products/", {"date_to": "9999-12-31"}),
        ("/api/products/batches/", {"expiring_before": "9999-12-31"}),
        ("/api/sales/sales/", {"number": str(2**63)}),  # beyond any integer column
    ):
        response = await client.get(path, params=params, headers=auth)
        error = _error(response, 400, "validation_error")
        assert set(params) - {"shop"} <= set(error["fields"]), (path, error)
    due = {
        "title": "t",
        "shop": shop,
        "assignee": ids["user_id"],
        "due_at": "9999-12-31T23:59:59-12:00",
    }
    response = await client.post("/api/tasks/tasks/", json=due, headers=auth)
    assert "due_at" in _error(response, 400, "validation_error")["fields"]
    for edge in ("1900-01-01", "2999-12-31"):  # the bounds themselves are days like any other
        response = await client.get(
            f"{customer}/statement/", params={"date_from": edge, "date_to": edge}, headers=auth
        )
        assert response.status_code == 200, response.text
