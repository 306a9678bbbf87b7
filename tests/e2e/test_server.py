"""A real hub: `pos-hub migrate` and `pos-hub serve` as processes, spoken to over HTTP."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import PASSWORD, bearer, unique
from tests.processes import HubProcess, base_env, pos_hub, start_hub, wait_ready

pytestmark = pytest.mark.slow


@contextmanager
def running_hub(workdir: Path) -> Iterator[HubProcess]:
    """Migrate a fresh data dir, serve it on a free port, stop it afterwards (always)."""
    env = base_env(POS_DATA_DIR=str(workdir / "data"), POS_ENV="development")
    migrated = pos_hub(workdir, env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    hub = start_hub(workdir, env, "serve")
    try:
        wait_ready(hub, "/healthz")
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    with running_hub(tmp_path_factory.mktemp("hub")) as running:
        yield running


@pytest.fixture
async def http(hub: HubProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.http, timeout=10.0) as client:
        yield client


async def test_register_and_login_over_http(http: httpx.AsyncClient) -> None:
    username = unique("owner")
    registered = await http.post(
        "/api/users/auth/register/",
        json={
            "tenant_name": "Real Traders",
            "username": username,
            "password": PASSWORD,
            "email": "owner@example.com",
            "shop_name": "High Street",
        },
    )
    assert registered.status_code == 201, registered.text
    data = registered.json()
    assert data["access"]
    assert data["refresh"]
    assert {"id", "name"} <= data["tenant"].keys()
    assert data["tenant"]["name"] == "Real Traders"
    assert {"id", "username", "role"} <= data["user"].keys()
    assert data["user"]["username"] == username
    assert data["user"]["role"] == "owner"
    assert {"id", "name"} <= data["shop"].keys()
    assert data["shop"]["name"] == "High Street"

    logged_in = await http.post(
        "/api/users/auth/login/", json={"username": username, "password": PASSWORD}
    )
    assert logged_in.status_code == 200, logged_in.text
    tokens = logged_in.json()
    assert tokens["access"]
    assert tokens["refresh"]

    me = await http.get("/api/users/auth/me/", headers=bearer(tokens["access"]))
    assert me.status_code == 200, me.text
    assert me.json()["tenant"] == data["tenant"]["id"]
    assert me.json()["user"] == data["user"]["id"]


async def test_swagger_ui_is_served_offline(http: httpx.AsyncClient) -> None:
    page = await http.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/docs/static/swagger-ui-bundle.js" in page.text

    bundle = await http.get("/docs/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert len(bundle.content) > 100_000
    assert "javascript" in bundle.headers["content-type"]

    init = await http.get("/docs/init.js")
    assert init.status_code == 200
    assert "/openapi.json" in init.text


async def test_openapi_document(http: httpx.AsyncClient) -> None:
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.0.3"
    assert "post" in document["paths"]["/api/users/auth/register/"]
    assert "post" in document["paths"]["/api/users/auth/login/"]


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    health = await http.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    assert ready.json()["checks"]["database"] == "ok"


def test_sigterm_stops_the_hub_cleanly(tmp_path: Path) -> None:
    with running_hub(tmp_path) as hub:
        hub.process.send_signal(signal.SIGTERM)
        # Uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert hub.process.wait(timeout=15) in (0, -signal.SIGTERM), hub.output()
    output = hub.output()
    assert "Traceback" not in output, output
    assert "Application shutdown complete" in output, output
