"""A reference client of the realtime protocol (used by the edge agent, tests and
benchmarks; the browser client follows the same rules, see docs/protocol.md).

It keeps every subscribed channel's (epoch, seq), applies events in order, detects gaps
on the live connection, and after a reconnect (with full-jitter exponential backoff)
re-subscribes with `since`, so it receives exactly what it missed or a `resync`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from protocol.codec import JSON, Codec

log = logging.getLogger("protocol.client")


class RequestFailed(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        fields: dict[str, str] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.fields = fields or {}
        self.data = data  # what the hub sent to recover with, e.g. the current cart


@dataclass
class Position:
    epoch: str | None = None
    seq: int = 0


CLOSE_WAIT = 2.0  # seconds close() gives each background task to finish

EventCallback = Callable[[dict[str, Any]], Awaitable[None] | None]


def backoff_delays(base: float = 0.25, cap: float = 15.0) -> Any:
    """Full jitter: uniform in [0, min(cap, base * 2^n)]; spreads a reconnect storm."""
    for attempt in itertools.count():
        yield random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311 - not crypto


@dataclass
class HubClient:
    url: str
    token: str
    codec: Codec = JSON
    token_via: str = "header"  # "header", "subprotocol" or "frame"
    on_event: EventCallback | None = None
    on_resync: EventCallback | None = None
    positions: dict[str, Position] = field(default_factory=dict)
    hello: dict[str, Any] = field(default_factory=dict)
    close_code: int | None = None

    def __post_init__(self) -> None:
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    # --- connection -------------------------------------------------------------------

    async def connect(self) -> dict[str, Any]:
        subprotocols = [self.codec.name]
        headers = {}
        if self.token_via == "subprotocol":
            subprotocols.append("bearer." + self.token)
        elif self.token_via == "header":
            headers["Authorization"] = f"Bearer {self.token}"
        self._ws = await websockets.connect(
            self.url,
            subprotocols=subprotocols,  # type: ignore[arg-type]
            additional_headers=headers,
            compression=None,
            max_size=2**24,
            ping_interval=None,
            # Closing waits this long for the hub's answer, not websockets' 10 s: an
            # agent told to stop (systemd, a revoked token) stops even if the hub is mute.
            close_timeout=CLOSE_WAIT,
        )
        if self.token_via == "frame":
            await self._send({"type": "auth", "payload": {"token": self.token}})
        first = await self._next_frame()
        # Batches may come anywhere, the first frame included (hello + what followed it).
        frames = first["payload"] if first.get("type") == "batch" else [first]
        hello = frames[0] if frames and isinstance(frames[0], dict) else {}
        if hello.get("type") != "hello":
            raise RequestFailed(
                hello.get("payload", {}).get("code", "auth_failed"),
                hello.get("payload", {}).get("message", "no hello"),
            )
        self.hello = hello["payload"]
        self.close_code = None
        for frame in frames[1:]:
            await self._dispatch(frame)
        self._reader = asyncio.create_task(self._read())
        self._pinger = asyncio.create_task(self._ping_loop())
        return self.hello

    async def close(self) -> None:
        for task in (self._pinger, self._reader):
            if task is not None:
                task.cancel()
                # Bounded: on Python 3.11 a cancel that lands as `wait_for` completes can
                # be lost, and the task would run on; it is abandoned, not awaited forever.
                await asyncio.wait({task}, timeout=CLOSE_WAIT)
                if task.done() and not task.cancelled():
                    with contextlib.suppress(Exception):
                        task.result()
        if self._ws is not None:
            await self._ws.close()

    async def reconnect(self, delays: Any = None, attempts: int = 50) -> None:
        """Reconnect with jittered backoff, then re-subscribe every channel from its
        last position (the hub replays what was missed, or says `resync`)."""
        await self.close()
        delays = delays or backoff_delays()
        for _ in range(attempts):
            await asyncio.sleep(next(delays))
            try:
                await self.connect()
                break
            except (OSError, websockets.WebSocketException, RequestFailed) as exc:
                log.info("reconnect failed: %s", exc)
        else:
            raise ConnectionError("hub unreachable")
        for channel in list(self.positions):
            await self.subscribe(channel, resume=True)

    @property
    def connected(self) -> bool:
        return self._reader is not None and not self._reader.done()

    # --- requests ---------------------------------------------------------------------

    async def request(
        self, type_: str, payload: dict[str, Any] | None = None, *, wait: float = 10.0
    ) -> dict[str, Any]:
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        try:
            await self._send({"type": type_, "id": request_id, "payload": payload or {}})
            reply = await asyncio.wait_for(future, wait)
        finally:
            self._replies.pop(request_id, None)
            if future.done() and not future.cancelled():
                # The connection ended while this was being sent: the reader failed the
                # reply too, and the send's own error is the one raised. Seen here, the
                # reply's is not reported as never retrieved.
                future.exception()
        if reply["type"] == "error":
            body = reply.get("payload", {})
            raise RequestFailed(
                body.get("code", "?"), body.get("message", ""), body.get("fields"), body.get("data")
            )
        data: dict[str, Any] = reply.get("payload", {}).get("data", {})
        return data

    async def subscribe(self, channel: str, *, resume: bool = False) -> dict[str, Any]:
        payload: dict[str, Any] = {"channel": channel}
        known = self.positions.get(channel)
        if resume and known is not None:
            # epoch null, seq 0: the channel was empty; the hub replays its whole epoch.
            payload["since"] = {"epoch": known.epoch, "seq": known.seq}
        data = await self.request("subscribe", payload)
        if not (resume and known is not None):
            self.positions[channel] = Position(data["epoch"], data["seq"])
        return data

    async def unsubscribe(self, channel: str) -> None:
        await self.request("unsubscribe", {"channel": channel})
        self.positions.pop(channel, None)

    # --- frames -----------------------------------------------------------------------

    async def _send(self, frame: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send(self.codec.encode(frame))

    async def _next_frame(self) -> dict[str, Any]:
        assert self._ws is not None
        return self.codec.decode(await self._ws.recv())

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for data in self._ws:
                frame = self.codec.decode(data)
                for item in frame["payload"] if frame.get("type") == "batch" else [frame]:
                    await self._dispatch(item)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self._ws.close_code
            for future in self._replies.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ok" and "id" not in frame:
            # The hub subscribed us itself (an agent's own queue): track it like ours.
            data = frame.get("payload", {}).get("data", {})
            if "channel" in data:
                self.positions.setdefault(data["channel"], Position(data["epoch"], data["seq"]))
            return
        if kind == "unsubscribed":
            self.positions.pop(frame["payload"]["channel"], None)
            await self.events.put(frame)
            return
        if kind in ("ok", "error") and frame.get("id") in self._replies:
            future = self._replies[frame["id"]]
            if not future.done():
                future.set_result(frame)
            return
        if kind == "resync":
            body = frame["payload"]
            self.positions[body["channel"]] = Position(body["epoch"], body["seq"])
            if self.on_resync is not None:
                await _call(self.on_resync, frame)
            await self.events.put(frame)
            return
        if kind in ("heartbeat", "hello", "ok", "error"):
            return
        channel = frame.get("channel")
        if not isinstance(channel, str) or channel not in self.positions:
            return
        position = self.positions[channel]
        epoch, seq = frame["epoch"], frame["seq"]
        if epoch == position.epoch and seq <= position.seq:
            return  # a replayed duplicate
        if (epoch == position.epoch and seq == position.seq + 1) or (
            position.epoch is None and seq == 1
        ):
            position.epoch, position.seq = epoch, seq
            if self.on_event is not None:
                await _call(self.on_event, frame)
            await self.events.put(frame)
            return
        # A gap on a live connection: ask for what is missing (or a resync).
        log.info(
            "gap on %s: have %s/%s, got %s/%s", channel, position.epoch, position.seq, epoch, seq
        )
        asyncio.get_running_loop().create_task(self.subscribe(channel, resume=True))

    async def _ping_loop(self) -> None:
        interval = float(self.hello.get("heartbeat_seconds", 15.0))
        me = asyncio.current_task()
        while me is None or not me.cancelling():
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await self.request("ping", wait=interval)
        # A cancel swallowed by `wait_for` (Python 3.11) still ends the loop here.


async def _call(callback: EventCallback, frame: dict[str, Any]) -> None:
    result = callback(frame)
    if result is not None:
        await result
