"""With POS_REDIS_URL set, login throttling is shared through Redis (every hub process
sees the same counters) and readiness checks Redis."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from hub.app import create_app
from hub.settings import Settings
from tests import services
from tests.conftest import _migrated, app_client, make_settings
from tests.helpers import PASSWORD, register
from tests.private_redis import free_port


@pytest.fixture
async def redis_settings(tmp_path: Path) -> Settings:
    services.need("redis")
    settings = make_settings(tmp_path, redis_url=services.REDIS_URL, login_max_failures=2)
    await _migrated(settings)
    return settings


async def _client(settings: Settings, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(ip, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as c:
            yield c


async def test_throttle_is_shared_between_hub_processes(redis_settings: Settings) -> None:
    ip = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    first = _client(redis_settings, ip)
    second = _client(redis_settings, ip)
    a = await anext(first)
    b = await anext(second)
    username = ""
    try:
        reg = await register(a)
        username = reg["user"]["username"]
        # Two "processes" (two app instances, separate memory) share one Redis.
        for hub in (a, b):
            bad = await hub.post(
                "/api/users/auth/login/", json={"username": username, "password": "wrong-wrong"}
            )
            assert bad.status_code == 401
        locked = await b.post(
            "/api/users/auth/login/", json={"username": username, "password": PASSWORD}
        )
        assert locked.status_code == 429
        ready = await a.get("/readyz")
        assert ready.json()["checks"]["broker"] == "ok (redis)"
    finally:
        for gen in (first, second):
            await gen.aclose()
        redis = Redis.from_url(services.REDIS_URL)
        try:
            keys = [k async for k in redis.scan_iter(match=f"pos:rl:login:*{ip}*")]
            if username:
                keys += [k async for k in redis.scan_iter(match=f"pos:rl:login:user:{username}")]
            if keys:
                await redis.delete(*keys)
        finally:
            await redis.aclose()


async def test_login_answers_503_while_redis_is_down(tmp_path: Path) -> None:
    """The login throttle fails closed: Redis unreachable is a 503 to retry, not a 500
    and not a login without a throttle."""
    settings = make_settings(tmp_path)
    await _migrated(settings)
    async with app_client(settings) as hub:
        username = (await register(hub))["user"]["username"]
    # The same store, with Redis on a port nothing listens on.
    dead = make_settings(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    client = _client(dead, "10.9.8.7")
    hub = await anext(client)
    try:
        login = await hub.post(
            "/api/users/auth/login/", json={"username": username, "password": PASSWORD}
        )
        assert login.status_code == 503, login.text
        assert login.json()["error"]["code"] == "service_unavailable"
        assert login.headers["Retry-After"] == "1"
    finally:
        await client.aclose()
