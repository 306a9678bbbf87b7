"""A websocket connect while PostgreSQL or Redis is down: the client is told
`service_unavailable` in an `error` frame and the hub closes with 1013 (try again later),
with no unhandled exception logged (QA: Redis down dropped the connection without a close
frame, PostgreSQL down without any frame, each with a traceback). Private servers
(`tests/private_redis.py`, `tests/private_postgres.py`), stopped under a live hub."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from redis.asyncio import Redis

from protocol import messages
from protocol.codec import JSON, Codec
from tests.conftest import make_settings, migrate_store, serve
from tests.e2e.ws_support import (
    CODEC_IDS,
    CODECS,
    api,
    hello,
    raw,
    recv_frames,
    request,
    server_errors,
)
from tests.helpers import build_tenant, create_product, receive
from tests.private_postgres import PrivatePostgres, need_postgres_binaries
from tests.private_redis import PrivateRedis
from tests.processes import need_redis_server

pytestmark = pytest.mark.slow


async def _frames_until_closed(ws: Any, codec: Codec) -> list[dict[str, Any]]:
    """Every frame the hub sends, up to its close."""
    frames: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(10):
            while True:
                frames.extend(await recv_frames(ws, codec, 10))
    except websockets.ConnectionClosed:
        pass
    return frames


def _unhandled(records: list[logging.LogRecord]) -> list[str]:
    """Tracebacks of exceptions nobody handled (what QA saw: 'Exception in ASGI
    application'); the hub's own warnings about the outage are expected."""
    return [r.getMessage() for r in records if r.exc_info or "Exception in ASGI" in r.getMessage()]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    need_redis_server()
    redis = PrivateRedis(tmp_path)
    try:
        redis.start()
        yield redis
    finally:
        redis.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    need_postgres_binaries()
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        server.remove()


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_a_connect_while_redis_is_down_is_told_to_come_back(
    tmp_path: Path, private_redis: PrivateRedis, codec: Codec
) -> None:
    settings = make_settings(tmp_path, redis_url=private_redis.url)
    async with serve(settings) as hub:
        async with api(hub) as http:
            kit = await build_tenant(http)
        shop = f"tenant:{kit.tenant_id}:shop:{kit.shop_id}"
        async with raw(hub, token=kit.members["cashier"].token, codec=codec) as before:
            await hello(before, codec)
            private_redis.kill()
            with server_errors() as errors:
                # A connection already up: a subscription it asks for now is refused
                # under its id, to be sent again, and the connection lives on.
                reply = await request(before, "subscribe", {"channel": shop}, id=7, codec=codec)
                assert reply["payload"]["code"] == "service_unavailable", reply
                assert reply["id"] == 7
                assert (await request(before, "ping", id=8, codec=codec))["type"] == "ok"
            assert not _unhandled(errors), errors
        with server_errors() as errors:
            async with raw(hub, token=kit.members["cashier"].token, codec=codec) as ws:
                frames = await _frames_until_closed(ws, codec)
                assert [f["type"] for f in frames] == ["hello", "error"], frames
                assert frames[1]["payload"]["code"] == "service_unavailable", frames
                assert ws.close_code == messages.CLOSE_TRY_AGAIN_LATER
            await asyncio.sleep(0.2)  # anything the hub logs after the close
        assert not _unhandled(errors), errors
        assert not hub.app.state.realtime.connections


@pytest.mark.parametrize("via", ["header", "frame"])
async def test_a_connect_while_postgresql_is_down_is_told_to_come_back(
    tmp_path: Path, private_postgres: PrivatePostgres, via: str
) -> None:
    await asyncio.to_thread(migrate_store, database_url=private_postgres.url)
    settings = make_settings(tmp_path, private_postgres.url)
    async with serve(settings) as hub:
        async with api(hub) as http:
            kit = await build_tenant(http)
        token = kit.members["cashier"].token
        await asyncio.to_thread(private_postgres.stop)
        with server_errors() as errors:
            async with raw(hub, token=token if via == "header" else None) as ws:
                if via == "frame":
                    await ws.send(
                        JSON.encode({"type": "auth", "id": 1, "payload": {"token": token}})
                    )
                frames = await _frames_until_closed(ws, JSON)
                assert [f["type"] for f in frames] == ["error"], frames
                assert frames[0]["payload"]["code"] == "service_unavailable", frames
                assert ws.close_code == messages.CLOSE_TRY_AGAIN_LATER
            await asyncio.sleep(0.2)
        assert not _unhandled(errors), errors
        # Back up, the same token connects.
        await asyncio.to_thread(private_postgres.start)
        async with raw(hub, token=token) as ws:
            assert (await recv_frames(ws, JSON))[0]["type"] == "hello"


async def test_a_write_is_answered_while_redis_hangs_and_its_event_goes_out_after(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    """Redis stopped (SIGSTOP: its connections stay open, nothing answers) under a live
    hub: a write whose events the relay sends before answering (stock received) is
    answered once the relay's calls time out (`redis_timeout_seconds`), instead of
    waiting for ever; its event stays in the outbox and goes out after Redis answers
    again, with nothing lost."""
    settings = make_settings(
        tmp_path, redis_url=private_redis.url, redis_timeout_seconds=0.3, outbox_sweep_seconds=0.3
    )
    async with serve(settings) as hub:
        async with api(hub) as http:
            kit = await build_tenant(http)
            product = (await create_product(http, kit))["id"]
            private_redis.freeze()
            try:
                async with asyncio.timeout(20):
                    await receive(http, kit, product, "5")
            finally:
                private_redis.thaw()
        redis = Redis.from_url(private_redis.url)
        try:
            for _ in range(400):  # the outbox sweep sends it: 20 s at most
                if await _published(redis, "stock.changed", product):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the event never reached Redis")
        finally:
            await redis.aclose()


async def _published(redis: Redis, type_: str, product: str) -> bool:
    """Whether a channel's history holds an event of that type about the product."""
    for key in await redis.keys("pos:ch:*:log"):
        for _, fields in await redis.xrange(key):
            if fields[b"t"] == type_.encode() and product.encode() in fields[b"b"]:
                return True
    return False
