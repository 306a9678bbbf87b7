"""Where the real services are, and what to do when one is missing.

Tests that need PostgreSQL or Redis use the servers at POS_TEST_DATABASE_URL /
POS_TEST_REDIS_URL (defaults: the local ones). When a server does not answer, those tests
are skipped with the reason, unless POS_REQUIRE_SERVICES=1, which turns the skip into a
failure (CI sets it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from functools import cache
from urllib.parse import urlsplit

import pytest

PG_ADMIN_URL = os.environ.get(
    "POS_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
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
def _postgres_ok() -> bool:
    if not _reachable(PG_ADMIN_URL, 5432):
        return False
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def probe() -> None:
        engine = create_async_engine(PG_ADMIN_URL)
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
        "redis": lambda: _reachable(REDIS_URL, 6379),
        "mqtt": lambda: _reachable(MQTT_URL, 1883),
        "chromium": lambda: os.access(CHROMIUM, os.X_OK),
    }[service]()
    if available:
        return
    where = {
        "postgres": PG_ADMIN_URL,
        "redis": REDIS_URL,
        "mqtt": MQTT_URL,
        "chromium": CHROMIUM,
    }[service]
    message = f"{service} not reachable at {where}"
    if REQUIRED:
        pytest.fail(f"{message} and POS_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(f"{message} (set POS_TEST_* URLs or start it)")
