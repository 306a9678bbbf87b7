"""Two codecs, chosen by websocket subprotocol: `pos.v1.msgpack` (binary frames) and
`pos.v1.json` (text frames). Both carry the same envelope (see messages.py).

Events are encoded once per publish: `encode_event` builds the frame around a payload
that is already encoded, and `batch` joins encoded frames without decoding them.
"""

from __future__ import annotations

import json
import math
from typing import Any, Protocol

import msgpack

JSON_SUBPROTOCOL = "pos.v1.json"
MSGPACK_SUBPROTOCOL = "pos.v1.msgpack"
MAX_DEPTH = 32
MAX_ID_LENGTH = 64
MAX_INT_ID = 2**53  # what a JavaScript client can represent exactly


class DecodeError(ValueError):
    """A frame that cannot be taken. `request_id`: its `id`, when that much was valid, so
    that the error reply still reaches the request it answers."""

    def __init__(self, message: str, request_id: str | int | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


def _check_text(text: Any) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: no reply could carry them back
        raise DecodeError("text must be valid Unicode") from exc
    except AttributeError as exc:
        raise DecodeError("object keys must be text") from exc


def _check_value(value: Any, depth: int = 0) -> None:
    """Only JSON's kinds of value, finite numbers, bounded depth: both codecs carry the
    same data, whatever the peer put on the wire."""
    if depth > MAX_DEPTH:
        raise DecodeError("frame nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_value(item, depth + 1)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise DecodeError("numbers must be finite")
    elif isinstance(value, str):
        _check_text(value)
    elif value is not None and not isinstance(value, (int, bool)):
        raise DecodeError(f"values of type {type(value).__name__} are not allowed")


def _request_id(value: dict[str, Any]) -> str | int | None:
    """The frame's `id`, checked first: bounded text or an integer a JavaScript client
    holds exactly (a reply echoes it, so it must be small and representable)."""
    if "id" not in value:
        return None
    request_id = value["id"]
    if isinstance(request_id, str):
        _check_text(request_id)
        if len(request_id) > MAX_ID_LENGTH:
            raise DecodeError(f"'id' is longer than {MAX_ID_LENGTH} characters")
        return request_id
    if isinstance(request_id, int) and not isinstance(request_id, bool):
        if abs(request_id) > MAX_INT_ID:
            raise DecodeError(f"'id' is beyond ±{MAX_INT_ID}")
        return request_id
    raise DecodeError("'id' must be text or an integer")


def _envelope(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DecodeError("a frame is an object")
    request_id = _request_id(value)
    try:
        _check_value(value)
        for key in ("type", "channel", "epoch"):
            if key in value and not isinstance(value[key], str):
                raise DecodeError(f"'{key}' must be text")
        if "seq" in value and (not isinstance(value["seq"], int) or isinstance(value["seq"], bool)):
            raise DecodeError("'seq' must be an integer")
    except DecodeError as exc:
        raise DecodeError(str(exc), request_id) from None
    return value


class Codec(Protocol):
    name: str
    binary: bool

    def encode(self, frame: dict[str, Any]) -> bytes | str: ...
    def decode(self, data: bytes | str) -> dict[str, Any]: ...
    def payload(self, value: Any) -> bytes | str: ...
    def encode_event(
        self, type_: str, channel: str, seq: int, epoch: str, payload: bytes | str
    ) -> bytes | str: ...
    def batch(self, frames: list[bytes | str]) -> bytes | str: ...


class JsonCodec:
    name = JSON_SUBPROTOCOL
    binary = False

    def encode(self, frame: dict[str, Any]) -> str:
        return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def decode(self, data: bytes | str) -> dict[str, Any]:
        if isinstance(data, bytes):
            raise DecodeError("this connection speaks JSON in text frames")

        def no_constants(name: str) -> Any:
            raise DecodeError(f"{name} is not JSON")

        try:
            value = json.loads(data, parse_constant=no_constants)
        except RecursionError as exc:
            raise DecodeError("frame nested too deeply") from exc
        except ValueError as exc:
            raise DecodeError("not valid JSON") from exc
        return _envelope(value)

    def payload(self, value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def encode_event(
        self, type_: str, channel: str, seq: int, epoch: str, payload: bytes | str
    ) -> str:
        assert isinstance(payload, str)
        head = self.encode({"type": type_, "channel": channel, "seq": seq, "epoch": epoch})
        return f'{head[:-1]},"payload":{payload}}}'

    def batch(self, frames: list[bytes | str]) -> str:
        return '{"type":"batch","payload":[' + ",".join(frames) + "]}"  # type: ignore[arg-type]


def _no_ext(code: int, data: bytes) -> Any:
    raise DecodeError(f"msgpack extension {code} is not allowed")


class MsgpackCodec:
    name = MSGPACK_SUBPROTOCOL
    binary = True

    def encode(self, frame: dict[str, Any]) -> bytes:
        return msgpack.packb(frame, use_bin_type=True)  # type: ignore[no-any-return]

    def decode(self, data: bytes | str) -> dict[str, Any]:
        if isinstance(data, str):
            raise DecodeError("this connection speaks msgpack in binary frames")
        try:
            # Every declared length is bounded by the frame's real size (each element
            # takes at least a byte), so a forged huge length cannot allocate.
            size = len(data)
            value = msgpack.unpackb(
                data,
                raw=False,
                ext_hook=_no_ext,
                strict_map_key=True,
                max_str_len=size,
                max_bin_len=size,
                max_array_len=size,
                max_map_len=size,
                max_ext_len=size,
            )
        except DecodeError:
            raise
        except (
            ValueError,
            TypeError,
            msgpack.ExtraData,
            msgpack.FormatError,
            msgpack.StackError,
            RecursionError,
        ) as exc:
            raise DecodeError("not valid msgpack") from exc
        return _envelope(value)

    def payload(self, value: Any) -> bytes:
        return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]

    def encode_event(
        self, type_: str, channel: str, seq: int, epoch: str, payload: bytes | str
    ) -> bytes:
        assert isinstance(payload, bytes)
        head: bytes = msgpack.packb(
            {"type": type_, "channel": channel, "seq": seq, "epoch": epoch}, use_bin_type=True
        )
        # A fixmap header holds the entry count in its low nibble: 4 entries → 5.
        assert head[0] == 0x84
        return b"\x85" + head[1:] + _PAYLOAD_KEY + payload

    def batch(self, frames: list[bytes | str]) -> bytes:
        # {"type": "batch", "payload": [...]}, the frames spliced in as they are.
        parts: list[bytes] = [_BATCH_HEAD, _array_header(len(frames))]
        for frame in frames:
            if not isinstance(frame, bytes):
                raise TypeError("a msgpack batch joins msgpack frames")
            parts.append(frame)
        return b"".join(parts)


_PAYLOAD_KEY: bytes = b"\xa7payload"
_BATCH_HEAD: bytes = b"\x82\xa4type\xa5batch\xa7payload"


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x90 | n])
    if n < 2**16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


JSON = JsonCodec()
MSGPACK = MsgpackCodec()
CODECS: dict[str, Codec] = {JSON.name: JSON, MSGPACK.name: MSGPACK}
