"""The broker interface and the event it carries.

Every channel has an epoch and a gap-free sequence: the n-th event published on a channel
in an epoch has `seq == n`. A new epoch starts whenever the channel's history was lost
(a Redis restart, an evicted channel): sequences from an older epoch mean nothing in it.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from protocol.codec import Codec


def new_epoch() -> str:
    return secrets.token_hex(8)


@dataclass(slots=True, eq=False)
class Event:
    channel: str
    seq: int
    epoch: str
    type: str
    body: bytes  # the payload, msgpack-encoded
    _frames: dict[str, bytes | str] = field(default_factory=dict)

    def frame(self, codec: Codec) -> bytes | str:
        """The event as a wire frame, encoded once per codec however many receive it."""
        cached = self._frames.get(codec.name)
        if cached is None:
            payload = self.body if codec.binary else codec.payload(self.payload())
            cached = codec.encode_event(self.type, self.channel, self.seq, self.epoch, payload)
            self._frames[codec.name] = cached
        return cached

    def payload(self) -> Any:
        return msgpack.unpackb(self.body, raw=False)


def pack_payload(payload: Any) -> bytes:
    return msgpack.packb(payload, use_bin_type=True)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event on its way to the broker, with the id that de-duplicates a retry."""

    channel: str
    type: str
    payload: Any
    id: str


# Called for each event on a listened channel, in sequence order.
EventHandler = Callable[[Event], None]
# Called when a listened channel lost continuity: (channel, epoch, seq, reason).
ResetHandler = Callable[[str, str | None, int, str], None]


class Broker(ABC):
    """Publish with a per-channel sequence, replay from history, deliver to listeners."""

    def __init__(self) -> None:
        self.on_event: EventHandler = lambda _event: None
        self.on_reset: ResetHandler = lambda _c, _e, _s, _r: None

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect; called once before use."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Disconnect."""

    @abstractmethod
    async def publish(
        self, channel: str, type_: str, payload: Any, *, event_id: str | None = None
    ) -> Event | None:
        """Append to the channel's history and deliver; None when `event_id` was already
        published (a relay retry)."""

    async def publish_many(self, events: list[Outgoing]) -> None:
        """Publish in order (a relay's batch); an event whose id was already published
        is skipped. A failure part-way leaves the rest unpublished: the caller retries
        the whole batch and the ids drop what went out."""
        for event in events:
            await self.publish(event.channel, event.type, event.payload, event_id=event.id)

    @abstractmethod
    async def history(self, channel: str, epoch: str, after: int) -> list[Event] | None:
        """Every event after `after` in `epoch`, in order, or None when that cannot be
        given whole (another epoch, or trimmed history)."""

    @abstractmethod
    async def position(self, channel: str) -> tuple[str | None, int]:
        """The channel's epoch and last sequence (None, 0 when it has no history)."""

    @abstractmethod
    async def listen(self, channel: str) -> None:
        """Start delivering the channel's events to `on_event`; returns once active."""

    @abstractmethod
    async def unlisten(self, channel: str) -> None: ...

    async def ping(self) -> None:  # noqa: B027 - always reachable in process
        """Raise when the broker cannot be reached."""
