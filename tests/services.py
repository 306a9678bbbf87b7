"""Where the real services are, and what to do when one is missing.

Tests that need PostgreSQL or Redis use the servers at POS_TEST_DATABASE_URL /
POS_TEST_REDIS_URL (defaults: the local ones); tests of tenants on a second PostgreSQL
cluster, the one at POS_TEST_DATABASE_URL_2 (default: port 5433, which `.ci/run`
creates). When a server does not answer, those tests
are skipped with the reason, unless POS_REQUIRE_SERVICES=1, which turns the skip into a
failure (CI sets it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import pytest

PG_ADMIN_URL = os.environ.get(
    "POS_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
# A second PostgreSQL cluster, for tenants placed away from the shared schema (SPEC §7).
PG2_ADMIN_URL = os.environ.get(
    "POS_TEST_DATABASE_URL_2", "postgresql+asyncpg://postgres@127.0.0.1:5433/postgres"
)
REDIS_URL = os.environ.get("POS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
MQTT_URL = os.environ.get("POS_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
REQUIRED = os.environ.get("POS_REQUIRE_SERVICES") == "1"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


@cache
def _postgres_ok(url: str = PG_ADMIN_URL) -> bool:
    if not _reachable(url, 5432):
        return False
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def probe() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(probe())
        return True
    except Exception:
        return False


CHROMIUM = os.environ.get("POS_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def need(service: str) -> None:
    """Skip (or fail, when services are required) unless `service` answers."""
    available = {
        "postgres": _postgres_ok,
        "postgres2": lambda: _postgres_ok(PG2_ADMIN_URL),
        "redis": lambda: _reachable(REDIS_URL, 6379),
        "mqtt": lambda: _reachable(MQTT_URL, 1883),
        "chromium": lambda: os.access(CHROMIUM, os.X_OK),
    }[service]()
    if available:
        return
    where = {
        "postgres": PG_ADMIN_URL,
        "postgres2": PG2_ADMIN_URL,
        "redis": REDIS_URL,
        "mqtt": MQTT_URL,
        "chromium": CHROMIUM,
    }[service]
    message = f"{service} not reachable at {where}"
    if REQUIRED:
        pytest.fail(f"{message} and POS_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(f"{message} (set POS_TEST_* URLs or start it)")


def pick_store(request: pytest.FixtureRequest) -> str:
    """The `store` fixture: "sqlite", "postgres", or "clusters" (tenants on a second
    PostgreSQL cluster, the shared schema on the first)."""
    if request.param in ("postgres", "clusters"):
        need("postgres")
    if request.param == "clusters":
        need("postgres2")
    return str(request.param)


def stores_with_clusters() -> Any:
    """A module's own `store` fixture that adds the two-cluster store to the others."""
    return pytest.fixture(params=["sqlite", "postgres", "clusters"])(pick_store)
