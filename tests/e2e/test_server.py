"""A real hub: `pos-hub migrate` and `pos-hub serve` as processes, spoken to over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.helpers import PASSWORD, bearer, unique

POS_HUB = Path(sys.executable).parent / "pos-hub"
STARTUP_TIMEOUT = 20.0

pytestmark = pytest.mark.slow


def hub_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POS_")}
    env.update(
        POS_DATA_DIR=str(data_dir),
        POS_ENV="development",
        POS_ARGON2_TIME_COST="1",
        POS_ARGON2_MEMORY_KIB="64",
        POS_ARGON2_PARALLELISM="1",
        PYTHONUTF8="1",
    )
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Hub:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _wait_healthy(hub: Hub) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(base_url=hub.url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if hub.process.poll() is not None:
                pytest.fail(f"pos-hub serve exited with {hub.process.returncode}:\n{hub.output()}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(f"pos-hub serve not healthy after {STARTUP_TIMEOUT} s:\n{hub.output()}")


@contextmanager
def running_hub(workdir: Path) -> Iterator[Hub]:
    """Migrate a fresh data dir, serve it on a free port, stop it afterwards (always)."""
    env = hub_env(workdir / "data")
    migrated = subprocess.run(
        [str(POS_HUB), "migrate"],
        env=env,
        cwd=workdir,
        capture_output=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log = workdir / "serve.log"
    log_file: IO[bytes] = log.open("wb")
    try:
        process = subprocess.Popen(
            [str(POS_HUB), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            hub = Hub(f"http://127.0.0.1:{port}", process, log)
            _wait_healthy(hub)
            yield hub
        finally:
            _stop(process)
    finally:
        log_file.close()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running_hub(tmp_path_factory.mktemp("hub")) as running:
        yield running


@pytest.fixture
async def http(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10.0) as client:
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
