"""One websocket connection: its codec, principal, subscriptions and bounded send queue.

Fan-out only ever appends to queues (never awaits a socket). Once per turn of the event
loop the `Flusher` sends every queue that filled, joining what piled up into one `batch`
frame. A send to a writable socket completes without suspending, so it is made right
there, with no task per connection; only a send that would wait (the peer reads slowly)
is handed to a task of its own, which then drains that queue. A connection whose queue
passes its byte limit is a slow consumer: it is closed with CLOSE_SLOW_CONSUMER and its
frames dropped, and nobody else waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket

from hub.adapters.broker.base import Event
from hub.services.principal import Principal
from protocol.codec import Codec

log = logging.getLogger("hub.realtime")

MAX_BATCH_FRAMES = 64
MAX_BATCH_BYTES = 64 * 1024
CLOSE_TIMEOUT = 2.0


class Flusher:
    """Sends the queues that filled during this turn of the event loop, at its end, so
    that events arriving in a burst leave as one batch per connection."""

    def __init__(self) -> None:
        self._pending: list[Connection] = []
        self._scheduled = False

    def mark(self, connection: Connection) -> None:
        self._pending.append(connection)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        pending, self._pending = self._pending, []
        self._scheduled = False
        for connection in pending:
            connection.flush()


@dataclass
class Subscription:
    # While a subscription replays history, live events wait here.
    pending: list[Event] | None = field(default_factory=list)


class Connection:
    # Thousands of these live at once: slots, and no queue until there is something to send.
    __slots__ = (
        "_closer",
        "_flusher",
        "_marked",
        "_queue",
        "_queued_bytes",
        "_writer",
        "aborted",
        "close_code",
        "closed",
        "codec",
        "frames_sent",
        "handler",
        "id",
        "last_received",
        "last_sent",
        "max_queue_bytes",
        "principal",
        "subscriptions",
        "token_expires_at",
        "websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        codec: Codec,
        principal: Principal,
        *,
        max_queue_bytes: int,
        token_expires_at: float | None,
        flusher: Flusher,
    ) -> None:
        self.id = secrets.token_hex(8)
        self.websocket = websocket
        self.codec = codec
        self.principal = principal
        self.max_queue_bytes = max_queue_bytes
        self.token_expires_at = token_expires_at
        self.subscriptions: dict[str, Subscription] = {}
        self.last_received = time.monotonic()
        self.last_sent = time.monotonic()
        self.closed = False
        self.close_code: int | None = None
        self.frames_sent = 0
        self._queue: deque[bytes | str] | None = None
        self._queued_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._flusher = flusher
        self._marked = False
        self._closer: asyncio.Task[None] | None = None
        # The task serving this connection; cancelled when a close cannot get through.
        self.handler: asyncio.Task[None] | None = None
        self.aborted = False

    # --- outbound -------------------------------------------------------------------

    def send(self, frame: dict[str, Any]) -> None:
        self.enqueue(self.codec.encode(frame))

    async def send_alone(self, frame: dict[str, Any]) -> None:
        """Send one frame as a frame of its own, now: the `hello`, before the connection
        is registered, so nothing can be queued with it into a batch (clients wait for a
        bare `hello` first)."""
        assert self._queue is None, "send_alone before anything is queued"
        await self._send(self.codec.encode(frame))
        self.frames_sent += 1
        self.last_sent = time.monotonic()

    def deliver(self, event: Event) -> None:
        subscription = self.subscriptions.get(event.channel)
        if subscription is None:
            return
        if subscription.pending is not None:
            subscription.pending.append(event)
        else:
            self.enqueue(event.frame(self.codec))

    def enqueue(self, frame: bytes | str, *, bounded: bool = True) -> None:
        """Queue a frame. `bounded=False` is for a replay the client asked for: it may
        pass the limit once (it is bounded by the channel's history instead)."""
        if self.closed:
            return
        if self._queue is None:
            self._queue = deque()
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        if bounded and self._queued_bytes > self.max_queue_bytes:
            log.warning(
                "connection %s too slow (%d bytes queued); closing", self.id, self._queued_bytes
            )
            self.close(4009, "slow consumer")
            return
        if self._writer is None and not self._marked:
            self._marked = True
            self._flusher.mark(self)

    def _next_batch(self) -> tuple[bytes | str, int, int]:
        queue = self._queue
        assert queue
        frames: list[bytes | str] = []
        size = 0
        while queue and len(frames) < MAX_BATCH_FRAMES and size < MAX_BATCH_BYTES:
            frame = queue.popleft()
            frames.append(frame)
            size += len(frame)
        data = frames[0] if len(frames) == 1 else self.codec.batch(frames)
        return data, size, len(frames)

    def _sent(self, size: int, count: int) -> None:
        self._queued_bytes -= size
        self.frames_sent += count
        self.last_sent = time.monotonic()

    def _send(self, data: bytes | str) -> Coroutine[Any, Any, None]:
        if isinstance(data, bytes):
            return self.websocket.send_bytes(data)
        return self.websocket.send_text(data)

    def flush(self) -> None:
        """Send what is queued, now, as far as the socket takes it without waiting."""
        self._marked = False
        while self._queue and not self.closed and self._writer is None:
            data, size, count = self._next_batch()
            send = self._send(data)
            try:
                waiting_on = send.send(None)
            except StopIteration:
                self._sent(size, count)
                continue
            except Exception as exc:
                log.debug("connection %s send failed: %r", self.id, exc)
                self.closed = True
                return
            # The socket is full: a task waits for it, then drains the rest.
            self._writer = asyncio.create_task(self._finish(send, waiting_on, size, count))
            return
        if not self._queue:
            self._queue = None  # idle connections keep no buffer

    async def _finish(
        self, send: Coroutine[Any, Any, None], waiting_on: Any, size: int, count: int
    ) -> None:
        """Carry a send that suspended to its end (as a Task would), then drain."""
        try:
            while True:
                failure: BaseException | None = None
                try:
                    if waiting_on is None:  # a bare yield: just let the loop turn
                        await asyncio.sleep(0)
                    else:
                        # The asyncio driver protocol (what Task.__step does): a future
                        # yielded with _asyncio_future_blocking set is waited for by the
                        # driver, which clears the flag first.
                        waiting_on._asyncio_future_blocking = False
                        await waiting_on
                except asyncio.CancelledError:
                    send.close()
                    raise
                except Exception as exc:
                    failure = exc
                try:
                    waiting_on = send.throw(failure) if failure else send.send(None)
                except StopIteration:
                    break
            self._sent(size, count)
        except Exception as exc:
            log.debug("connection %s send failed: %r", self.id, exc)
            self.closed = True
            self._writer = None
            return
        await self._drain()

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    async def _drain(self) -> None:
        try:
            while self._queue and not self.closed:
                data, size, count = self._next_batch()
                await self._send(data)
                self._sent(size, count)
        except Exception as exc:  # the socket went away under us
            log.debug("connection %s send failed: %s", self.id, exc)
            self.closed = True
        finally:
            self._writer = None
            if not self._queue:
                self._queue = None

    # --- closing --------------------------------------------------------------------

    def close(self, code: int, reason: str) -> None:
        """Close without waiting: queued frames are dropped."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self._queue = None
        self._queued_bytes = 0
        if self._writer is not None:
            self._writer.cancel()
        self._closer = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.websocket.close(code, reason), CLOSE_TIMEOUT)
            return
        except Exception as exc:
            log.info("connection %s: close frame not delivered (%s); dropping it", self.id, exc)
        # The peer does not read, so not even the close frame gets out: stop serving it
        # (its subscriptions go with it) and let the server drop the socket.
        if self.handler is not None and not self.handler.done():
            self.aborted = True
            self.handler.cancel()

    async def wait_closed(self) -> None:
        """Until the close frame went out (or was given up on)."""
        if self._closer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._closer)
