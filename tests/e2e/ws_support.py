"""Shared pieces of the websocket tests: a tenant on a live hub, clients that always close,
raw sockets with byte-level control, and frame helpers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from protocol.client import HubClient
from protocol.codec import JSON, MSGPACK, Codec
from tests.conftest import LiveHub
from tests.helpers import TenantKit, build_tenant


@asynccontextmanager
async def api(hub: LiveHub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.http, timeout=10.0) as client:
        yield client


async def tenant(hub: LiveHub) -> TenantKit:
    async with api(hub) as client:
        return await build_tenant(client)


async def tenants(hub: LiveHub, n: int) -> list[TenantKit]:
    async with api(hub) as client:
        return [await build_tenant(client) for _ in range(n)]


@asynccontextmanager
async def hub_client(
    hub: LiveHub, token: str, *, codec: Codec = JSON, token_via: str = "header"
) -> AsyncIterator[HubClient]:
    client = HubClient(hub.ws, token, codec=codec, token_via=token_via)
    try:
        await client.connect()
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def raw(
    hub: LiveHub,
    *,
    token: str | None = None,
    codec: Codec = JSON,
    subprotocols: Iterable[str] | None = None,
    max_queue: int | None = 16,
) -> AsyncIterator[ClientConnection]:
    """A bare websocket; with `token` it authenticates by header."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    offered = list(subprotocols if subprotocols is not None else [codec.name])
    ws = await websockets.connect(
        hub.ws,
        subprotocols=offered or None,  # type: ignore[arg-type]
        additional_headers=headers,
        compression=None,
        max_size=2**24,
        max_queue=max_queue,
        ping_interval=None,
        open_timeout=5,
        close_timeout=2,
    )
    try:
        yield ws
    finally:
        await ws.close()


def unpack(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """The frames inside a `batch`, or the frame itself."""
    return list(frame["payload"]) if frame.get("type") == "batch" else [frame]


async def recv_frames(
    ws: ClientConnection, codec: Codec = JSON, wait: float = 5.0
) -> list[dict[str, Any]]:
    """The next websocket message, decoded and unbatched."""
    data = await asyncio.wait_for(ws.recv(), wait)
    if codec.binary:
        assert isinstance(data, bytes), data
    else:
        assert isinstance(data, str), data
    return unpack(codec.decode(data))


async def recv_until(
    ws: ClientConnection,
    predicate: Any,
    codec: Codec = JSON,
    wait: float = 5.0,
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Read frames until one satisfies `predicate`; collects all frames into `seen`."""
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no matching frame")
        for frame in await recv_frames(ws, codec, left):
            if seen is not None:
                seen.append(frame)
            if predicate(frame):
                return frame


async def hello(ws: ClientConnection, codec: Codec = JSON) -> dict[str, Any]:
    """The `hello`, and the `ok` (without id) of the automatic subscription to the
    connection's own user or device channel that always follows it."""
    frames = await recv_frames(ws, codec)
    assert frames[0]["type"] == "hello", frames
    own = frames[1:] or await recv_frames(ws, codec)
    assert own[0]["type"] == "ok", own
    assert "id" not in own[0], own
    return frames[0]


async def request(
    ws: ClientConnection,
    type_: str,
    payload: Any = None,
    *,
    id: Any,
    codec: Codec = JSON,
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Send one request and return its reply (the frame of type ok/error with that id)."""
    frame: dict[str, Any] = {"type": type_, "id": id}
    if payload is not None:
        frame["payload"] = payload
    await ws.send(codec.encode(frame))
    return await recv_until(
        ws, lambda f: f.get("type") in ("ok", "error") and f.get("id") == id, codec, seen=seen
    )


async def closed_code(ws: ClientConnection, wait: float = 5.0) -> int | None:
    """Read (and drop) everything until the hub closes; the close code it sent."""
    with contextlib.suppress(websockets.ConnectionClosed):
        async with asyncio.timeout(wait):
            while True:
                await ws.recv()
    assert ws.close_code is not None, "the hub did not close the connection"
    return ws.close_code


async def wait_for(condition: Any, wait: float = 5.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + wait
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(interval)


async def drain_events(client: HubClient, n: int, wait: float = 5.0) -> list[dict[str, Any]]:
    """Exactly `n` frames from the client's event queue."""
    out = []
    async with asyncio.timeout(wait):
        for _ in range(n):
            out.append(await client.events.get())
    return out


async def events_of_type(
    client: HubClient, type_: str, n: int, wait: float = 5.0
) -> list[dict[str, Any]]:
    """The next `n` events of one type, those of other types passed over (a group's
    events are relayed after its requests were answered: a channel subscribed just
    after a reply may still carry the event of that reply)."""
    out = []
    async with asyncio.timeout(wait):
        while len(out) < n:
            event = await client.events.get()
            if event.get("type") == type_:
                out.append(event)
    return out


async def no_more_events(client: HubClient, wait: float = 0.3) -> None:
    await asyncio.sleep(wait)
    assert client.events.empty(), client.events.get_nowait()


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def server_errors() -> Iterator[list[logging.LogRecord]]:
    """Every ERROR logged meanwhile by uvicorn (an exception in the ASGI app), asyncio (a
    task that died unobserved) or the hub."""
    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    loggers = [logging.getLogger(n) for n in ("uvicorn.error", "asyncio", "hub")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


CODECS = [JSON, MSGPACK]
CODEC_IDS = ["json", "msgpack"]
