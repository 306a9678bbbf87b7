"""Backpressure: a subscriber that stops reading is closed as a slow consumer (4009) once
its send queue passes ws_max_queue_bytes, and the others on the channel still get every
event."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from hub.realtime.connection import CLOSE_TIMEOUT
from protocol import channels, messages
from protocol.client import Position
from protocol.codec import JSON, MSGPACK
from tests.conftest import LiveHub
from tests.e2e.ws_support import hello, hub_client, recv_until, tenant, wait_for

QUEUE = 65536
PAD = "x" * 1000
SMALL_QUEUE = pytest.mark.parametrize("settings", [{"ws_max_queue_bytes": QUEUE}], indirect=True)


@asynccontextmanager
async def stalled(live_hub: LiveHub, token: str) -> AsyncIterator[ClientConnection]:
    """A JSON client that does not read: a small receive buffer and a one-message queue,
    so the hub's writes soon stop going anywhere."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", live_hub.port))
        ws = await websockets.connect(
            live_hub.ws,
            sock=sock,
            subprotocols=[JSON.name],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Bearer {token}"},
            compression=None,
            max_size=2**24,
            max_queue=1,
            ping_interval=None,
            close_timeout=1,
        )
    except BaseException:
        sock.close()
        raise
    try:
        yield ws
    finally:
        await ws.close()


async def flood(
    live_hub: LiveHub,
    channel: str,
    until: Any,
    readers: list[list[dict[str, Any]]],
    *,
    first: int = 1,
    most: int = 60_000,
) -> int:
    """Publish ~1 KB events, 20 at a time, until `until()` (at most `most`). Before each
    20, every reader has had all but the last 20: a reader never has more than 40 events
    (~44 KB, under its queue limit) outstanding, so only a client that stops reading can
    fall behind. The number published."""
    broker = live_hub.app.state.realtime.broker
    n = 0
    while not until() and n < most:
        floor = first - 1 + n - 20
        await wait_for(lambda f=floor: all(len(r) >= f for r in readers), 10, interval=0)
        for _ in range(min(20, most - n)):
            await broker.publish(channel, "test.event", {"n": first + n, "pad": PAD})
            n += 1
        await asyncio.sleep(0)
    return n


@SMALL_QUEUE
async def test_slow_consumer_is_closed_and_others_get_everything(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    channel = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    realtime = live_hub.app.state.realtime
    got_json: list[dict[str, Any]] = []
    got_msgpack: list[dict[str, Any]] = []
    async with (
        stalled(live_hub, kit.members["owner"].token) as slow,
        hub_client(live_hub, kit.members["manager"].token, codec=MSGPACK) as fast,
        hub_client(live_hub, kit.members["cashier"].token, codec=JSON) as other,
    ):
        await hello(slow)
        await slow.send(
            JSON.encode({"type": "subscribe", "id": 1, "payload": {"channel": channel}})
        )
        await recv_until(slow, lambda f: f.get("id") == 1)
        fast.on_event = got_msgpack.append
        other.on_event = got_json.append
        await fast.subscribe(channel)
        await other.subscribe(channel)
        connections = list(realtime.connections.values())
        (slow_conn,) = [c for c in connections if c.principal.role == "owner"]

        started = time.monotonic()
        published = await flood(
            live_hub, channel, lambda: slow_conn.close_code is not None, [got_json, got_msgpack]
        )
        assert slow_conn.close_code == messages.CLOSE_SLOW_CONSUMER, published
        assert slow_conn.closed
        assert slow_conn.queued_bytes == 0  # its frames were dropped
        # After the slow one is gone, the channel goes on as before.
        readers = [got_json, got_msgpack]
        more = await flood(live_hub, channel, lambda: False, readers, first=published + 1, most=200)
        total = published + more
        await wait_for(lambda: len(got_json) >= total and len(got_msgpack) >= total, 15)
        await asyncio.sleep(0.1)
        for got in (got_json, got_msgpack):
            assert len(got) == total
            assert [e["seq"] for e in got] == list(range(1, total + 1))
            assert [e["payload"]["n"] for e in got] == list(range(1, total + 1))
        assert fast.connected
        assert other.connected
        for connection in connections:
            if connection is not slow_conn:
                assert connection.close_code is None
        assert time.monotonic() - started < 30


@SMALL_QUEUE
async def test_a_reading_client_is_never_a_slow_consumer(live_hub: LiveHub) -> None:
    """Well over the queue limit in total, but read as it comes: nobody is closed."""
    kit = await tenant(live_hub)
    channel = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    realtime = live_hub.app.state.realtime
    got: list[dict[str, Any]] = []
    async with hub_client(live_hub, kit.members["owner"].token, codec=MSGPACK) as client:
        client.on_event = got.append
        await client.subscribe(channel)
        (connection,) = realtime.connections.values()
        n = await flood(live_hub, channel, lambda: len(got) >= 2000, [got])
        await wait_for(lambda: len(got) == n)
        assert n * 1000 > 10 * QUEUE
        assert [e["seq"] for e in got] == list(range(1, n + 1))
        assert connection.close_code is None
        assert connection.frames_sent >= n
        # Many events went out in batches, fewer websocket messages than events.
        assert client.connected


@SMALL_QUEUE
async def test_slow_consumer_reconnects_and_recovers(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    channel = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    realtime = live_hub.app.state.realtime
    async with stalled(live_hub, kit.members["owner"].token) as slow:
        await hello(slow)
        await slow.send(
            JSON.encode({"type": "subscribe", "id": 1, "payload": {"channel": channel}})
        )
        ok = await recv_until(slow, lambda f: f.get("id") == 1)
        assert ok["payload"]["data"]["seq"] == 0
        (slow_conn,) = realtime.connections.values()
        published = await flood(live_hub, channel, lambda: slow_conn.close_code is not None, [])
        assert slow_conn.close_code == messages.CLOSE_SLOW_CONSUMER
    epoch, seq = await realtime.broker.position(channel)
    assert seq == published
    # What it missed is still in the history (1000 events): it resumes from there (the
    # last 40, which fit in its queue; see test_a_replay_larger_than_the_queue below).
    since = published - 40
    async with hub_client(live_hub, kit.members["owner"].token) as again:
        again.positions[channel] = Position(epoch, since)
        data = await again.subscribe(channel, resume=True)
        assert data["replayed"] == published - since
        events = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                while len(events) < published - since:
                    events.append(await again.events.get())
        assert [e["seq"] for e in events] == list(range(since + 1, published + 1))


@SMALL_QUEUE
async def test_a_stalled_consumer_is_dropped_and_forgotten(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    channel = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    realtime = live_hub.app.state.realtime
    async with stalled(live_hub, kit.members["owner"].token) as slow:
        await hello(slow)
        await slow.send(
            JSON.encode({"type": "subscribe", "id": 1, "payload": {"channel": channel}})
        )
        await recv_until(slow, lambda f: f.get("id") == 1)
        (slow_conn,) = realtime.connections.values()
        await flood(live_hub, channel, lambda: slow_conn.close_code is not None, [])
        assert slow_conn.close_code == messages.CLOSE_SLOW_CONSUMER
        await asyncio.sleep(CLOSE_TIMEOUT + 0.5)
        # Not even the close frame gets through a socket nobody reads: the hub stops
        # serving it, and forgets it with its subscriptions.
        assert slow_conn.id not in realtime.connections
        assert not slow_conn.subscriptions
        # Reading again, it finds the connection gone (4009 if the close frame made it
        # into the buffer, otherwise an abnormal closure).
        with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
            async with asyncio.timeout(3):
                while True:
                    await slow.recv()
        assert slow.close_code in (messages.CLOSE_SLOW_CONSUMER, 1006)


@SMALL_QUEUE
async def test_a_replay_larger_than_the_queue_is_not_a_slow_consumer(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    channel = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    realtime = live_hub.app.state.realtime
    for n in range(1, 201):  # ~200 KB of history, all within realtime_history
        await realtime.broker.publish(channel, "test.event", {"n": n, "pad": PAD})
    epoch, _ = await realtime.broker.position(channel)
    async with hub_client(live_hub, kit.members["owner"].token, codec=MSGPACK) as client:
        client.positions[channel] = Position(epoch, 0)
        data = await client.subscribe(channel, resume=True)
        assert data["replayed"] == 200
        events = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while len(events) < 200:
                    events.append(await client.events.get())
        assert [e["seq"] for e in events] == list(range(1, 201))
        assert client.connected
