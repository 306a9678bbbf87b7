"""Hostile frames on a live, authenticated connection: each gets one error reply (or a
close with its code), the hub never crashes, and no reply leaks another tenant."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import msgpack
import pytest
import websockets

from protocol import channels, messages
from protocol.codec import JSON, Codec
from tests.conftest import LiveHub
from tests.e2e.ws_support import (
    CODEC_IDS,
    CODECS,
    closed_code,
    hello,
    hub_client,
    raw,
    recv_frames,
    recv_until,
    server_errors,
    tenants,
    wait_for,
)
from tests.helpers import TenantKit

MALFORMED, UNKNOWN, INVALID = "malformed_frame", "unknown_type", "validation_error"
CHANNEL_INVALID, DENIED, TOKEN_INVALID = "channel_invalid", "permission_denied", "token_invalid"
Case = tuple[str | bytes, frozenset[str], Any]


def one_of(*outcomes: str) -> frozenset[str]:
    """The outcomes a frame may get: an error code, or "ok" for a valid odd request."""
    return frozenset(outcomes)


BAD = one_of(MALFORMED)
# Values msgpack has and JSON has not (bytes, big integers) may be refused when decoding
# or when validating; either way one error reply.
NOT_JSON = one_of(MALFORMED, INVALID, CHANNEL_INVALID)


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def _sub(id_: Any, channel: Any, since: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"channel": channel}
    if since is not None:
        payload["since"] = since
    return {"type": "subscribe", "id": id_, "payload": payload}


def _their_channel(other: TenantKit) -> str:
    return channels.sales(uuid.UUID(other.tenant_id), uuid.UUID(other.shop_id)).name


def json_cases(other: TenantKit) -> list[Case]:
    """(frame, acceptable outcomes, the id its reply must carry if any) on JSON."""
    deep = '{"type":"ping","id":"deep","payload":' + "[" * 40 + "]" * 40 + "}"
    very_deep = '{"type":"ping","payload":' + "[" * 5000 + "]" * 5000 + "}"
    since = {"epoch": "", "seq": -1}
    return [
        (b"\x00\x01binary on a json connection", BAD, None),
        (pack({"type": "ping", "id": 1}), BAD, None),
        ("", BAD, None),
        ("not json", BAD, None),
        ('{"type":"ping"', BAD, None),
        ("[1, 2, 3]", BAD, None),
        ("42", BAD, None),
        ('"ping"', BAD, None),
        ("null", BAD, None),
        ("true", BAD, None),
        ('{"type":"ping","id":1,"payload":NaN}', BAD, None),
        ('{"type":"ping","id":Infinity}', BAD, None),
        ('{"type":"ping","id":1e400}', BAD, None),
        ('{"type":5,"id":1}', BAD, 1),
        ('{"type":"ping","id":1.5}', BAD, None),
        ('{"type":"ping","id":true}', BAD, None),
        ('{"type":"ping","id":[1]}', BAD, None),
        ('{"type":"ping","id":{"a":1}}', BAD, None),
        ('{"type":"ping","id":"x","channel":7}', BAD, "x"),
        ('{"type":"ping","id":"x","seq":"1"}', BAD, "x"),
        ('{"type":"ping","id":"x","seq":true}', BAD, "x"),
        ('{"type":"ping","id":"x","epoch":null}', BAD, "x"),
        ('{"id":"u1"}', one_of(UNKNOWN), "u1"),
        ('{"type":"nope","id":"u2"}', one_of(UNKNOWN), "u2"),
        ('{"type":"batch","id":"u3","payload":[]}', one_of(UNKNOWN), "u3"),
        ('{"type":"hello","id":"u4"}', one_of(UNKNOWN), "u4"),
        ('{"type":"PING","id":"u5"}', one_of(UNKNOWN), "u5"),
        ('{"type":"' + "t" * 5000 + '","id":"u6"}', one_of(UNKNOWN, MALFORMED), "u6"),
        ('{"type":"ping","id":"v1","payload":[1]}', one_of(INVALID), "v1"),
        ('{"type":"ping","id":"v2","payload":"x"}', one_of(INVALID), "v2"),
        ('{"type":"ping","id":"v3","payload":{"extra":1}}', one_of(INVALID), "v3"),
        ('{"type":"subscribe","id":"v4"}', one_of(INVALID), "v4"),
        (
            '{"type":"subscribe","id":"v5","payload":{"channel":"x","since":"now"}}',
            one_of(INVALID),
            "v5",
        ),
        (JSON.encode(_sub("v6", "x", since)), one_of(INVALID), "v6"),
        (JSON.encode(_sub("v7", "x", {"epoch": "e", "seq": 2**70})), one_of(INVALID), "v7"),
        (JSON.encode(_sub("v8", "x", {"epoch": "e", "seq": 1, "more": 1})), one_of(INVALID), "v8"),
        ('{"type":"auth","id":"v9","payload":{}}', one_of(INVALID), "v9"),
        ('{"type":"auth","id":"v10","payload":{"token":""}}', one_of(INVALID), "v10"),
        ('{"type":"unsubscribe","id":"v11","payload":{"channel":null}}', one_of(INVALID), "v11"),
        # Odd but not wrong on the wire; a hub may still refuse such ids.
        ('{"type":"ping","id":' + "9" * 40 + "}", one_of("ok", MALFORMED), int("9" * 40)),
        ('{"type":"ping","id":"' + "i" * 5000 + '"}', one_of("ok", MALFORMED), "i" * 5000),
        (deep, BAD, "deep"),
        (very_deep, BAD, None),
        ('{"type":"auth","id":"a1","payload":{"token":"garbage"}}', one_of(TOKEN_INVALID), "a1"),
        ('{"type":"auth","id":"a2","payload":{"token":"dt_garbage"}}', one_of(TOKEN_INVALID), "a2"),
        (
            JSON.encode({"type": "auth", "id": "a3", "payload": {"token": other.device_token}}),
            one_of(DENIED),
            "a3",
        ),
        (
            JSON.encode(
                {"type": "auth", "id": "a4", "payload": {"token": other.members["owner"].token}}
            ),
            one_of(DENIED),
            "a4",
        ),
        (JSON.encode(_sub("p1", _their_channel(other))), one_of(DENIED), "p1"),
    ]


def msgpack_cases(other: TenantKit) -> list[Case]:
    valid = pack({"type": "ping", "id": "trunc", "payload": {}})
    nested: Any = []
    for _ in range(40):
        nested = [nested]
    return [
        ('{"type":"ping","id":1}', BAD, None),  # text on a msgpack connection
        (b"", BAD, None),
        (b"\xc1", BAD, None),  # the never-used byte
        (valid[:-1], BAD, None),
        (valid[: len(valid) // 2], BAD, None),
        (valid + b"\x00", BAD, None),  # extra data
        (b"\xdb\xff\xff\xff\xff" + b"x" * 8, BAD, None),  # str32 of 4 GiB
        (b"\xc6\xff\xff\xff\xff" + b"x" * 8, BAD, None),  # bin32 of 4 GiB
        (b"\xdd\xff\xff\xff\xff" + b"\xc0" * 8, BAD, None),  # array32 of 4 G items
        (b"\xdf\xff\xff\xff\xff" + b"\xc0" * 8, BAD, None),  # map32 of 4 G pairs
        (b"\xc9\xff\xff\xff\xff\x01" + b"x" * 8, BAD, None),  # ext32 of 4 GiB
        (b"\xdc\xff\xff" + b"\xc0" * 4, BAD, None),  # array16 cut short
        (b"\x81\xa4type" + b"\xda\xff\xff" + b"p", BAD, None),  # str16 cut short
        (pack(msgpack.ExtType(5, b"boom")), BAD, None),
        (pack({"type": "ping", "id": "e", "payload": msgpack.ExtType(1, b"x")}), BAD, "e"),
        (b"\x83\xa4type\xa4ping\xa2id\xa1t\xa7payload\xd6\xff\x00\x00\x00\x01", NOT_JSON, "t"),
        (b"\x81\x01\x02", BAD, None),  # an integer key
        (b"\x81\xc0\x02", BAD, None),  # a nil key
        (b"\x82\xa4type\xa4ping\xa2id\xa2\xff\xfe", BAD, None),  # invalid UTF-8
        (pack([1, 2, 3]), BAD, None),
        (pack(7), BAD, None),
        (pack(float("nan")), BAD, None),
        (pack(None), BAD, None),
        (pack("ping"), BAD, None),
        (pack({"type": "ping", "id": "n", "payload": {"x": float("inf")}}), NOT_JSON, "n"),
        (pack({"type": b"ping", "id": 1}), BAD, 1),
        (pack({"type": "ping", "id": b"\x01"}), BAD, None),
        (pack({"type": "ping", "id": 1.0}), BAD, None),
        (pack({"type": "ping", "id": False}), BAD, None),
        (pack({"type": "ping", "id": None}), BAD, None),
        (pack({"type": "ping", "id": "x", "seq": 1.5}), BAD, "x"),
        (pack({"type": "ping", "id": "d", "payload": nested}), BAD, "d"),
        (pack({b"type": "ping", "id": "u0"}), one_of(UNKNOWN, MALFORMED), "u0"),
        (pack({"type": "nope", "id": "u1"}), one_of(UNKNOWN), "u1"),
        (pack({"type": "", "id": 2**64 - 1}), one_of(UNKNOWN, MALFORMED), 2**64 - 1),
        (
            pack({"type": "ping", "id": -(2**63), "payload": [1]}),
            one_of(INVALID, MALFORMED),
            -(2**63),
        ),
        (pack({"type": "ping", "id": "v2", "payload": b"bytes"}), NOT_JSON, "v2"),
        (pack(_sub("v3", b"bytes-channel")), NOT_JSON, "v3"),
        (pack(_sub("v4", 12)), one_of(INVALID), "v4"),
        (pack(_sub("v5", "x", {"epoch": b"e", "seq": 1})), NOT_JSON, "v5"),
        (pack(_sub("v6", "x", {"epoch": "e", "seq": -1})), one_of(INVALID), "v6"),
        (pack(_sub("v7", "x", {"epoch": "e", "seq": 2**64 - 1})), one_of(INVALID), "v7"),
        (pack({"type": "subscribe", "id": "v8", "payload": {"channel": "x", 1: 2}}), BAD, "v8"),
        (
            pack({"type": "auth", "id": "a1", "payload": {"token": "garbage"}}),
            one_of(TOKEN_INVALID),
            "a1",
        ),
        (
            pack(
                {"type": "auth", "id": "a3", "payload": {"token": other.members["cashier"].token}}
            ),
            one_of(DENIED),
            "a3",
        ),
        (pack(_sub("p1", _their_channel(other))), one_of(DENIED), "p1"),
    ]


def random_frames(codec: Codec, seed: int, n: int) -> list[str | bytes]:
    rng = random.Random(seed)
    frames: list[str | bytes] = []
    for _ in range(n):
        size = rng.choice([1, 2, 3, 5, 8, 16, 64, 512, 4096])
        data = bytes(rng.getrandbits(8) for _ in range(size))
        if codec.binary:
            # Keep the first byte off the fixmap range so the frame cannot be an object.
            frames.append(bytes([data[0] & 0x7F]) + data[1:] if data[0] >> 4 == 0x8 else data)
        else:
            frames.append(data.decode("latin-1"))
    return frames


async def _reply_to(ws: Any, codec: Codec, frame: str | bytes) -> list[dict[str, Any]]:
    """Send a frame then a ping; everything received up to the ping's reply."""
    await ws.send(frame)
    await ws.send(codec.encode({"type": "ping", "id": "probe"}))
    seen: list[dict[str, Any]] = []
    await recv_until(ws, lambda f: f.get("id") == "probe", codec, seen=seen)
    return seen[:-1]


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_every_bad_frame_gets_one_error_reply(live_hub: LiveHub, codec: Codec) -> None:
    me, other = await tenants(live_hub, 2)
    cases = json_cases(other) if codec is JSON else msgpack_cases(other)
    with server_errors() as errors:
        async with raw(live_hub, token=me.members["owner"].token, codec=codec) as ws:
            await hello(ws, codec)
            for frame, allowed, frame_id in cases:
                replies = await _reply_to(ws, codec, frame)
                assert len(replies) == 1, (frame, replies)  # exactly one reply
                (reply,) = replies
                assert reply["type"] in ("ok", "error"), (frame, reply)
                outcome = "ok" if reply["type"] == "ok" else reply["payload"]["code"]
                assert outcome in allowed, (frame, reply)
                # A reply carries the request's id, or none when the id could not be read.
                if "id" in reply or outcome not in (MALFORMED, "ok"):
                    assert reply.get("id") == frame_id, (frame, reply)
                if outcome != "ok":
                    assert isinstance(reply["payload"]["message"], str)
                assert other.tenant_id not in repr(reply), (frame, reply)
            # Still the same connection, still serving.
            seen = await _reply_to(ws, codec, codec.encode({"type": "ping", "id": "end"}))
            assert [f["type"] for f in seen] == ["ok"]
        await _new_connection_works(live_hub, me, codec)
    assert not errors, errors


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_bytes(live_hub: LiveHub, codec: Codec, seed: int) -> None:
    me, other = await tenants(live_hub, 2)
    realtime = live_hub.app.state.realtime
    with server_errors() as errors:
        async with raw(live_hub, token=me.members["manager"].token, codec=codec) as ws:
            await hello(ws, codec)
            for i, frame in enumerate(random_frames(codec, seed, 60)):
                replies = await _reply_to(ws, codec, frame)
                assert len(replies) == 1, (i, frame, replies)
                assert replies[0]["type"] == "error"
                assert replies[0]["payload"]["code"] in (MALFORMED, UNKNOWN, INVALID)
                assert other.tenant_id not in repr(replies[0])
            (connection,) = realtime.connections.values()
            assert connection.close_code is None
        await _new_connection_works(live_hub, me, codec)
    assert not errors, errors


async def _new_connection_works(live_hub: LiveHub, kit: TenantKit, codec: Codec) -> None:
    shop = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    async with hub_client(live_hub, kit.members["owner"].token, codec=codec) as client:
        await client.subscribe(shop)
        await live_hub.app.state.realtime.broker.publish(shop, "test.event", {"n": 1})
        event = await client.events.get()
        assert event["payload"] == {"n": 1}


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_errors_in_a_row_close_4010_but_a_good_frame_resets(
    live_hub: LiveHub, codec: Codec
) -> None:
    (me,) = await tenants(live_hub, 1)
    bad = b"\xc1" if codec.binary else "{"
    realtime = live_hub.app.state.realtime
    with server_errors() as errors:
        async with raw(live_hub, token=me.members["cashier"].token, codec=codec) as ws:
            await hello(ws, codec)
            for _ in range(3):  # 19 bad, then a good one: the count starts again
                for _ in range(messages_limit() - 1):
                    await ws.send(bad)
                seen = await _reply_to(ws, codec, codec.encode({"type": "ping", "id": "ok"}))
                assert [f["payload"]["code"] for f in seen if f["type"] == "error"] == [
                    MALFORMED
                ] * (messages_limit() - 1)
            (connection,) = realtime.connections.values()
            for _ in range(messages_limit()):
                await ws.send(bad)
            replies: list[dict[str, Any]] = []
            try:
                while True:
                    replies.extend(await recv_frames(ws, codec))
            except websockets.ConnectionClosed:
                pass
            assert len(replies) <= messages_limit()
            assert all(r["payload"]["code"] == MALFORMED for r in replies)
            assert connection.close_code == messages.CLOSE_TOO_MANY_ERRORS
        await wait_for(lambda: not realtime.connections)
        await _new_connection_works(live_hub, me, codec)
    assert not errors, errors


def messages_limit() -> int:
    from hub.web import websocket

    return websocket.MAX_CONSECUTIVE_ERRORS


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_frame_over_the_limit_closes_1009(live_hub: LiveHub, codec: Codec) -> None:
    (me,) = await tenants(live_hub, 1)
    realtime = live_hub.app.state.realtime
    limit = realtime.settings.max_frame_bytes
    with server_errors() as errors:
        async with raw(live_hub, token=me.members["owner"].token, codec=codec) as ws:
            first = await hello(ws, codec)
            assert first["payload"]["max_frame_bytes"] == limit
            # Just under the limit: an ordinary error reply.
            under = codec.encode({"type": "ping", "id": "big", "payload": {"x": ""}})
            pad = limit - len(under)
            under = codec.encode({"type": "ping", "id": "big", "payload": {"x": "y" * (pad - 8)}})
            assert len(under) <= limit
            (reply,) = await _reply_to(ws, codec, under)
            assert (reply["id"], reply["payload"]["code"]) == ("big", INVALID)
            (connection,) = realtime.connections.values()
            over = codec.encode({"type": "ping", "id": "huge", "payload": {"x": "y" * limit}})
            await ws.send(over)
            with pytest.raises(websockets.ConnectionClosed):
                await recv_frames(ws, codec)
            assert connection.close_code == messages.CLOSE_TOO_BIG
        await wait_for(lambda: not realtime.connections)
        await _new_connection_works(live_hub, me, codec)
    assert not errors, errors


# --- close codes that never reach the client ---------------------------------------------
#
# `_serve` closes with `connection.close(code)`, which only schedules the close frame in a
# task, and returns at once; the endpoint then returns and uvicorn drops the TCP
# connection before that task runs. The client sees 1006 (no close frame), not the code.


async def test_client_sees_4010(live_hub: LiveHub) -> None:
    (me,) = await tenants(live_hub, 1)
    async with raw(live_hub, token=me.members["owner"].token) as ws:
        await hello(ws)
        for _ in range(messages_limit()):
            await ws.send("{")
        assert await closed_code(ws) == messages.CLOSE_TOO_MANY_ERRORS


async def test_client_sees_1009(live_hub: LiveHub) -> None:
    (me,) = await tenants(live_hub, 1)
    limit = live_hub.app.state.realtime.settings.max_frame_bytes
    async with raw(live_hub, token=me.members["owner"].token) as ws:
        await hello(ws)
        await ws.send(JSON.encode({"type": "ping", "payload": {"x": "y" * limit}}))
        assert await closed_code(ws) == messages.CLOSE_TOO_BIG


async def test_text_frame_limit_is_in_bytes(live_hub: LiveHub) -> None:
    (me,) = await tenants(live_hub, 1)
    realtime = live_hub.app.state.realtime
    limit = realtime.settings.max_frame_bytes
    async with raw(live_hub, token=me.members["owner"].token) as ws:
        await hello(ws)
        (connection,) = realtime.connections.values()
        # 3 bytes per character: about twice the limit in bytes, under it in characters.
        frame = JSON.encode({"type": "ping", "id": 1, "payload": {"x": "€" * (limit * 2 // 3)}})
        assert len(frame) < limit < len(frame.encode())
        await ws.send(frame)
        with pytest.raises(websockets.ConnectionClosed):
            await recv_frames(ws)
        assert connection.close_code == messages.CLOSE_TOO_BIG


@pytest.mark.parametrize(
    "frame",
    ['{"type":"ping","id":"\\ud800"}', '{"type":"\\udc80","id":1}'],
    ids=["in-id", "in-type"],
)
async def test_lone_surrogate_gets_an_error_reply(live_hub: LiveHub, frame: str) -> None:
    (me,) = await tenants(live_hub, 1)
    async with raw(live_hub, token=me.members["owner"].token) as ws:
        await hello(ws)
        await ws.send(frame)
        (reply,) = await recv_frames(ws, JSON, 2)
        assert reply["type"] == "error"
        await ws.send(JSON.encode({"type": "ping", "id": "after"}))
        (after,) = await recv_frames(ws, JSON, 2)
        assert after["id"] == "after"


def _deep(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_a_bad_frame_with_a_valid_id_is_answered_under_that_id(
    live_hub: LiveHub, codec: Codec
) -> None:
    """QA: these got a malformed_frame reply without the id, which a client waiting for
    reply 41 never matched; ids out of bounds (never echoed) get one without it."""
    kit, _ = await tenants(live_hub, 2)
    frames: list[tuple[dict[str, Any], Any]] = [
        ({"type": "ping", "id": 41, "seq": "x"}, 41),
        ({"type": "ping", "id": 42, "channel": 5}, 42),
        ({"type": "ping", "id": 43, "payload": _deep(35)}, 43),
        ({"type": "ping", "id": 44, "epoch": 1}, 44),
        ({"type": "ping", "id": "x" * 5000}, None),
        ({"type": "ping", "id": 2**53 + 1}, None),
    ]
    with server_errors() as errors:
        async with raw(live_hub, token=kit.members["owner"].token, codec=codec) as ws:
            await hello(ws, codec)
            for frame, expected_id in frames:
                data = json.dumps(frame) if codec is JSON else pack(frame)
                replies = await _reply_to(ws, codec, data)
                assert len(replies) == 1, (frame, replies)
                (reply,) = replies
                assert reply["type"] == "error", reply
                assert reply["payload"]["code"] == MALFORMED, reply
                assert reply.get("id") == expected_id, reply
    assert not errors, errors
