"""The Redis broker: history in one stream per channel, fan-out by pub/sub on one Redis
channel per channel (never one global channel), payloads as bytes.

A Lua script assigns the sequence, appends to the stream and publishes in one atomic
step, so the history and the live feed agree, and pub/sub order is sequence order. The
epoch lives beside the sequence; when Redis loses them (a restart without persistence, an
expired idle channel), the next publish starts a new epoch.

Listeners check every event's sequence: a gap (a message lost while the pub/sub
connection was down) is filled from the stream, or reported as a reset when the stream no
longer holds it. After a reconnect every listened channel is reconciled the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgpack
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hub.adapters.broker.base import Broker, Event, Outgoing, new_epoch, pack_payload

log = logging.getLogger("hub.broker")

# Publish runs of events, each run one channel's, atomically. KEYS: for each run its
# channel's meta and stream, then each event's de-duplication key ('' for none). ARGV:
# the epoch to start, history, idle TTL, de-duplication TTL; then for each run its pub/sub
# channel, its number of events, and each event's type and body. Returns for each run the
# channel's epoch, then each event's seq (0: a repeat, dropped).
_PUBLISH = """
local k, a = 1, 5
local published = {}
while a <= #ARGV do
  local meta, stream = KEYS[k], KEYS[k + 1]
  local pubsub, n = ARGV[a], tonumber(ARGV[a + 1])
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    epoch = ARGV[1]
    redis.call('DEL', stream)
    redis.call('HSET', meta, 'epoch', epoch, 'seq', 0)
  end
  published[#published + 1] = epoch
  for i = 1, n do
    local dedup = KEYS[k + 1 + i]
    local seq = 0
    if dedup == '' or redis.call('SET', dedup, '1', 'NX', 'PX', ARGV[4]) then
      local type_, body = ARGV[a + 2 * i], ARGV[a + 1 + 2 * i]
      seq = redis.call('HINCRBY', meta, 'seq', 1)
      redis.call('XADD', stream, 'MAXLEN', '~', ARGV[2], seq .. '-0', 't', type_, 'b', body)
      redis.call('PUBLISH', pubsub, cmsgpack.pack({seq, epoch, type_, body}))
    end
    published[#published + 1] = seq
  end
  redis.call('PEXPIRE', meta, ARGV[3])
  redis.call('PEXPIRE', stream, ARGV[3])
  k = k + 2 + n
  a = a + 2 + 2 * n
end
return published
"""

_RECONNECT_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


def _keys(channel: str) -> tuple[str, str, str]:
    # One hash slot per channel ({...}), so the script's keys live together on a cluster.
    tag = "{" + channel + "}"
    return f"pos:ch:{tag}:meta", f"pos:ch:{tag}:log", f"pos:ch:{tag}"


class RedisBroker(Broker):
    def __init__(
        self,
        redis: Redis,
        *,
        history: int = 1000,
        idle_ttl_seconds: int = 7 * 24 * 3600,
        dedup_ttl_seconds: int = 3600,
    ) -> None:
        super().__init__()
        self._redis = redis
        self._history = history
        self._idle_ttl_ms = idle_ttl_seconds * 1000
        self._dedup_ttl_ms = dedup_ttl_seconds * 1000
        self._script = redis.register_script(_PUBLISH)
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        # channel -> (epoch, seq) of the last event delivered to on_event
        self._positions: dict[str, tuple[str | None, int]] = {}
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._wake = asyncio.Event()
        self._lost = False
        self.connected = asyncio.Event()

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._pubsub = self._redis.pubsub()
        self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def ping(self) -> None:
        await self._redis.ping()

    # --- publishing and history -----------------------------------------------------

    async def publish(
        self, channel: str, type_: str, payload: Any, *, event_id: str | None = None
    ) -> Event | None:
        body = pack_payload(payload)
        keys, args = self._script_call([(channel, [(type_, body, event_id)])])
        epoch, seq = await self._script(keys=keys, args=args)
        if not seq:
            return None
        return Event(channel, int(seq), epoch.decode(), type_, body)

    async def publish_many(self, events: list[Outgoing]) -> None:
        """The whole batch in one script call, one round trip, run by channel: each
        channel's events keep the batch's order (the protocol orders events per channel
        only). One call, not one per channel: redis-py's packing and parsing of ~50
        calls per batch was most of a relay's cost. A Redis that lost the script has it
        loaded and the call sent again (it ran nothing). On a Redis Cluster the channels'
        keys would sit in different slots (`_keys`), and this would need a call per
        slot."""
        by_channel: dict[str, list[Outgoing]] = {}
        for event in events:
            by_channel.setdefault(event.channel, []).append(event)
        if not by_channel:
            return
        keys, args = self._script_call(
            [
                (channel, [(e.type, pack_payload(e.payload), e.id) for e in run])
                for channel, run in by_channel.items()
            ]
        )
        await self._script(keys=keys, args=args)

    def _script_call(
        self, runs: list[tuple[str, list[tuple[str, bytes, str | None]]]]
    ) -> tuple[list[str], list[Any]]:
        """The script's keys and arguments for runs of (type, body, event id), each run
        one channel's. One fresh epoch for whichever channel starts one here: any fresh
        value does."""
        keys: list[str] = []
        args: list[Any] = [new_epoch(), self._history, self._idle_ttl_ms, self._dedup_ttl_ms]
        for channel, run in runs:
            meta, stream, pubsub_channel = _keys(channel)
            keys += [meta, stream]
            keys += [f"pos:dedup:{event_id}" if event_id else "" for *_, event_id in run]
            args += [pubsub_channel, len(run)]
            for type_, body, _ in run:
                args += (type_, body)
        return keys, args

    async def history(self, channel: str, epoch: str, after: int) -> list[Event] | None:
        meta, stream, _ = _keys(channel)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hmget(meta, "epoch", "seq")
            pipe.xrange(stream, min=f"{after + 1}-0", max="+")
            (current_epoch, current_seq), entries = await pipe.execute()
        if current_epoch is None or current_epoch.decode() != epoch:
            return None
        last = int(current_seq)
        if after > last:
            return None
        events = [
            Event(channel, int(entry_id.split(b"-")[0]), epoch, fields[b"t"].decode(), fields[b"b"])
            for entry_id, fields in entries
        ]
        expected = list(range(after + 1, last + 1))
        if [e.seq for e in events][: len(expected)] != expected:
            return None  # trimmed: the oldest wanted event is gone
        return events[: len(expected)]

    async def position(self, channel: str) -> tuple[str | None, int]:
        epoch, seq = await self._redis.hmget(_keys(channel)[0], ["epoch", "seq"])
        if epoch is None or seq is None:
            return None, 0
        return (epoch.decode() if isinstance(epoch, bytes) else epoch), int(seq)

    # --- listening ------------------------------------------------------------------

    async def listen(self, channel: str) -> None:
        if channel in self._positions:
            return
        assert self._pubsub is not None, "start() the broker first"
        self._positions[channel] = await self.position(channel)
        waiter = asyncio.get_running_loop().create_future()
        self._confirmations[channel] = waiter
        try:
            if not self._lost:
                try:
                    await self._pubsub.subscribe(_keys(channel)[2])
                except (RedisError, OSError):
                    self._lost = True  # the reader reconnects and subscribes it too
            self._wake.set()
            # Events published after the confirmation reach us; anything between the
            # position read above and now is found by the catch-up below.
            await asyncio.wait_for(asyncio.shield(waiter), 5.0)
        except BaseException:
            self._positions.pop(channel, None)
            raise
        finally:
            self._confirmations.pop(channel, None)
        await self._catch_up(channel)

    async def unlisten(self, channel: str) -> None:
        if self._positions.pop(channel, None) is not None and self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(_keys(channel)[2])

    async def _read(self) -> None:
        """Read pub/sub; on a lost connection, reconnect with backoff, subscribe every
        listened channel again and catch up what was missed, retrying until all of it
        succeeded."""
        attempt = 0
        while True:
            if not self._positions:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                if self._lost:
                    await self._resubscribe()
                    await self._reconcile()
                    self._lost = False
                    attempt = 0
                assert self._pubsub is not None
                message = await self._pubsub.get_message(timeout=1.0)
                self.connected.set()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                self._lost = True
                self.connected.clear()
                delay = _RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)]
                attempt += 1
                log.warning("redis pub/sub lost (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            if message is not None:
                self._dispatch(message)

    async def _resubscribe(self) -> None:
        """A fresh pub/sub connection subscribed to every listened channel; raises while
        Redis is unreachable."""
        old, self._pubsub = self._pubsub, self._redis.pubsub()
        if old is not None:
            with contextlib.suppress(RedisError, OSError):
                await old.aclose()  # type: ignore[no-untyped-call]
        names = [_keys(c)[2] for c in self._positions]
        if names:
            await self._pubsub.subscribe(*names)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        raw_channel = message.get("channel", b"")
        name = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
        channel = name[len("pos:ch:{") : -1]
        if kind == "subscribe":
            waiter = self._confirmations.get(channel)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        if kind != "message" or channel not in self._positions:
            return
        try:
            seq, epoch, type_, body = msgpack.unpackb(message["data"], raw=True)
            event = Event(channel, int(seq), epoch.decode(), type_.decode(), body)
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            log.error("undecodable broker message on %s: %s", channel, exc)
            return
        self._accept(event)

    def _accept(self, event: Event) -> None:
        known_epoch, known_seq = self._positions[event.channel]
        if known_epoch == event.epoch and event.seq <= known_seq:
            return  # already delivered (replayed during a catch-up)
        if (known_epoch == event.epoch and event.seq == known_seq + 1) or (
            known_epoch is None and event.seq == 1
        ):
            self._positions[event.channel] = (event.epoch, event.seq)
            self.on_event(event)
            return
        # A gap, or a new epoch: let the catch-up decide, off this loop.
        asyncio.get_running_loop().create_task(self._catch_up(event.channel))

    async def _catch_up(self, channel: str, *, retry_later: bool = True) -> None:
        """Deliver what a listened channel has beyond our position, or report a reset.
        A Redis error is logged (the next event or reconnect retries), or raised when
        the caller retries itself."""
        if channel not in self._positions:
            return
        known_epoch, known_seq = self._positions[channel]
        try:
            epoch, seq = await self.position(channel)
            if epoch is None or (epoch == known_epoch and seq <= known_seq):
                if epoch is None and known_epoch is not None:
                    self._positions[channel] = (None, 0)
                    self.on_reset(channel, None, 0, "history lost")
                return
            # Listening began on an empty channel: everything in this epoch is new to us.
            start_epoch, after = (known_epoch, known_seq) if known_epoch else (epoch, 0)
            missed = await self.history(channel, start_epoch, after)
        except (RedisError, OSError) as exc:
            if not retry_later:
                raise
            log.warning("catch-up of %s failed: %s", channel, exc)
            return
        if missed is None:
            self._positions[channel] = (epoch, seq)
            self.on_reset(channel, epoch, seq, "history lost" if epoch != known_epoch else "gap")
            return
        for event in missed:
            current_epoch, current_seq = self._positions.get(channel, (None, -1))
            if current_epoch == event.epoch and event.seq == current_seq + 1:
                self._positions[channel] = (event.epoch, event.seq)
                self.on_event(event)

    async def _reconcile(self) -> None:
        for channel in list(self._positions):
            await self._catch_up(channel, retry_later=False)
