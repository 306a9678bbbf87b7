"""The wire codecs: every message round-trips in JSON and in msgpack; events and batches
are spliced from already encoded parts and still decode to the frames they stand for."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.adapters.broker.base import Event, pack_payload
from protocol import codec, messages
from protocol import codec as codec_module
from protocol.codec import JSON, MSGPACK, Codec
from protocol.errors import ErrorCode

CODECS = [pytest.param(JSON, id="json"), pytest.param(MSGPACK, id="msgpack")]

# --------------------------------------------------------------------------- strategies

INTS = st.integers(min_value=-(2**63), max_value=2**63)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)  # JSON refuses NaN and Infinity
TEXT = st.text(max_size=20)
SCALARS = st.none() | st.booleans() | INTS | FLOATS | TEXT
IDS = (
    st.none()
    | st.text(max_size=codec.MAX_ID_LENGTH)
    | st.integers(min_value=-codec.MAX_INT_ID, max_value=codec.MAX_INT_ID)
)


def json_like(depth: int = 4) -> st.SearchStrategy[Any]:
    """Scalars, lists and text-keyed dicts nested at most `depth` containers deep."""
    if depth == 0:
        return SCALARS
    inner = json_like(depth - 1)
    return st.one_of(SCALARS, st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4))


PAYLOAD_DICTS = st.dictionaries(TEXT, json_like(3), max_size=6)  # four levels with the dict

SINCE = st.builds(
    messages.Since,
    epoch=st.text(min_size=1, max_size=64),
    seq=st.integers(min_value=0, max_value=2**62),
)
CHANNEL_TEXT = st.text(min_size=1, max_size=200)

VERSIONS = st.integers(1, 2**31)
BARCODES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
QUANTITIES = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("99999"), places=3)
AMOUNTS = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999"), places=2)
PERCENTS = st.decimals(min_value=Decimal(0), max_value=Decimal(100), places=2)


def _line(model: type[messages.Message], **more: Any) -> st.SearchStrategy[messages.Message]:
    """A line named by product or barcode, one of them."""
    by_product = st.builds(model, cart=st.uuids(), version=VERSIONS, product=st.uuids(), **more)
    by_code = st.builds(model, cart=st.uuids(), version=VERSIONS, barcode=BARCODES, **more)
    return by_product | by_code


CART_MESSAGES: dict[type[messages.Message], st.SearchStrategy[messages.Message]] = {
    messages.CartOpen: st.builds(messages.CartOpen, session=st.uuids()),
    messages.CartGet: st.builds(messages.CartGet, cart=st.uuids()),
    messages.CartAdd: _line(messages.CartAdd, quantity=QUANTITIES),
    messages.CartSetQuantity: _line(messages.CartSetQuantity, quantity=QUANTITIES),
    messages.CartRemove: _line(messages.CartRemove),
    messages.CartDiscountLine: _line(messages.CartDiscountLine, percent=st.none() | PERCENTS),
    messages.CartDiscount: st.builds(
        messages.CartDiscount, cart=st.uuids(), version=VERSIONS, amount=st.none() | AMOUNTS
    ),
    messages.CartCustomer: st.builds(
        messages.CartCustomer, cart=st.uuids(), version=VERSIONS, customer=st.none() | st.uuids()
    ),
    messages.CartBonus: st.builds(
        messages.CartBonus, cart=st.uuids(), version=VERSIONS, amount=AMOUNTS
    ),
    messages.CartCancel: st.builds(messages.CartCancel, cart=st.uuids(), version=VERSIONS),
    messages.CartPay: st.builds(
        messages.CartPay,
        cart=st.uuids(),
        version=VERSIONS,
        payments=st.lists(
            st.builds(
                messages.PaymentIn,
                method=st.sampled_from(["cash", "card", "credit", "balance"]),
                amount=AMOUNTS,
            ),
            min_size=1,
            max_size=8,
        ),
        idempotency_key=st.text(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=100
        ),
    ),
}
NAMES = st.from_regex(r"\A[A-Za-z0-9_.-]{1,64}\Z")
EPOCHS = st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")
AGENT_MESSAGES: dict[type[messages.Message], st.SearchStrategy[messages.Message]] = {
    messages.AgentAnnounce: st.builds(
        messages.AgentAnnounce,
        version=st.text(max_size=32),
        epoch=EPOCHS,
        devices=st.lists(
            st.builds(
                messages.AgentDevice,
                name=NAMES,
                kind=st.sampled_from(["printer", "fiscal", "scanner", "display", "mqtt"]),
                model=st.text(max_size=64),
                transport=st.text(max_size=200),
                status=st.sampled_from(["online", "offline", "paper_out", "error"]),
                detail=st.text(max_size=200),
            ),
            max_size=4,
        ),
    ),
    messages.AgentEvents: st.builds(
        messages.AgentEvents,
        epoch=EPOCHS,
        events=st.lists(
            st.builds(
                messages.AgentEventIn,
                seq=st.integers(1, 2**62),
                id=EPOCHS,
                type=st.sampled_from(["scan", "device.status", "job.result"]),
                payload=PAYLOAD_DICTS,
            ),
            min_size=1,
            max_size=5,
        ),
    ),
    messages.AgentJobs: st.builds(messages.AgentJobs),
    messages.AgentClaim: st.builds(messages.AgentClaim, job=st.uuids()),
}

MESSAGES: dict[type[messages.Message], st.SearchStrategy[messages.Message]] = {
    # requests
    messages.Auth: st.builds(messages.Auth, token=st.text(min_size=1, max_size=4096)),
    messages.Subscribe: st.builds(
        messages.Subscribe, channel=CHANNEL_TEXT, since=st.none() | SINCE
    ),
    messages.Unsubscribe: st.builds(messages.Unsubscribe, channel=CHANNEL_TEXT),
    messages.Ping: st.builds(messages.Ping),
    **CART_MESSAGES,
    **AGENT_MESSAGES,
    # notices
    messages.Hello: st.builds(
        messages.Hello,
        protocol=st.just(messages.PROTOCOL_VERSION) | st.integers(0, 2**31),
        connection=TEXT,
        kind=st.sampled_from(["user", "device"]),
        tenant=st.uuids().map(str),
        heartbeat_seconds=FLOATS,
        idle_timeout_seconds=FLOATS,
        max_frame_bytes=st.integers(0, 2**40),
        token_expires_in=st.none() | FLOATS,
    ),
    messages.Ok: st.builds(messages.Ok, data=PAYLOAD_DICTS),
    messages.Error: st.builds(
        messages.Error,
        code=st.sampled_from(list(ErrorCode)).map(lambda c: c.value),
        message=TEXT,
        fields=st.dictionaries(TEXT, TEXT, max_size=4),
    ),
    messages.Resync: st.builds(
        messages.Resync,
        channel=CHANNEL_TEXT,
        epoch=st.none() | TEXT,
        seq=INTS,
        reason=TEXT,
    ),
    messages.Heartbeat: st.builds(messages.Heartbeat, time=FLOATS),
}
REQUEST_MODELS = list(messages.REQUESTS.values())
NOTICE_MODELS = list(messages.NOTICES.values())


def assert_same(got: Any, want: Any) -> None:
    """Equal, and of exactly the same types all the way down (True is not 1, 1.0 is not
    1, -0.0 is not 0.0)."""
    assert type(got) is type(want), (got, want)
    if isinstance(want, dict):
        assert list(got) == list(want)
        for key in want:
            assert_same(got[key], want[key])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert_same(g, w)
    elif isinstance(want, float):
        assert got == want
        assert math.copysign(1.0, got) == math.copysign(1.0, want)
    else:
        assert got == want


def test_every_message_has_a_strategy() -> None:
    assert set(MESSAGES) == set(REQUEST_MODELS) | set(NOTICE_MODELS)
    assert not set(messages.REQUESTS) & set(messages.NOTICES)
    assert messages.BATCH not in messages.REQUESTS
    assert messages.BATCH not in messages.NOTICES


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("model", REQUEST_MODELS + NOTICE_MODELS, ids=lambda m: m.TYPE)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_message_round_trip(codec: Codec, model: type[messages.Message], data: Any) -> None:
    message = data.draw(MESSAGES[model], label="message")
    request_id = data.draw(IDS, label="id")
    frame = messages.message_frame(message, id=request_id)

    wire = codec.encode(frame)
    assert isinstance(wire, bytes if codec.binary else str)
    decoded = codec.decode(wire)

    assert_same(decoded, frame)
    assert decoded["type"] == model.TYPE
    assert ("id" in decoded) == (request_id is not None)
    if model in REQUEST_MODELS:
        assert messages.parse_request(decoded) == message
    else:
        assert model.model_validate(decoded["payload"]) == message


@pytest.mark.parametrize("codec", CODECS)
def test_ping_frame_is_minimal(codec: Codec) -> None:
    frame = messages.message_frame(messages.Ping(), id="r1")
    assert frame == {"type": "ping", "id": "r1", "payload": {}}
    assert messages.parse_request(codec.decode(codec.encode(frame))) == messages.Ping()


@pytest.mark.parametrize("codec", CODECS)
@settings(max_examples=100, deadline=None)
@given(payload=PAYLOAD_DICTS, request_id=IDS, seq=st.none() | INTS)
def test_json_like_payload_dicts_round_trip(
    codec: Codec, payload: dict[str, Any], request_id: str | int | None, seq: int | None
) -> None:
    frame = messages.envelope("t", payload, id=request_id, seq=seq, channel="c", epoch="e")
    assert_same(codec.decode(codec.encode(frame)), frame)


@pytest.mark.parametrize("codec", CODECS)
@settings(max_examples=100, deadline=None)
@given(value=json_like(4))
def test_any_json_like_value_round_trips_as_a_payload(codec: Codec, value: Any) -> None:
    frame = {"type": "t", "payload": value}
    assert_same(codec.decode(codec.encode(frame)), frame)


@pytest.mark.parametrize("codec", CODECS)
def test_edges_of_the_number_range_round_trip(codec: Codec) -> None:
    payload = {
        "ints": [0, -1, 1, 2**31, -(2**31), 2**32, 2**63 - 1, -(2**63), 2**63],
        "floats": [0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, 1e16, 0.1],
        "text": ["", "ä", "𝄞", "\x00", "\u2028", '"\\'],
    }
    frame = {"type": "t", "payload": payload}
    assert_same(codec.decode(codec.encode(frame)), frame)


# --------------------------------------------------------------------------- events


@pytest.mark.parametrize("codec", CODECS)
@settings(max_examples=100, deadline=None)
@given(
    type_=TEXT,
    channel=TEXT,
    seq=st.integers(min_value=0, max_value=2**63),
    epoch=TEXT,
    payload=json_like(4),
)
def test_encode_event_decodes_to_the_envelope(
    codec: Codec, type_: str, channel: str, seq: int, epoch: str, payload: Any
) -> None:
    wire = codec.encode_event(type_, channel, seq, epoch, codec.payload(payload))
    assert isinstance(wire, bytes if codec.binary else str)
    decoded = codec.decode(wire)
    want = {"type": type_, "channel": channel, "seq": seq, "epoch": epoch, "payload": payload}
    assert_same(decoded, want)


@pytest.mark.parametrize("codec", CODECS)
def test_encode_event_is_the_plain_encoding(codec: Codec) -> None:
    # Splicing the pre-encoded payload gives the very bytes a plain encode would.
    payload = {"sku": "A-1", "qty": 3, "tags": ["x"]}
    wire = codec.encode_event("stock", "ch", 7, "ep", codec.payload(payload))
    frame = {"type": "stock", "channel": "ch", "seq": 7, "epoch": "ep", "payload": payload}
    assert wire == codec.encode(frame)


def _event_frames(codec: Codec, n: int) -> list[bytes | str]:
    return [codec.encode_event("e", "c", i + 1, "ep", codec.payload({"i": i})) for i in range(n)]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("n", [0, 1, 15, 16, 300])
def test_batch_decodes_to_its_frames_in_order(codec: Codec, n: int) -> None:
    frames = _event_frames(codec, n)
    wire = codec.batch(frames)
    assert isinstance(wire, bytes if codec.binary else str)
    decoded = codec.decode(wire)
    assert list(decoded) == ["type", "payload"]
    assert decoded["type"] == messages.BATCH
    want = [
        {"type": "e", "channel": "c", "seq": i + 1, "epoch": "ep", "payload": {"i": i}}
        for i in range(n)
    ]
    assert decoded["payload"] == want


@pytest.mark.parametrize(
    ("n", "header"),
    [
        (0, b"\x90"),
        (1, b"\x91"),
        (15, b"\x9f"),
        (16, b"\xdc\x00\x10"),
        (300, b"\xdc\x01\x2c"),
        (2**16 - 1, b"\xdc\xff\xff"),
        (2**16, b"\xdd\x00\x01\x00\x00"),
    ],
)
def test_msgpack_batch_array_header(n: int, header: bytes) -> None:
    # beyond a few hundred, the same small frame many times over
    frames = _event_frames(MSGPACK, n) if n < 1000 else [MSGPACK.encode({"type": "e"})] * n
    wire = MSGPACK.batch(frames)
    # Byte for byte what msgpack itself writes for the decoded batch.
    decoded = [msgpack.unpackb(f, raw=False) for f in frames]
    assert wire == msgpack.packb({"type": "batch", "payload": decoded}, use_bin_type=True)
    head = msgpack.packb({"type": "batch", "payload": []}, use_bin_type=True)[:-1]
    assert wire.startswith(head + header)
    assert wire == head + header + b"".join(frames)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, 1, 300])
def test_json_batch_is_the_plain_encoding(n: int) -> None:
    frames = _event_frames(JSON, n)
    decoded = [json.loads(f) for f in frames]
    assert JSON.batch(frames) == JSON.encode({"type": "batch", "payload": decoded})


@pytest.mark.parametrize("codec", CODECS)
@settings(max_examples=30, deadline=None)
@given(payloads=st.lists(PAYLOAD_DICTS, max_size=6), ids=st.data())
def test_batch_of_arbitrary_frames(codec: Codec, payloads: list[dict[str, Any]], ids: Any) -> None:
    frames = [messages.envelope("t", p, id=ids.draw(IDS), seq=i) for i, p in enumerate(payloads)]
    decoded = codec.decode(codec.batch([codec.encode(f) for f in frames]))
    assert_same(decoded, {"type": "batch", "payload": frames})


# --------------------------------------------------------------------------- Event.frame


def _event(payload: Any) -> Event:
    return Event("tenant:t:shop:s", 42, "0123456789abcdef", "stock.changed", pack_payload(payload))


@pytest.mark.parametrize("codec", CODECS)
def test_event_frame_is_cached_per_codec(codec: Codec) -> None:
    event = _event({"sku": "A", "qty": 2})
    first = event.frame(codec)
    assert event.frame(codec) is first
    other = MSGPACK if codec is JSON else JSON
    assert event.frame(other) is not first
    assert event.frame(codec) is first
    assert event.frame(other) is event.frame(other)


def test_event_frame_differs_by_codec() -> None:
    event = _event([1, 2])
    assert isinstance(event.frame(JSON), str)
    assert isinstance(event.frame(MSGPACK), bytes)
    # the msgpack frame splices the stored body as it is
    assert event.frame(MSGPACK) == MSGPACK.encode_event(
        event.type, event.channel, event.seq, event.epoch, event.body
    )


@pytest.mark.parametrize("codec", CODECS)
@settings(max_examples=100, deadline=None)
@given(payload=json_like(4))
def test_event_frame_decodes_to_the_event(codec: Codec, payload: Any) -> None:
    event = _event(payload)
    decoded = codec.decode(event.frame(codec))
    want = {
        "type": "stock.changed",
        "channel": "tenant:t:shop:s",
        "seq": 42,
        "epoch": "0123456789abcdef",
        "payload": payload,
    }
    assert_same(decoded, want)
    assert_same(event.payload(), payload)


@pytest.mark.parametrize("codec", CODECS)
def test_event_frames_batch(codec: Codec) -> None:
    events = [_event({"n": n}) for n in range(20)]
    decoded = codec.decode(codec.batch([e.frame(codec) for e in events]))
    assert [f["payload"] for f in decoded["payload"]] == [{"n": n} for n in range(20)]


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    "frame",
    [
        {"type": "ping", "id": 41, "seq": "x"},
        {"type": "ping", "id": 42, "channel": 5},
        {"type": "ping", "id": 44, "epoch": 1},
        {"type": "ping", "id": "forty-three", "payload": _nested(codec.MAX_DEPTH + 3)},
        {"type": 7, "id": -(2**53)},
    ],
)
def test_a_bad_frame_keeps_its_valid_id(codec: Codec, frame: dict[str, Any]) -> None:
    """A client waiting for reply 41 must be able to match the error to its request."""
    data = json.dumps(frame) if codec is JSON else msgpack.packb(frame, use_bin_type=True)
    with pytest.raises(codec_module.DecodeError) as refused:
        codec.decode(data)
    assert refused.value.request_id == frame["id"]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    "request_id",
    ["x" * (codec.MAX_ID_LENGTH + 1), "x" * 5000, codec.MAX_INT_ID + 1, -(10**30), 10**30],
)
def test_an_id_out_of_bounds_is_refused_and_never_echoed(codec: Codec, request_id: Any) -> None:
    if codec is MSGPACK and abs(request_id if isinstance(request_id, int) else 0) >= 2**64:
        pytest.skip("msgpack cannot carry it at all")
    frame = {"type": "ping", "id": request_id}
    data = json.dumps(frame) if codec is JSON else msgpack.packb(frame, use_bin_type=True)
    with pytest.raises(codec_module.DecodeError) as refused:
        codec.decode(data)
    assert refused.value.request_id is None


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("request_id", ["x" * codec.MAX_ID_LENGTH, codec.MAX_INT_ID, 0, ""])
def test_ids_at_the_bounds_are_taken(codec: Codec, request_id: Any) -> None:
    frame = {"type": "ping", "id": request_id}
    data = json.dumps(frame) if codec is JSON else msgpack.packb(frame, use_bin_type=True)
    assert codec.decode(data)["id"] == request_id
