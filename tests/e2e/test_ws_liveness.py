"""Liveness: heartbeats, reaping idle connections (4008), access-token expiry on a live
connection (4003), and the per-address connection rate limit (1013)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets

from hub.adapters.security.tokens import AccessTokens
from protocol import channels, messages
from protocol.codec import JSON, Codec
from tests.conftest import TEST_SECRET, LiveHub
from tests.e2e.ws_support import (
    CODEC_IDS,
    CODECS,
    api,
    closed_code,
    hello,
    hub_client,
    raw,
    recv_frames,
    tenant,
    wait_for,
)

FAST_BEATS = pytest.mark.parametrize(
    "settings", [{"ws_heartbeat_seconds": 0.2, "ws_idle_timeout_seconds": 1.0}], indirect=True
)


async def frames_until_closed(ws: Any, codec: Codec, wait: float) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(wait):
            while True:
                frames.extend(await recv_frames(ws, codec, wait))
    except websockets.ConnectionClosed:
        pass
    return frames


@FAST_BEATS
@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_silent_connection_is_reaped_4008(live_hub: LiveHub, codec: Codec) -> None:
    kit = await tenant(live_hub)
    realtime = live_hub.app.state.realtime
    async with raw(live_hub, token=kit.members["cashier"].token, codec=codec) as ws:
        first = await hello(ws, codec)
        assert first["payload"]["heartbeat_seconds"] == 0.2
        assert first["payload"]["idle_timeout_seconds"] == 1.0
        (connection,) = realtime.connections.values()
        started = time.monotonic()
        frames = await frames_until_closed(ws, codec, 4)
        elapsed = time.monotonic() - started
        assert ws.close_code == messages.CLOSE_IDLE
        assert connection.close_code == messages.CLOSE_IDLE
    assert 0.9 <= elapsed < 2.5, elapsed
    # It was told the hub was there meanwhile: heartbeats, nothing else.
    assert {f["type"] for f in frames} == {"heartbeat"}
    assert len(frames) >= 2
    assert all(abs(f["payload"]["time"] - time.time()) < 10 for f in frames)
    await wait_for(lambda: not realtime.connections)


@FAST_BEATS
@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_pinging_connection_stays_and_hears_heartbeats(
    live_hub: LiveHub, codec: Codec
) -> None:
    kit = await tenant(live_hub)
    realtime = live_hub.app.state.realtime
    async with raw(live_hub, token=kit.members["cashier"].token, codec=codec) as ws:
        await hello(ws, codec)
        (connection,) = realtime.connections.values()
        frames: list[dict[str, Any]] = []

        async def read() -> None:
            while True:
                frames.extend(await recv_frames(ws, codec, 10))

        reader = asyncio.create_task(read())
        try:
            for i in range(9):  # 2.7 s: well past the idle timeout
                await ws.send(codec.encode({"type": "ping", "id": i}))
                await asyncio.sleep(0.3)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        assert connection.close_code is None
        assert [f["id"] for f in frames if f["type"] == "ok"] == list(range(9))
        assert sum(f["type"] == "heartbeat" for f in frames) >= 3
        assert {f["type"] for f in frames} == {"ok", "heartbeat"}


@FAST_BEATS
async def test_hub_client_keeps_itself_alive(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    shop = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    async with hub_client(live_hub, kit.members["manager"].token) as client:
        await client.subscribe(shop)
        await asyncio.sleep(2.5)
        assert client.connected
        await live_hub.app.state.realtime.broker.publish(shop, "test.event", {"n": 1})
        assert (await client.events.get())["payload"] == {"n": 1}


@FAST_BEATS
async def test_receiving_is_not_being_alive(live_hub: LiveHub) -> None:
    """Only what the client sends counts: a busy channel does not keep a mute client."""
    kit = await tenant(live_hub)
    shop = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    async with raw(live_hub, token=kit.members["owner"].token) as ws:
        await hello(ws)
        await ws.send(JSON.encode({"type": "subscribe", "id": 1, "payload": {"channel": shop}}))

        async def chatter() -> None:
            for n in range(40):
                await live_hub.app.state.realtime.broker.publish(shop, "test.event", {"n": n})
                await asyncio.sleep(0.05)

        task = asyncio.create_task(chatter())
        try:
            frames = await frames_until_closed(ws, JSON, 4)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert ws.close_code == messages.CLOSE_IDLE
        assert any(f["type"] == "test.event" for f in frames)


def short_lived(valid: str, seconds: float) -> str:
    """The same session's access token, expiring in about `seconds`."""
    tokens = AccessTokens(TEST_SECRET, 60)
    claims = tokens.decode(valid)
    token, expires = tokens.issue(
        user_id=claims.user_id,
        tenant_id=claims.tenant_id,
        role=claims.role,
        shops=list(claims.shops),
        session_id=claims.session_id,
        auth_version=claims.auth_version,
        now=datetime.now(UTC) - timedelta(seconds=60 - seconds),
    )
    assert expires > datetime.now(UTC)
    return token


@FAST_BEATS
async def test_expired_access_token_closes_4003_unless_renewed(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    cashier = kit.members["cashier"]
    async with (
        hub_client(live_hub, short_lived(cashier.token, 2)) as expiring,
        hub_client(live_hub, short_lived(cashier.token, 2)) as renewing,
    ):
        assert 0 < expiring.hello["token_expires_in"] <= 2
        # Renew before expiry, with a token of the same user that lasts.
        assert await renewing.request("auth", {"token": cashier.token}) == {}
        await wait_for(lambda: not expiring.connected, 5)
        assert expiring.close_code == messages.CLOSE_TOKEN_EXPIRED
        await asyncio.sleep(0.5)
        assert renewing.connected
        assert "time" in await renewing.request("ping")


@pytest.mark.parametrize("settings", [{"ws_connects_per_window": 3}], indirect=True)
async def test_fourth_connection_in_the_window_is_closed_1013(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    token = kit.members["owner"].token
    realtime = live_hub.app.state.realtime
    async with (
        raw(live_hub, token=token) as one,
        raw(live_hub, token=token) as two,
        raw(live_hub, token=token) as three,
    ):
        for ws in (one, two, three):
            await hello(ws)
        async with raw(live_hub, token=token) as fourth:
            assert await closed_code(fourth) == messages.CLOSE_TRY_AGAIN_LATER
            assert fourth.close_reason
        async with raw(live_hub, token=token) as fifth:
            assert await closed_code(fifth) == messages.CLOSE_TRY_AGAIN_LATER
        assert len(realtime.connections) == 3
        # The three admitted are unaffected.
        for i, ws in enumerate((one, two, three)):
            await ws.send(JSON.encode({"type": "ping", "id": i}))
            assert (await recv_frames(ws))[0]["id"] == i
    # Another address has its own allowance.
    async with websockets.connect(
        live_hub.ws,
        additional_headers={"Authorization": f"Bearer {token}"},
        subprotocols=[JSON.name],  # type: ignore[list-item]
        ping_interval=None,
        local_addr=("127.0.0.2", 0),
    ) as elsewhere:
        assert (await hello(elsewhere))["payload"]["kind"] == "user"
    # REST is not counted against it.
    async with api(live_hub) as http:
        assert (await http.get("/healthz")).status_code == 200


@pytest.mark.parametrize("settings", [{"ws_connects_per_window": 3}], indirect=True)
async def test_rate_limit_counts_connections_that_fail_auth(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    for _ in range(3):
        async with raw(live_hub, token="garbage") as ws:
            assert await closed_code(ws) == messages.CLOSE_AUTH_FAILED
    async with raw(live_hub, token=kit.members["owner"].token) as ws:
        assert await closed_code(ws) == messages.CLOSE_TRY_AGAIN_LATER
