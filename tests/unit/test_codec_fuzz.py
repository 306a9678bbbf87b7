"""Hostile input: whatever a peer sends, `decode` answers a frame or DecodeError, nothing
else; `parse_request` answers a typed request, UnknownType or InvalidPayload."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import msgpack
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from protocol import messages
from protocol.codec import JSON, MAX_DEPTH, MAX_INT_ID, MSGPACK, Codec, DecodeError

CODECS = [pytest.param(JSON, id="json"), pytest.param(MSGPACK, id="msgpack")]

INTS = st.integers(min_value=-(2**63), max_value=2**63)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=20)
SCALARS = st.none() | st.booleans() | INTS | FLOATS | TEXT


def json_like(depth: int = 3) -> st.SearchStrategy[Any]:
    if depth == 0:
        return SCALARS
    inner = json_like(depth - 1)
    return st.one_of(SCALARS, st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4))


# Frames that are valid as far as the codec is concerned.
FRAMES = st.builds(
    messages.envelope,
    st.text(max_size=10),
    st.none() | json_like(),
    id=st.none() | TEXT | st.integers(min_value=-MAX_INT_ID, max_value=MAX_INT_ID),
    channel=st.none() | TEXT,
    seq=st.none() | INTS,
    epoch=st.none() | TEXT,
)


def decode_or_refuse(codec: Codec, data: Any) -> dict[str, Any] | None:
    """The decoded frame (checked against the envelope rules), or None after DecodeError.
    Any other exception escapes and fails the test."""
    try:
        frame = codec.decode(data)
    except DecodeError:
        return None
    assert isinstance(frame, dict)
    for key in ("type", "channel", "epoch"):
        if key in frame:
            assert isinstance(frame[key], str)
    if "id" in frame:
        assert type(frame["id"]) in (str, int)
    if "seq" in frame:
        assert type(frame["seq"]) is int
    return frame


def nested(depth: int, leaf: Any = 0) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


# --------------------------------------------------------------------------- random input


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=512))
@example(data=b"")
@example(data=b"\xc1")  # the one byte msgpack never uses
def test_msgpack_random_bytes(data: bytes) -> None:
    decode_or_refuse(MSGPACK, data)


MAP_HEADS = [b"\x80", b"\x81", b"\x82", b"\x85", b"\x8f", b"\xde\x00\x03", b"\xdf\x00\x00\x00\x02"]


@settings(max_examples=200, deadline=None)
@given(head=st.sampled_from(MAP_HEADS), tail=st.binary(max_size=256))
def test_msgpack_random_bytes_after_a_map_header(head: bytes, tail: bytes) -> None:
    decode_or_refuse(MSGPACK, head + tail)


@settings(max_examples=100, deadline=None)
@given(frame=FRAMES, data=st.data())
def test_msgpack_mutated_frames(frame: dict[str, Any], data: Any) -> None:
    wire = bytearray(MSGPACK.encode(frame))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(wire) - 1))
        wire[at] = data.draw(st.integers(0, 255))
    decode_or_refuse(MSGPACK, bytes(wire))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=512))
@example(text="")
@example(text="\ufeff{}")
def test_json_random_text(text: str) -> None:
    decode_or_refuse(JSON, text)


JSONISH = st.text(alphabet='{}[]":,.-+0123456789eEtrufalsnNIinfy \\u', max_size=200)


@settings(max_examples=200, deadline=None)
@given(text=JSONISH)
def test_json_random_json_ish_text(text: str) -> None:
    decode_or_refuse(JSON, text)


@settings(max_examples=100, deadline=None)
@given(frame=FRAMES, data=st.data())
def test_json_mutated_frames(frame: dict[str, Any], data: Any) -> None:
    wire = list(JSON.encode(frame))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(wire) - 1))
        wire[at] = data.draw(st.sampled_from('{}[]":,0-9.eE\\ ntf'))
    decode_or_refuse(JSON, "".join(wire))


@pytest.mark.parametrize("codec", CODECS)
@settings(max_examples=100, deadline=None)
@given(frame=FRAMES)
def test_truncated_frames_are_refused(codec: Codec, frame: dict[str, Any]) -> None:
    wire = codec.encode(frame)
    assert codec.decode(wire) == frame
    for end in range(len(wire)):
        with pytest.raises(DecodeError):
            codec.decode(wire[:end])


@pytest.mark.parametrize("codec", CODECS)
@settings(max_examples=100, deadline=None)
@given(frame=FRAMES, extra=st.sampled_from(["{}", "1", "[]", "x"]))
def test_trailing_data_is_refused(codec: Codec, frame: dict[str, Any], extra: str) -> None:
    wire = codec.encode(frame)
    with pytest.raises(DecodeError):
        codec.decode(wire + (extra.encode() if isinstance(wire, bytes) else extra))


# --------------------------------------------------------------------------- forged msgpack

FORGED = [
    pytest.param(b"\xdd\xff\xff\xff\xff", id="array32"),
    pytest.param(b"\xdc\xff\xff", id="array16"),
    pytest.param(b"\xdf\xff\xff\xff\xff", id="map32"),
    pytest.param(b"\xde\xff\xff", id="map16"),
    pytest.param(b"\xdb\xff\xff\xff\xff", id="str32"),
    pytest.param(b"\xda\xff\xff", id="str16"),
    pytest.param(b"\xd9\xff", id="str8"),
    pytest.param(b"\xc6\xff\xff\xff\xff", id="bin32"),
    pytest.param(b"\xc5\xff\xff", id="bin16"),
    pytest.param(b"\xc4\xff", id="bin8"),
    pytest.param(b"\xc9\xff\xff\xff\xff\x05", id="ext32"),
    pytest.param(b"\xc8\xff\xff\x05", id="ext16"),
    pytest.param(b"\xc7\xff\x05", id="ext8"),
]


@pytest.mark.parametrize("forged", FORGED)
@pytest.mark.parametrize(
    "where",
    [
        pytest.param(b"", id="top"),
        pytest.param(b"\x81\xa7payload", id="payload"),
        pytest.param(b"\x82\xa4type\xa4ping\xa7payload", id="ping-payload"),
        pytest.param(b"\x81\xa7payload\x92\xc0", id="in-array"),
    ],
)
@pytest.mark.parametrize("padding", [0, 64])
def test_msgpack_forged_huge_lengths(forged: bytes, where: bytes, padding: int) -> None:
    with pytest.raises(DecodeError):
        MSGPACK.decode(where + forged + b"\xc0" * padding)


def test_msgpack_map_count_beyond_the_frame() -> None:
    # 65536 entries declared, 20 bytes given
    with pytest.raises(DecodeError):
        MSGPACK.decode(b"\xdf\x00\x01\x00\x00" + b"\xc0" * 20)


EXT_CODES = st.integers(min_value=-128, max_value=127).filter(lambda c: c != -1)
FIXEXT = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}


def ext_bytes(code: int, data: bytes) -> bytes:
    """An encoded msgpack extension (any code: msgpack.ExtType only takes 0..127)."""
    kind = code.to_bytes(1, "big", signed=True)
    n = len(data)
    if n in FIXEXT:
        return bytes([FIXEXT[n]]) + kind + data
    if n < 2**8:
        return b"\xc7" + n.to_bytes(1, "big") + kind + data
    if n < 2**16:
        return b"\xc8" + n.to_bytes(2, "big") + kind + data
    return b"\xc9" + n.to_bytes(4, "big") + kind + data


@settings(max_examples=100, deadline=None)
@given(code=EXT_CODES, data=st.binary(max_size=300))
@example(code=0, data=b"")
@example(code=5, data=b"x")  # fixext 1
@example(code=-128, data=b"x" * 16)  # fixext 16
@example(code=127, data=b"x" * 17)  # ext 8
@example(code=-2, data=b"x" * 256)  # ext 16
def test_msgpack_extensions_are_refused(code: int, data: bytes) -> None:
    ext = ext_bytes(code, data)
    for frame in (
        ext,
        b"\x82\xa4type\xa4ping\xa7payload\x81\xa1x" + ext,
        b"\x82\xa4type\xa1x\xa7payload\x91" + ext,
        b"\x81\xa2id" + ext,
    ):
        with pytest.raises(DecodeError):
            MSGPACK.decode(frame)


def test_ext_bytes_matches_msgpack() -> None:
    for n in (0, 1, 2, 3, 4, 8, 16, 17, 255, 256, 2**16):
        data = b"x" * n
        assert ext_bytes(7, data) == msgpack.packb(msgpack.ExtType(7, data))


def test_msgpack_extension_as_a_map_key_is_refused() -> None:
    # fixmap 1: key fixext1(code 5), value nil
    with pytest.raises(DecodeError):
        MSGPACK.decode(b"\x81\xd4\x05\x00\xc0")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xd6\xff" + b"\x00" * 4, id="timestamp32-top"),
        pytest.param(b"\xd7\xff" + b"\xff" * 8, id="timestamp64-bad-nanoseconds"),
        pytest.param(b"\xc7\x03\xff\x00\x00\x00", id="timestamp-bad-length"),
        pytest.param(b"\x81\xa7payload\xc7\x03\xff\x00\x00\x00", id="timestamp-bad-length-in"),
    ],
)
def test_msgpack_broken_or_top_level_timestamps_are_refused(data: bytes) -> None:
    with pytest.raises(DecodeError):
        MSGPACK.decode(data)


def test_msgpack_timestamp_extension_is_refused() -> None:
    data = msgpack.packb(
        {"type": "ping", "payload": {"at": msgpack.Timestamp(1, 2)}}, use_bin_type=True
    )
    with pytest.raises(DecodeError):
        MSGPACK.decode(data)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(b"\x01", id="int"),
        pytest.param(b"\xc0", id="nil"),
        pytest.param(b"\xc3", id="bool"),
        pytest.param(b"\xcb" + b"\x00" * 8, id="float"),
        pytest.param(b"\x90", id="array"),
        pytest.param(b"\x80", id="map"),
    ],
)
def test_msgpack_non_text_map_keys_are_refused(key: bytes) -> None:
    with pytest.raises(DecodeError):
        MSGPACK.decode(b"\x81" + key + b"\xc0")
    with pytest.raises(DecodeError):
        MSGPACK.decode(b"\x81\xa7payload\x81" + key + b"\xc0")


def test_msgpack_invalid_utf8_text_is_refused() -> None:
    with pytest.raises(DecodeError):
        MSGPACK.decode(b"\x81\xa4type\xa2\xff\xfe")


# --------------------------------------------------------------------------- not a frame

NOT_MAPS = [None, True, False, 0, -1, 2**64 - 1, 1.5, "text", "", [], [{"type": "ping"}]]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("value", NOT_MAPS, ids=repr)
def test_top_level_values_other_than_a_map_are_refused(codec: Codec, value: Any) -> None:
    with pytest.raises(DecodeError):
        codec.decode(codec.encode(value))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data", [b"\xc4\x03abc", b"\xca\x7f\xc0\x00\x00", b"\xcb\x7f\xf8" + b"\x00" * 6]
)
def test_msgpack_binary_and_non_finite_top_level_are_refused(data: bytes) -> None:
    with pytest.raises(DecodeError):
        MSGPACK.decode(data)


@pytest.mark.parametrize("text", ["null", "true", "0", "1e400", '"x"', "[]", "NaN", "-Infinity"])
def test_json_top_level_values_other_than_an_object_are_refused(text: str) -> None:
    with pytest.raises(DecodeError):
        JSON.decode(text)


@pytest.mark.parametrize("codec", CODECS)
@settings(max_examples=100, deadline=None)
@given(value=SCALARS | st.lists(json_like(2), max_size=4))
def test_any_non_map_value_is_refused(codec: Codec, value: Any) -> None:
    with pytest.raises(DecodeError):
        codec.decode(codec.encode(value))


# --------------------------------------------------------------------------- the envelope

WRONG_FIELDS = [
    ("type", 5),
    ("type", None),
    ("type", True),
    ("type", ["ping"]),
    ("type", {"ping": 1}),
    ("seq", "x"),
    ("seq", "1"),
    ("seq", True),
    ("seq", False),
    ("seq", 1.0),
    ("seq", 1.5),
    ("seq", None),
    ("seq", [1]),
    ("id", 1.5),
    ("id", 1.0),
    ("id", True),
    ("id", False),
    ("id", None),
    ("id", [1]),
    ("id", {}),
    ("id", 2**53 + 1),  # beyond what a JavaScript client holds exactly
    ("id", -(2**63)),
    ("id", "x" * 65),
    ("channel", []),
    ("channel", 1),
    ("channel", None),
    ("channel", {"name": "x"}),
    ("epoch", 1),
    ("epoch", False),
    ("epoch", ["e"]),
]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(("key", "value"), WRONG_FIELDS, ids=repr)
def test_wrong_envelope_types_are_refused(codec: Codec, key: str, value: Any) -> None:
    frame: dict[str, Any] = {"type": "ping", "id": 1, "payload": {}}
    frame[key] = value
    with pytest.raises(DecodeError):
        codec.decode(codec.encode(frame))


@pytest.mark.parametrize("key", ["type", "id", "channel", "epoch", "seq"])
def test_msgpack_binary_envelope_fields_are_refused(key: str) -> None:
    frame: dict[str, Any] = {"type": "ping", key: b"bytes"}
    with pytest.raises(DecodeError):
        MSGPACK.decode(MSGPACK.encode(frame))


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    "frame",
    [
        {},
        {"payload": 1},
        {"type": "ping", "id": 0},
        {"type": "ping", "id": ""},
        {"type": "ping", "id": -(2**53)},
        {"type": "x", "seq": 0, "channel": "", "epoch": ""},
        {"type": "x", "unknown": [1, {"a": None}]},
    ],
    ids=repr,
)
def test_envelope_edges_that_are_accepted(codec: Codec, frame: dict[str, Any]) -> None:
    assert codec.decode(codec.encode(frame)) == frame


# --------------------------------------------------------------------------- depth


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("depth", [1000, 5000, 100_000])
def test_deeply_nested_arrays_are_refused(codec: Codec, depth: int) -> None:
    if codec is JSON:
        top = "[" * depth + "]" * depth
        inside = '{"type":"x","payload":' + top + "}"
        unclosed = "[" * depth
    else:
        top = b"\x91" * depth + b"\xc0"
        inside = b"\x82\xa4type\xa1x\xa7payload" + top
        unclosed = b"\x91" * depth
    for data in (top, inside, unclosed):
        with pytest.raises(DecodeError):
            codec.decode(data)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_maps_are_refused(codec: Codec, depth: int) -> None:
    if codec is JSON:
        data: bytes | str = '{"a":' * depth + "0" + "}" * depth
    else:
        data = b"\x81\xa1a" * depth + b"\x00"
    with pytest.raises(DecodeError):
        codec.decode(data)


@pytest.mark.parametrize("codec", CODECS)
def test_nesting_limit(codec: Codec) -> None:
    # The frame is level 0 and its payload level 1: the deepest value may sit at MAX_DEPTH.
    ok = {"type": "x", "payload": nested(MAX_DEPTH - 1)}
    assert codec.decode(codec.encode(ok)) == ok
    with pytest.raises(DecodeError):
        codec.decode(codec.encode({"type": "x", "payload": nested(MAX_DEPTH)}))
    with pytest.raises(DecodeError):
        codec.decode(codec.encode({"type": "x", "payload": {"a": nested(MAX_DEPTH)}}))


# --------------------------------------------------------------------------- wrong kind


@pytest.mark.parametrize("data", [b'{"type":"ping"}', b"", b"\x81\xa4type\xa4ping"])
def test_json_codec_refuses_bytes(data: bytes) -> None:
    with pytest.raises(DecodeError):
        JSON.decode(data)


@pytest.mark.parametrize("data", ['{"type":"ping"}', "", "\x81\xa4type\xa4ping"])
def test_msgpack_codec_refuses_text(data: str) -> None:
    with pytest.raises(DecodeError):
        MSGPACK.decode(data)


# --------------------------------------------------------------------------- non-finite


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_json_non_finite_constants_are_refused(text: str) -> None:
    with pytest.raises(DecodeError):
        JSON.decode('{"type":"x","payload":' + text + "}")


@pytest.mark.parametrize("text", ["1e400", "-1e400"])
def test_json_overflowing_numbers_are_refused(text: str) -> None:
    with pytest.raises(DecodeError):
        JSON.decode('{"type":"x","payload":' + text + "}")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=repr)
def test_msgpack_non_finite_floats_in_a_frame_are_refused(value: float) -> None:
    with pytest.raises(DecodeError):
        MSGPACK.decode(MSGPACK.encode({"type": "x", "payload": {"v": value}}))


# --------------------------------------------------------------------------- parse_request

NOTICE_TYPES = sorted(messages.NOTICES)


@pytest.mark.parametrize(
    "frame",
    [
        {},
        {"type": None},
        {"type": 5},
        {"type": ""},
        {"type": "PING"},
        {"type": "pong"},
        {"type": "batch", "payload": []},
        *({"type": t, "payload": {}} for t in NOTICE_TYPES),
    ],
    ids=repr,
)
def test_unknown_types(frame: dict[str, Any]) -> None:
    with pytest.raises(messages.UnknownType):
        messages.parse_request(frame)


def test_unknown_type_reason_is_bounded() -> None:
    with pytest.raises(messages.UnknownType) as caught:
        messages.parse_request({"type": "x" * 10_000})
    assert str(caught.value) == "x" * messages.MAX_TYPE_LENGTH


@settings(max_examples=100, deadline=None)
@given(kind=st.text().filter(lambda t: t not in messages.REQUESTS) | SCALARS)
def test_any_other_type_is_unknown(kind: Any) -> None:
    if isinstance(kind, str) and kind in messages.REQUESTS:
        return
    with pytest.raises(messages.UnknownType):
        messages.parse_request({"type": kind, "payload": {}})


@pytest.mark.parametrize(
    ("frame", "fields"),
    [
        ({"type": "auth", "payload": {}}, {"token"}),
        ({"type": "auth"}, {"token"}),
        ({"type": "auth", "payload": None}, {"token"}),
        ({"type": "auth", "payload": {"token": ""}}, {"token"}),
        ({"type": "auth", "payload": {"token": "t" * 4097}}, {"token"}),
        ({"type": "auth", "payload": {"token": 5}}, {"token"}),
        ({"type": "auth", "payload": {"token": "t", "x": 1}}, {"x"}),
        ({"type": "subscribe", "payload": {}}, {"channel"}),
        ({"type": "subscribe", "payload": {"channel": ""}}, {"channel"}),
        ({"type": "subscribe", "payload": {"channel": "c" * 201}}, {"channel"}),
        ({"type": "subscribe", "payload": {"channel": ["c"]}}, {"channel"}),
        ({"type": "subscribe", "payload": {"channel": "c", "since": 5}}, {"since"}),
        (
            {"type": "subscribe", "payload": {"channel": "c", "since": {"epoch": "e"}}},
            {"since.seq"},
        ),
        (
            {"type": "subscribe", "payload": {"channel": "c", "since": {"epoch": "", "seq": 0}}},
            {"since.epoch"},
        ),
        (
            {"type": "subscribe", "payload": {"channel": "c", "since": {"epoch": "e", "seq": -1}}},
            {"since.seq"},
        ),
        (
            {
                "type": "subscribe",
                "payload": {"channel": "c", "since": {"epoch": "e", "seq": 2**62 + 1}},
            },
            {"since.seq"},
        ),
        (
            {
                "type": "subscribe",
                "payload": {"channel": "c", "since": {"epoch": "e", "seq": 1, "x": 0}},
            },
            {"since.x"},
        ),
        ({"type": "unsubscribe", "payload": {"channel": None}}, {"channel"}),
        ({"type": "ping", "payload": {"x": 1}}, {"x"}),
        ({"type": "ping", "payload": [1]}, {"payload"}),
        ({"type": "ping", "payload": "x"}, {"payload"}),
        ({"type": "ping", "payload": 0}, {"payload"}),
        ({"type": "auth", "payload": []}, {"payload"}),
    ],
    ids=repr,
)
def test_invalid_payloads(frame: dict[str, Any], fields: set[str]) -> None:
    with pytest.raises(messages.InvalidPayload) as caught:
        messages.parse_request(frame)
    assert isinstance(caught.value.fields, dict)
    assert set(caught.value.fields) == fields
    assert all(isinstance(v, str) and v for v in caught.value.fields.values())


def test_payload_boundaries_are_accepted() -> None:
    assert messages.parse_request(
        {"type": "auth", "payload": {"token": "t" * 4096}}
    ) == messages.Auth(token="t" * 4096)
    since = {"epoch": "e" * 64, "seq": 2**62}
    request = messages.parse_request(
        {"type": "subscribe", "payload": {"channel": "c" * 200, "since": since}}
    )
    assert request == messages.Subscribe(channel="c" * 200, since=messages.Since(**since))


@pytest.mark.parametrize("frame", [{"type": "ping"}, {"type": "ping", "payload": None}], ids=repr)
def test_missing_or_null_payload_is_empty(frame: dict[str, Any]) -> None:
    assert messages.parse_request(frame) == messages.Ping()


@pytest.mark.parametrize("codec", CODECS)
def test_ping_without_payload_through_the_codec(codec: Codec) -> None:
    frame = codec.decode(codec.encode({"type": "ping", "id": 7}))
    assert messages.parse_request(frame) == messages.Ping()
    frame = codec.decode(codec.encode({"type": "ping", "id": 7, "payload": None}))
    assert messages.parse_request(frame) == messages.Ping()


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(sorted(messages.REQUESTS)) | TEXT,
    payload=json_like()
    | st.fixed_dictionaries(
        {},
        optional={
            "token": SCALARS,
            "channel": SCALARS,
            "since": json_like(2)
            | st.fixed_dictionaries({}, optional={"epoch": SCALARS, "seq": SCALARS}),
        },
    ),
)
def test_parse_request_answers_a_request_or_a_reason(kind: str, payload: Any) -> None:
    try:
        request = messages.parse_request({"type": kind, "payload": payload})
    except messages.UnknownType:
        assert kind not in messages.REQUESTS
        return
    except messages.InvalidPayload as exc:
        fields = exc.fields
    else:
        assert type(request) is messages.REQUESTS[kind]
        return
    assert kind in messages.REQUESTS
    assert fields
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())


@settings(max_examples=100, deadline=None)
@given(frame=FRAMES)
def test_decoded_frames_parse_or_give_a_reason(frame: dict[str, Any]) -> None:
    for codec in (JSON, MSGPACK):
        decoded = codec.decode(codec.encode(frame))
        with contextlib.suppress(messages.UnknownType, messages.InvalidPayload):
            messages.parse_request(decoded)


def test_json_error_reply_from_invalid_payload_encodes() -> None:
    with pytest.raises(messages.InvalidPayload) as caught:
        messages.parse_request({"type": "subscribe", "payload": {"channel": 1, "z": 2}})
    reply = messages.envelope("error", {"fields": caught.value.fields}, id=1)
    assert json.loads(JSON.encode(reply)) == reply
