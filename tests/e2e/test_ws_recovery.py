"""Recovery after a disconnect: `subscribe` with `since` replays exactly what was missed,
in order, or says `resync` when it cannot (history too short, another epoch)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

import pytest

from protocol import channels
from protocol.codec import JSON, Codec
from tests.conftest import LiveHub
from tests.e2e.ws_support import (
    CODEC_IDS,
    CODECS,
    drain_events,
    hello,
    hub_client,
    no_more_events,
    raw,
    recv_until,
    tenant,
)
from tests.helpers import TenantKit


def shop_channel(kit: TenantKit) -> str:
    return channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name


async def publish(live_hub: LiveHub, channel: str, first: int, n: int) -> None:
    broker = live_hub.app.state.realtime.broker
    for i in range(first, first + n):
        await broker.publish(channel, "test.event", {"n": i})


async def resubscribe(
    live_hub: LiveHub, token: str, codec: Codec, channel: str, since: dict[str, Any] | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A new connection subscribing with `since`: the `ok`, then every frame that follows
    up to the reply of a ping sent afterwards (which comes after the replay)."""
    async with raw(live_hub, token=token, codec=codec) as ws:
        await hello(ws, codec)
        payload: dict[str, Any] = {"channel": channel}
        if since is not None:
            payload["since"] = since
        await ws.send(codec.encode({"type": "subscribe", "id": "sub", "payload": payload}))
        await ws.send(codec.encode({"type": "ping", "id": "after"}))
        seen: list[dict[str, Any]] = []
        await recv_until(ws, lambda f: f.get("id") == "after", codec, seen=seen)
    assert seen[0]["type"] == "ok", seen[0]
    assert seen[0]["id"] == "sub"
    return seen[0]["payload"]["data"], seen[1:-1]


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_since_replays_exactly_what_was_missed(live_hub: LiveHub, codec: Codec) -> None:
    kit = await tenant(live_hub)
    channel = shop_channel(kit)
    token = kit.members["cashier"].token
    async with hub_client(live_hub, token, codec=codec) as client:
        first = await client.subscribe(channel)
        assert (first["epoch"], first["seq"], first["replayed"]) == (None, 0, 0)
        await publish(live_hub, channel, 1, 5)
        seen = await drain_events(client, 5)
        assert [e["seq"] for e in seen] == [1, 2, 3, 4, 5]
        epoch = seen[0]["epoch"]
        assert client.positions[channel].seq == 5
    await publish(live_hub, channel, 6, 50)
    data, frames = await resubscribe(live_hub, token, codec, channel, {"epoch": epoch, "seq": 5})
    assert data == {"channel": channel, "epoch": epoch, "seq": 55, "replayed": 50}
    assert [f["type"] for f in frames] == ["test.event"] * 50
    assert [f["seq"] for f in frames] == list(range(6, 56))
    assert [f["payload"]["n"] for f in frames] == list(range(6, 56))
    assert {f["epoch"] for f in frames} == {epoch}
    assert {f["channel"] for f in frames} == {channel}


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_since_at_the_current_position_replays_nothing(
    live_hub: LiveHub, codec: Codec
) -> None:
    kit = await tenant(live_hub)
    channel = shop_channel(kit)
    await publish(live_hub, channel, 1, 7)
    epoch, seq = await live_hub.app.state.realtime.broker.position(channel)
    assert seq == 7
    token = kit.members["owner"].token
    data, frames = await resubscribe(live_hub, token, codec, channel, {"epoch": epoch, "seq": 7})
    assert (data["seq"], data["replayed"], frames) == (7, 0, [])
    # seq 0 of the right epoch: the whole history.
    data, frames = await resubscribe(live_hub, token, codec, channel, {"epoch": epoch, "seq": 0})
    assert data["replayed"] == 7
    assert [f["seq"] for f in frames] == list(range(1, 8))


@pytest.mark.parametrize("settings", [{"realtime_history": 20}], indirect=True)
@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_since_beyond_history_gets_resync(live_hub: LiveHub, codec: Codec) -> None:
    kit = await tenant(live_hub)
    channel = shop_channel(kit)
    token = kit.members["manager"].token
    await publish(live_hub, channel, 1, 5)
    epoch, _ = await live_hub.app.state.realtime.broker.position(channel)
    await publish(live_hub, channel, 6, 50)
    data, frames = await resubscribe(live_hub, token, codec, channel, {"epoch": epoch, "seq": 5})
    assert data == {"channel": channel, "epoch": epoch, "seq": 55, "replayed": 0}
    assert frames == [
        {
            "type": "resync",
            "payload": {"channel": channel, "epoch": epoch, "seq": 55, "reason": "beyond history"},
        }
    ]
    # The last 20 are still there: a position inside them replays.
    data, frames = await resubscribe(live_hub, token, codec, channel, {"epoch": epoch, "seq": 35})
    assert data["replayed"] == 20
    assert [f["seq"] for f in frames] == list(range(36, 56))
    # One before them is not.
    _, frames = await resubscribe(live_hub, token, codec, channel, {"epoch": epoch, "seq": 34})
    assert [f["type"] for f in frames] == ["resync"]


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_wrong_epoch_or_future_seq_gets_resync(live_hub: LiveHub, codec: Codec) -> None:
    kit = await tenant(live_hub)
    channel = shop_channel(kit)
    token = kit.members["owner"].token
    await publish(live_hub, channel, 1, 3)
    epoch, seq = await live_hub.app.state.realtime.broker.position(channel)
    expected_resync = {"channel": channel, "epoch": epoch, "seq": 3}
    for since, reason in [
        ({"epoch": "not-the-epoch", "seq": 1}, "history lost"),
        ({"epoch": "not-the-epoch", "seq": 0}, "history lost"),
        ({"epoch": epoch, "seq": 4}, "beyond history"),
        ({"epoch": epoch, "seq": 2**62}, "beyond history"),
    ]:
        data, frames = await resubscribe(live_hub, token, codec, channel, since)
        assert (data["epoch"], data["seq"], data["replayed"]) == (epoch, seq, 0)
        assert frames == [{"type": "resync", "payload": expected_resync | {"reason": reason}}]
    # A channel that never had an event has no history to resume.
    fresh = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.second_shop_id)).name
    data, frames = await resubscribe(live_hub, token, codec, fresh, {"epoch": epoch, "seq": 2})
    assert (data["epoch"], data["seq"]) == (None, 0)
    assert [(f["type"], f["payload"]["reason"]) for f in frames] == [("resync", "no history")]
    # ...but from seq 0 there is nothing to have missed.
    data, frames = await resubscribe(live_hub, token, codec, fresh, {"epoch": "e", "seq": 0})
    assert ((data["epoch"], data["seq"]), frames) == ((None, 0), [])


async def test_live_events_follow_the_replay_without_gap(live_hub: LiveHub) -> None:
    """Events published while the subscription replays come after it, none lost or doubled."""
    kit = await tenant(live_hub)
    channel = shop_channel(kit)
    await publish(live_hub, channel, 1, 30)
    epoch, _ = await live_hub.app.state.realtime.broker.position(channel)

    async def keep_publishing() -> None:
        for i in range(31, 231):
            await live_hub.app.state.realtime.broker.publish(channel, "test.event", {"n": i})
            await asyncio.sleep(0)

    async with raw(live_hub, token=kit.members["owner"].token) as ws:
        await hello(ws)
        publisher = asyncio.create_task(keep_publishing())
        await asyncio.sleep(0.01)
        await ws.send(
            JSON.encode(
                {
                    "type": "subscribe",
                    "id": 1,
                    "payload": {"channel": channel, "since": {"epoch": epoch, "seq": 10}},
                }
            )
        )
        seen: list[dict[str, Any]] = []
        await recv_until(ws, lambda f: f.get("seq") == 230, seen=seen)
        await publisher
    (ok,) = [f for f in seen if f["type"] == "ok"]
    events = [f for f in seen if f["type"] == "test.event"]
    assert seen[0] is ok
    assert [f["seq"] for f in events] == list(range(11, 231))
    assert ok["payload"]["data"]["replayed"] == ok["payload"]["data"]["seq"] - 10


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_hub_client_reconnect_recovers_everything(live_hub: LiveHub, codec: Codec) -> None:
    kit = await tenant(live_hub)
    shop = shop_channel(kit)
    cart = channels.cart(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id), uuid.uuid4()).name
    async with hub_client(live_hub, kit.members["cashier"].token, codec=codec) as c:
        await c.subscribe(shop)
        await c.subscribe(cart)
        await publish(live_hub, shop, 1, 5)
        await publish(live_hub, cart, 1, 2)
        assert [e["seq"] for e in await drain_events(c, 7)] == [1, 2, 3, 4, 5, 1, 2]
        # The connection drops (the client goes away); meanwhile the shop moves on.
        await c.close()
        await publish(live_hub, shop, 6, 50)
        await publish(live_hub, cart, 3, 4)
        await c.reconnect(delays=itertools.repeat(0.0))
        assert c.connected
        events = await drain_events(c, 54)
        shop_events = [e for e in events if e["channel"] == shop]
        cart_events = [e for e in events if e["channel"] == cart]
        assert [e["seq"] for e in shop_events] == list(range(6, 56))
        assert [e["payload"]["n"] for e in shop_events] == list(range(6, 56))
        assert [e["seq"] for e in cart_events] == [3, 4, 5, 6]
        assert c.positions[shop].seq == 55
        assert c.positions[cart].seq == 6
        # And live again.
        await publish(live_hub, shop, 56, 1)
        (live,) = await drain_events(c, 1)
        assert (live["seq"], live["payload"]["n"]) == (56, 56)
        await no_more_events(c)


@pytest.mark.parametrize("settings", [{"realtime_history": 20}], indirect=True)
async def test_hub_client_reconnect_beyond_history_resyncs(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    shop = shop_channel(kit)
    resyncs: list[dict[str, Any]] = []
    async with hub_client(live_hub, kit.members["owner"].token) as c:
        c.on_resync = resyncs.append
        await c.subscribe(shop)
        await publish(live_hub, shop, 1, 5)
        await drain_events(c, 5)
        await c.close()
        await publish(live_hub, shop, 6, 50)
        await c.reconnect(delays=itertools.repeat(0.0))
        (frame,) = await drain_events(c, 1)
        assert frame["type"] == "resync"
        assert frame["payload"]["seq"] == 55
        assert resyncs == [frame]
        assert c.positions[shop].seq == 55
        await publish(live_hub, shop, 56, 2)
        assert [e["seq"] for e in await drain_events(c, 2)] == [56, 57]
        await no_more_events(c)


async def test_hub_client_reconnect_on_a_channel_that_was_empty(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    shop = shop_channel(kit)
    async with hub_client(live_hub, kit.members["owner"].token) as c:
        data = await c.subscribe(shop)
        assert (data["epoch"], data["seq"]) == (None, 0)
        await c.close()
        await publish(live_hub, shop, 1, 50)
        await c.reconnect(delays=itertools.repeat(0.0))
        # Either the 50 events or a resync; not silence.
        first = await asyncio.wait_for(c.events.get(), 2)
        assert first["type"] == "resync" or first["seq"] == 1
