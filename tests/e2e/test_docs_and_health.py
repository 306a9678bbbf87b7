"""OpenAPI document, Swagger UI served offline, liveness and readiness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from hub.app import create_app
from tests.conftest import make_settings


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_openapi_document_covers_every_endpoint(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"] == "3.0.3"
    for endpoint in client.app.state.api.endpoints:  # type: ignore[attr-defined]
        operation = doc["paths"][endpoint.path][endpoint.method.lower()]
        assert str(endpoint.status) in operation["responses"]
        if endpoint.body is not None:
            assert "requestBody" in operation
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, ref
    register = doc["paths"]["/api/users/auth/register/"]["post"]
    body_ref = register["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    required = schemas[body_ref.rsplit("/", 1)[1]]["required"]
    assert {"tenant_name", "username", "password", "shop_name"} <= set(required)


async def test_swagger_ui_is_served_without_internet(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "/docs/static/swagger-ui-bundle.js" in page.text
    assert "http" not in page.text.split("<body>")[1]  # no external asset
    bundle = await client.get("/docs/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert len(bundle.content) > 100_000
    init = await client.get("/docs/init.js")
    assert "/openapi.json" in init.text


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


async def test_readiness_fails_when_the_database_is_gone(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, "postgresql+asyncpg://nobody@127.0.0.1:1/none", redis_url="redis://127.0.0.1:1/0"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as c:
            response = await c.get("/readyz")
            assert (await c.get("/healthz")).status_code == 200
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"].startswith("error")
    assert checks["broker"].startswith("error")


async def test_root_serves_the_web_client(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert "/docs" in page.text


async def test_openapi_has_no_json_schema_2020_nulls(client: httpx.AsyncClient) -> None:
    # Swagger UI 4 reads OpenAPI 3.0: optional values are `nullable`, not `type: null`.
    text = (await client.get("/openapi.json")).text
    assert '"type":"null"' not in text.replace(" ", "")
    assert '"nullable":true' in text.replace(" ", "")
