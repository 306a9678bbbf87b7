"""Channel authorization over the websocket: tenant first, then shop and role; every
request answered by exactly one reply carrying its id."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from protocol import channels
from protocol.codec import JSON, MSGPACK, Codec
from tests.conftest import LiveHub
from tests.e2e.ws_support import (
    CODEC_IDS,
    CODECS,
    api,
    hello,
    hub_client,
    no_more_events,
    raw,
    recv_until,
    tenant,
    tenants,
)
from tests.helpers import TenantKit


def every_channel(kit: TenantKit, *, user: str = "owner") -> dict[str, str]:
    """One channel of each kind of the tenant (both shops), named by what it is."""
    t, s1, s2 = uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id), uuid.UUID(kit.second_shop_id)
    cart = uuid.uuid4()
    return {
        "shop": channels.shop(t, s1).name,
        "sales": channels.sales(t, s1).name,
        "carts": channels.carts(t, s1).name,
        "cart": channels.cart(t, s1, cart).name,
        "shop2": channels.shop(t, s2).name,
        "sales2": channels.sales(t, s2).name,
        "carts2": channels.carts(t, s2).name,
        "cart2": channels.cart(t, s2, cart).name,
        "tasks": channels.tasks(t, uuid.UUID(kit.members[user].id)).name,
        "device": channels.device(t, uuid.UUID(kit.device_id)).name,
    }


async def pipelined(
    ws: ClientConnection, requests: list[dict[str, Any]], codec: Codec
) -> dict[Any, list[dict[str, Any]]]:
    """Send every request at once, then a sentinel ping; every reply by request id.

    Replies come in order, so once the sentinel's reply is in, every earlier request has
    had all the replies it will ever get."""
    for frame in requests:
        await ws.send(codec.encode(frame))
    await ws.send(codec.encode({"type": "ping", "id": "sentinel"}))
    seen: list[dict[str, Any]] = []
    await recv_until(ws, lambda f: f.get("id") == "sentinel", codec, seen=seen)
    replies: dict[Any, list[dict[str, Any]]] = {}
    for frame in seen:
        if frame["type"] in ("ok", "error"):
            replies.setdefault(frame.get("id"), []).append(frame)
    assert [f["type"] for f in replies.pop("sentinel")] == ["ok"]
    # The automatic subscription to one's own (device or user) channel is the only reply
    # without an id.
    own = replies.pop(None, [])
    assert len(own) <= 1
    for frame in own:
        assert frame["type"] == "ok"
        assert re.search(r":(device|user):[0-9a-f-]+$", frame["payload"]["data"]["channel"])
    return replies


def subscribe(id_: Any, channel: Any) -> dict[str, Any]:
    return {"type": "subscribe", "id": id_, "payload": {"channel": channel}}


def outcome(replies: list[dict[str, Any]]) -> str:
    (reply,) = replies  # exactly one
    return "ok" if reply["type"] == "ok" else reply["payload"]["code"]


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize("role", ["owner", "manager", "cashier", "stockkeeper", "device"])
async def test_no_channel_of_another_tenant(live_hub: LiveHub, codec: Codec, role: str) -> None:
    mine, theirs = await tenants(live_hub, 2)
    token = mine.device_token if role == "device" else mine.members[role].token
    targets = every_channel(theirs)
    # Their tenant with my shop, user and device ids: still theirs.
    t = uuid.UUID(theirs.tenant_id)
    targets["mixed-shop"] = channels.shop(t, uuid.UUID(mine.shop_id)).name
    targets["mixed-cart"] = channels.cart(t, uuid.UUID(mine.shop_id), uuid.uuid4()).name
    targets["mixed-device"] = channels.device(t, uuid.UUID(mine.device_id)).name
    if role != "device":
        targets["mixed-tasks"] = channels.tasks(t, uuid.UUID(mine.members[role].id)).name
    realtime = live_hub.app.state.realtime
    async with raw(live_hub, token=token, codec=codec) as ws:
        await hello(ws, codec)
        replies = await pipelined(
            ws, [subscribe(name, channel) for name, channel in targets.items()], codec
        )
        assert set(replies) == set(targets)
        for name, got in replies.items():
            assert outcome(got) == "permission_denied", name
            assert theirs.tenant_id not in str(got[0]["payload"]["message"])
        (connection,) = realtime.connections.values()
        assert not any(theirs.tenant_id in c for c in connection.subscriptions)
        # And no event of theirs reaches me.
        for channel in targets.values():
            await realtime.broker.publish(channel, "test.event", {"secret": theirs.tenant_id})
        reply = await pipelined(ws, [{"type": "ping", "id": 1}], codec)
        assert outcome(reply[1]) == "ok"


EXPECTED: dict[str, dict[str, str]] = {
    # role → channel → outcome (anything not listed: permission_denied)
    "owner": dict.fromkeys(
        ("shop", "sales", "carts", "cart", "shop2", "sales2", "carts2", "cart2", "tasks"), "ok"
    ),
    "manager": dict.fromkeys(("shop", "sales", "carts", "cart", "tasks"), "ok"),
    "cashier": {"shop": "ok", "cart": "ok", "tasks": "ok"},
    "stockkeeper": {"shop": "ok", "tasks": "ok"},
    "device": {"shop": "ok", "cart": "ok", "device": "ok"},
}


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize("role", sorted(EXPECTED))
async def test_role_and_shop_matrix(live_hub: LiveHub, codec: Codec, role: str) -> None:
    kit = await tenant(live_hub)
    token = kit.device_token if role == "device" else kit.members[role].token
    targets = every_channel(kit, user="owner" if role == "device" else role)
    t = uuid.UUID(kit.tenant_id)
    others = [m for r, m in kit.members.items() if r != role]
    for member in others:
        targets[f"tasks-of-{member.username}"] = channels.tasks(t, uuid.UUID(member.id)).name
        targets[f"user-{member.username}"] = channels.user(t, uuid.UUID(member.id)).name
    targets["other-device"] = channels.device(t, uuid.uuid4()).name
    if role == "device":
        targets["tasks"] = channels.tasks(t, uuid.UUID(kit.members["owner"].id)).name
    expected = {name: EXPECTED[role].get(name, "permission_denied") for name in targets}
    realtime = live_hub.app.state.realtime
    async with raw(live_hub, token=token, codec=codec) as ws:
        await hello(ws, codec)
        replies = await pipelined(
            ws, [subscribe(f"req-{name}", channel) for name, channel in targets.items()], codec
        )
        got = {rid.removeprefix("req-"): outcome(r) for rid, r in replies.items()}
        assert got == expected
        (connection,) = realtime.connections.values()
        allowed = {targets[n] for n, o in expected.items() if o == "ok"}
        if role != "device":  # a user is also subscribed to its own channel, by the hub
            allowed.add(channels.user(t, uuid.UUID(kit.members[role].id)).name)
        assert set(connection.subscriptions) == allowed
        # Each `ok` reports the channel it answers.
        for rid, (reply,) in replies.items():
            if reply["type"] == "ok":
                assert reply["payload"]["data"]["channel"] == targets[rid.removeprefix("req-")]


async def test_cashier_receives_only_what_it_may(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    t, s1 = uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)
    shop, sales = channels.shop(t, s1).name, channels.sales(t, s1).name
    broker = live_hub.app.state.realtime.broker
    async with hub_client(live_hub, kit.members["cashier"].token, codec=MSGPACK) as cashier:
        await cashier.subscribe(shop)
        with pytest.raises(Exception) as denied:
            await cashier.subscribe(sales)
        assert getattr(denied.value, "code", None) == "permission_denied"
        await broker.publish(sales, "sale.completed", {"n": 1})
        await broker.publish(shop, "shop.updated", {"n": 2})
        event = await cashier.events.get()
        assert (event["type"], event["channel"], event["payload"]) == (
            "shop.updated",
            shop,
            {"n": 2},
        )
        await no_more_events(cashier)


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_malformed_channel_names(live_hub: LiveHub, codec: Codec) -> None:
    kit = await tenant(live_hub)
    t, s = kit.tenant_id, kit.shop_id
    invalid = [
        "foo",
        "a:b:c:d",
        "tenant",
        f"tenant:{t}",
        f"tenant:{t}:shop",
        f"tenant:{t}:shop:",
        f"tenant:{t}:shop:{s}:",
        f"tenant:{t}:shop:{s}:extra",
        f"tenant:{t}:shop:{s}:cart",
        f"tenant:{t}:shop:{s}:cart:not-a-uuid",
        f"tenant:{t}:shop:{s}:sales:{s}",
        f"tenant:{t}:user:{s}:extra",
        f"tenant:{t}:device:{s}:tasks",
        f"tenant:{t.upper()}:shop:{s}",
        f"tenant:{t}:shop:{s.upper()}",
        f"tenant:{t.replace('-', '')}:shop:{s}",
        f"tenant:{{{t}}}:shop:{s}",
        f" tenant:{t}:shop:{s}",
        f"tenant:{t}:shop:{s} ",
        f"TENANT:{t}:shop:{s}",
        f"tenant:{t}:SHOP:{s}",
        f"tenant:{t}:shop:{s}\x00",
        f"tenant:{t}:shop:{s[:-1]}\u0660",
        "tenant:00000000-0000-0000-0000-00000000000g:shop:" + s,
        "tenant:" + ":" * 150,
    ]
    invalid_payload = ["", "x" * 201, 12, None, ["a"], {"a": 1}, True]
    requests = [subscribe(i, name) for i, name in enumerate(invalid)]
    requests += [subscribe(f"v{i}", name) for i, name in enumerate(invalid_payload)]
    # 20 errors in a row close the connection: a good request now and then.
    for at in range(len(requests) - 10, 0, -10):
        requests.insert(at, {"type": "ping", "id": f"ping-{at}"})
    async with raw(live_hub, token=kit.members["owner"].token, codec=codec) as ws:
        await hello(ws, codec)
        replies = await pipelined(ws, requests, codec)
    assert len(replies) == len(requests)
    assert all(outcome(r) == "ok" for k, r in replies.items() if str(k).startswith("ping-"))
    for i, name in enumerate(invalid):
        assert outcome(replies[i]) == "channel_invalid", name
    for i, name in enumerate(invalid_payload):
        (reply,) = replies[f"v{i}"]
        assert reply["payload"]["code"] == "validation_error", name
        assert "channel" in reply["payload"]["fields"], reply


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_unsubscribe(live_hub: LiveHub, codec: Codec) -> None:
    mine, theirs = await tenants(live_hub, 2)
    t, s = uuid.UUID(mine.tenant_id), uuid.UUID(mine.shop_id)
    shop, sales = channels.shop(t, s).name, channels.sales(t, s).name
    other = channels.shop(uuid.UUID(theirs.tenant_id), uuid.UUID(theirs.shop_id)).name
    broker = live_hub.app.state.realtime.broker
    async with raw(live_hub, token=mine.members["cashier"].token, codec=codec) as ws:
        await hello(ws, codec)
        replies = await pipelined(
            ws,
            [
                {"type": "unsubscribe", "id": "never", "payload": {"channel": shop}},
                {"type": "unsubscribe", "id": "theirs", "payload": {"channel": other}},
                {"type": "unsubscribe", "id": "junk", "payload": {"channel": "junk"}},
                subscribe("denied", sales),
                {"type": "unsubscribe", "id": "after-denied", "payload": {"channel": sales}},
                subscribe("sub", shop),
                {"type": "unsubscribe", "id": "unsub", "payload": {"channel": shop}},
                {"type": "unsubscribe", "id": "again", "payload": {"channel": shop}},
                {"type": "unsubscribe", "id": "empty", "payload": {}},
            ],
            codec,
        )
        assert {k: outcome(v) for k, v in replies.items()} == {
            "never": "not_subscribed",
            "theirs": "not_subscribed",
            "junk": "not_subscribed",
            "denied": "permission_denied",
            "after-denied": "not_subscribed",
            "sub": "ok",
            "unsub": "ok",
            "again": "not_subscribed",
            "empty": "validation_error",
        }
        assert replies["unsub"][0]["payload"]["data"] == {"channel": shop}
        # Unsubscribed: nothing more arrives.
        await broker.publish(shop, "shop.updated", {"n": 1})
        seen: list[dict[str, Any]] = []
        await ws.send(codec.encode({"type": "ping", "id": "last"}))
        await recv_until(ws, lambda f: f.get("id") == "last", codec, seen=seen)
        assert [f["type"] for f in seen] == ["ok"]


async def test_subscribing_twice_does_not_duplicate_events(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    shop = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    broker = live_hub.app.state.realtime.broker
    async with raw(live_hub, token=kit.members["owner"].token, codec=JSON) as ws:
        await hello(ws)
        replies = await pipelined(ws, [subscribe(1, shop), subscribe(2, shop)], JSON)
        assert outcome(replies[1]) == outcome(replies[2]) == "ok"
        await broker.publish(shop, "shop.updated", {"n": 1})
        await ws.send(JSON.encode({"type": "ping", "id": "last"}))
        seen: list[dict[str, Any]] = []
        await recv_until(ws, lambda f: f.get("id") == "last", JSON, seen=seen)
        assert [f["type"] for f in seen] == ["shop.updated", "ok"]


@pytest.mark.parametrize("settings", [{"ws_max_subscriptions": 3}], indirect=True)
async def test_a_connection_hears_a_bounded_number_of_channels(live_hub: LiveHub) -> None:
    """Each channel heard costs a broker subscription: three here, the connection's own
    channel among them; one more is refused until one is given up."""
    kit = await tenant(live_hub)
    t, s = uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)
    carts = [channels.cart(t, s, uuid.uuid4()).name for _ in range(3)]
    async with raw(live_hub, token=kit.members["cashier"].token, codec=JSON) as ws:
        await hello(ws)
        replies = await pipelined(
            ws,
            [
                subscribe("first", carts[0]),
                subscribe("second", carts[1]),
                subscribe("third", carts[2]),
                subscribe("again", carts[1]),  # already heard: no more than before
                {"type": "unsubscribe", "id": "give-up", "payload": {"channel": carts[0]}},
                subscribe("now", carts[2]),
            ],
            JSON,
        )
    assert {k: outcome(v) for k, v in replies.items()} == {
        "first": "ok",
        "second": "ok",
        "third": "too_many_subscriptions",
        "again": "ok",
        "give-up": "ok",
        "now": "ok",
    }


async def test_two_tenants_on_one_hub_hear_only_themselves(live_hub: LiveHub) -> None:
    a, b = await tenants(live_hub, 2)
    a_shop = channels.shop(uuid.UUID(a.tenant_id), uuid.UUID(a.shop_id)).name
    b_shop = channels.shop(uuid.UUID(b.tenant_id), uuid.UUID(b.shop_id)).name
    async with (
        hub_client(live_hub, a.members["owner"].token) as ca,
        hub_client(live_hub, b.members["owner"].token, codec=MSGPACK) as cb,
    ):
        await ca.subscribe(a_shop)
        await cb.subscribe(b_shop)
        async with api(live_hub) as http:
            for kit, name in ((a, "A renamed"), (b, "B renamed")):
                out = await http.patch(
                    f"/api/core/shops/{kit.shop_id}/",
                    json={"name": name},
                    headers=kit.token("owner"),
                )
                assert out.status_code == 200, out.text
        ea, eb = await ca.events.get(), await cb.events.get()
        assert (ea["type"], ea["channel"], ea["payload"]["name"]) == (
            "shop.updated",
            a_shop,
            "A renamed",
        )
        assert (eb["type"], eb["channel"], eb["payload"]["name"]) == (
            "shop.updated",
            b_shop,
            "B renamed",
        )
        await no_more_events(ca)
        await no_more_events(cb)
