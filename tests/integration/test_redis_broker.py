"""The Redis broker against a real Redis: sequences, history, de-duplication, fan-out
between two broker instances (two "processes"), catch-up after missed messages, and
what a listener sees when its pub/sub connection or the whole Redis goes away.

Tests on the shared Redis use fresh channel names and delete their keys afterwards. Tests
that break connections or restart Redis run their own private `redis-server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from hub.adapters.broker.base import Event, Outgoing
from hub.adapters.broker.redis import RedisBroker
from tests import services
from tests.private_redis import PrivateRedis

# --- helpers ------------------------------------------------------------------------


def new_channel() -> str:
    return f"tenant:{uuid.uuid4()}:shop:{uuid.uuid4()}"


def pubsub_name(channel: str) -> str:
    return "pos:ch:{" + channel + "}"


async def eventually(
    predicate: Callable[[], bool], describe: Callable[[], str], within: float = 5.0
) -> None:
    """Wait until `predicate()` holds; AssertionError with `describe()` when it never does."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {describe()}")
        await asyncio.sleep(0.01)


@dataclass
class Recorder:
    """What a listening broker handed to its callbacks, in the order it did."""

    events: list[Event] = field(default_factory=list)
    resets: list[tuple[str, str | None, int, str]] = field(default_factory=list)
    # ("event", epoch, seq) and ("reset", epoch, seq) interleaved as they happened
    log: list[tuple[str, str | None, int]] = field(default_factory=list)

    def attach(self, broker: RedisBroker) -> Recorder:
        broker.on_event = self._event
        broker.on_reset = self._reset
        return self

    def _event(self, event: Event) -> None:
        self.events.append(event)
        self.log.append(("event", event.epoch, event.seq))

    def _reset(self, channel: str, epoch: str | None, seq: int, reason: str) -> None:
        self.resets.append((channel, epoch, seq, reason))
        self.log.append(("reset", epoch, seq))

    def seqs(self) -> list[int]:
        return [e.seq for e in self.events]

    def position(self, start: tuple[str | None, int]) -> tuple[str | None, int]:
        """The position the log leads to from `start`, checking that every event follows
        its predecessor or a reset: no gap, no duplicate, no reordering."""
        epoch, seq = start
        for kind, e, s in self.log:
            if kind == "reset":
                epoch, seq = e, s
                continue
            follows = (e == epoch and s == seq + 1) or (epoch is None and s == 1)
            assert follows, f"silent gap: at {epoch}/{seq}, then event {e}/{s}; log {self.log}"
            epoch, seq = e, s
        return epoch, seq


@asynccontextmanager
async def broker(
    url: str, *, history: int = 1000, name: str | None = None
) -> AsyncIterator[RedisBroker]:
    """A started broker on its own Redis client (its own connections: another process);
    `name` is set as the client name of each of its connections."""
    redis = Redis.from_url(url, client_name=name)
    instance = RedisBroker(redis, history=history)
    try:
        await instance.start()
        yield instance
    finally:
        try:
            await instance.stop()
        finally:
            await redis.aclose()


async def delete_channel_keys(redis: Redis, channel: str) -> None:
    keys = [k async for k in redis.scan_iter(match=f"pos:ch:{{{channel}}}:*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    services.need("redis")
    client = Redis.from_url(services.REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def channel(redis: Redis) -> AsyncIterator[str]:
    name = new_channel()
    try:
        yield name
    finally:
        await delete_channel_keys(redis, name)


# --- a private redis-server ---------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    services.need("redis")
    if shutil.which("redis-server") is None:
        message = "redis-server binary not installed"
        if services.REQUIRED:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- publishing and history -----------------------------------------------------------


async def test_publish_assigns_gap_free_sequences_in_one_epoch(redis: Redis, channel: str) -> None:
    other = new_channel()
    try:
        async with broker(services.REDIS_URL) as b:
            assert await b.position(channel) == (None, 0)
            published = [await b.publish(channel, "shop.updated", {"n": n}) for n in range(20)]
            # Another channel has its own sequence and its own epoch.
            elsewhere = [await b.publish(other, "shop.updated", {"n": n}) for n in range(3)]
            assert all(e is not None for e in published + elsewhere)
            events = [e for e in published if e is not None]
            assert [e.seq for e in events] == list(range(1, 21))
            epochs = {e.epoch for e in events}
            assert len(epochs) == 1
            (epoch,) = epochs
            assert await b.position(channel) == (epoch, 20)
            assert [e.seq for e in elsewhere if e is not None] == [1, 2, 3]
            assert {e.epoch for e in elsewhere if e is not None} != epochs
            assert all(e.channel == channel and e.type == "shop.updated" for e in events)
            assert [e.payload() for e in events] == [{"n": n} for n in range(20)]
    finally:
        await delete_channel_keys(redis, other)


async def test_concurrent_publishers_never_share_or_skip_a_sequence(
    redis: Redis, channel: str
) -> None:
    async with broker(services.REDIS_URL) as b, broker(services.REDIS_URL) as c:

        async def burst(publisher: RedisBroker, who: str) -> list[Event | None]:
            return [await publisher.publish(channel, "x", {"who": who, "n": n}) for n in range(50)]

        results = await asyncio.gather(burst(b, "b"), burst(c, "c"), burst(b, "b2"))
        seqs = sorted(e.seq for batch in results for e in batch if e is not None)
        assert seqs == list(range(1, 151))
        # Each publisher's own events keep its order.
        for batch in results:
            mine = [e.seq for e in batch if e is not None]
            assert mine == sorted(mine)


async def test_history_is_exact_or_none(redis: Redis, channel: str) -> None:
    async with broker(services.REDIS_URL) as b:
        assert await b.history(channel, "no-such-epoch", 0) is None  # no history at all
        for n in range(1, 6):
            await b.publish(channel, "shop.updated", {"n": n})
        epoch, seq = await b.position(channel)
        assert epoch is not None
        assert seq == 5

        everything = await b.history(channel, epoch, 0)
        assert everything is not None
        assert [e.seq for e in everything] == [1, 2, 3, 4, 5]
        assert [e.payload() for e in everything] == [{"n": n} for n in range(1, 6)]
        assert {(e.channel, e.epoch, e.type) for e in everything} == {
            (channel, epoch, "shop.updated")
        }

        tail = await b.history(channel, epoch, 2)
        assert tail is not None
        assert [e.seq for e in tail] == [3, 4, 5]
        assert await b.history(channel, epoch, 5) == []  # up to date: nothing, not None

        assert await b.history(channel, "0123456789abcdef", 0) is None  # wrong epoch
        assert await b.history(channel, "0123456789abcdef", 5) is None
        assert await b.history(channel, epoch, 6) is None  # beyond the last sequence
        assert await b.history(channel, epoch, 1000) is None


async def test_history_beyond_what_the_stream_keeps_is_none(redis: Redis, channel: str) -> None:
    """Trimming is approximate (`MAXLEN ~`): Redis drops whole stream nodes (100 entries
    by default), so at least `history` events are kept, often more, never a partial
    answer."""
    async with broker(services.REDIS_URL, history=10) as b:
        for n in range(50):
            await b.publish(channel, "x", {"n": n})
        epoch, _ = await b.position(channel)
        assert epoch is not None
        early = await b.history(channel, epoch, 5)
        # Either the whole rest of the history, or None; never a list with a hole.
        assert early is None or [e.seq for e in early] == list(range(6, 51))

        for n in range(50, 300):
            await b.publish(channel, "x", {"n": n})
        stream = f"pos:ch:{{{channel}}}:log"
        kept = await redis.xlen(stream)
        assert 10 <= kept < 300, kept  # trimmed, but never below `history`
        assert await b.history(channel, epoch, 5) is None  # trimmed away
        first_kept = int((await redis.xrange(stream, count=1))[0][0].split(b"-")[0])
        assert await b.history(channel, epoch, first_kept - 2) is None  # one too far back
        exact = await b.history(channel, epoch, first_kept - 1)
        assert exact is not None
        assert [e.seq for e in exact] == list(range(first_kept, 301))
        last_ten = await b.history(channel, epoch, 290)
        assert last_ten is not None
        assert [e.payload()["n"] for e in last_ten] == list(range(290, 300))


async def test_event_id_is_published_once(redis: Redis, channel: str) -> None:
    event_id = str(uuid.uuid4())
    try:
        async with broker(services.REDIS_URL) as b, broker(services.REDIS_URL) as c:
            first = await b.publish(channel, "x", {"n": 1}, event_id=event_id)
            assert first is not None
            assert first.seq == 1
            # A retry, from this process or another, is dropped and takes no sequence.
            assert await b.publish(channel, "x", {"n": 1}, event_id=event_id) is None
            assert await c.publish(channel, "x", {"n": 1}, event_id=event_id) is None
            assert await b.position(channel) == (first.epoch, 1)
            second = await c.publish(channel, "x", {"n": 2}, event_id=str(uuid.uuid4()))
            third = await c.publish(channel, "x", {"n": 3})  # no id: never de-duplicated
            again = await c.publish(channel, "x", {"n": 3})
            assert [e.seq for e in (second, third, again) if e is not None] == [2, 3, 4]
            history = await b.history(channel, first.epoch, 0)
            assert history is not None
            assert [e.payload()["n"] for e in history] == [1, 2, 3, 3]
    finally:
        await redis.delete(f"pos:dedup:{event_id}")


async def _script_calls(admin: Redis) -> dict[str, int]:
    stats = await admin.info("commandstats")
    return {
        name: int(stats[key]["calls"])
        for name, key in (("exists", "cmdstat_script|exists"), ("evalsha", "cmdstat_evalsha"))
        if key in stats
    }


async def test_a_batch_is_published_in_order_in_one_round_trip(
    private_redis: PrivateRedis,
) -> None:
    """`publish_many` calls its script by its hash (no `SCRIPT EXISTS` before each
    batch), once per batch whatever its channels, and each channel keeps the batch's
    order."""
    admin = Redis.from_url(private_redis.url)
    channels = [new_channel(), new_channel()]
    try:
        async with broker(private_redis.url) as b:
            await b.publish_many(  # loads the script
                [Outgoing(c, "x", {"n": 0}, str(uuid.uuid4())) for c in channels]
            )
            before = await _script_calls(admin)
            for start in (1, 4):
                await b.publish_many(
                    [
                        Outgoing(channels[n % 2], "x", {"n": n}, str(uuid.uuid4()))
                        for n in range(start, start + 3)
                    ]
                )
            after = await _script_calls(admin)
            assert after.get("exists", 0) == before.get("exists", 0)
            assert after["evalsha"] - before.get("evalsha", 0) == 2
            for parity, channel in enumerate(channels):
                epoch, _ = await b.position(channel)
                assert epoch is not None
                history = await b.history(channel, epoch, 0)
                assert history is not None
                wanted = [0] + [n for n in range(1, 7) if n % 2 == parity]
                assert [(e.seq, e.payload()["n"]) for e in history] == [
                    (i + 1, n) for i, n in enumerate(wanted)
                ]
    finally:
        await admin.aclose()


async def test_a_batch_after_redis_lost_its_scripts_goes_out_once(
    private_redis: PrivateRedis,
) -> None:
    admin = Redis.from_url(private_redis.url)
    channel = new_channel()
    events = [Outgoing(channel, "x", {"n": n}, str(uuid.uuid4())) for n in range(3)]
    try:
        async with broker(private_redis.url) as b:
            await b.publish_many(events[:2])  # the script is loaded
            await admin.script_flush()
            await b.publish_many(events)  # the first two were published already
            epoch, _ = await b.position(channel)
            assert epoch is not None
            history = await b.history(channel, epoch, 0)
            assert history is not None
            assert [(e.seq, e.payload()["n"]) for e in history] == [(1, 0), (2, 1), (3, 2)]
    finally:
        await admin.aclose()


# --- listening ----------------------------------------------------------------------


async def test_a_listener_receives_every_event_of_another_process_in_order(
    redis: Redis, channel: str
) -> None:
    async with broker(services.REDIS_URL) as a, broker(services.REDIS_URL) as b:
        seen = Recorder().attach(a)
        await a.listen(channel)
        for n in range(200):
            await b.publish(channel, "shop.updated", {"n": n})
        await eventually(lambda: len(seen.events) >= 200, lambda: f"{len(seen.events)} of 200")
        await asyncio.sleep(0.1)  # nothing more, no duplicates, trickles in
        assert seen.seqs() == list(range(1, 201))
        assert [e.payload() for e in seen.events] == [{"n": n} for n in range(200)]
        assert len({e.epoch for e in seen.events}) == 1
        assert all(e.channel == channel and e.type == "shop.updated" for e in seen.events)
        assert seen.resets == []


async def test_two_publishers_reach_a_listener_in_sequence_order(
    redis: Redis, channel: str
) -> None:
    async with (
        broker(services.REDIS_URL) as a,
        broker(services.REDIS_URL) as b,
        broker(services.REDIS_URL) as c,
    ):
        seen = Recorder().attach(a)
        await a.listen(channel)

        async def burst(publisher: RedisBroker, who: str) -> None:
            for n in range(100):
                await publisher.publish(channel, "x", {"who": who, "n": n})

        await asyncio.gather(burst(b, "b"), burst(c, "c"))
        await eventually(lambda: len(seen.events) >= 200, lambda: f"{len(seen.events)} of 200")
        assert seen.seqs() == list(range(1, 201))
        for who in ("b", "c"):
            mine = [e.payload()["n"] for e in seen.events if e.payload()["who"] == who]
            assert mine == list(range(100))


async def test_listen_on_a_channel_with_history_delivers_only_new_events(
    redis: Redis, channel: str
) -> None:
    async with broker(services.REDIS_URL) as a, broker(services.REDIS_URL) as b:
        old = [await b.publish(channel, "x", {"n": n}) for n in range(1, 8)]
        epoch = old[0].epoch if old[0] is not None else None
        seen = Recorder().attach(a)
        await a.listen(channel)
        await a.listen(channel)  # listening twice changes nothing
        await asyncio.sleep(0.1)
        assert seen.events == []
        for n in range(8, 13):
            await b.publish(channel, "x", {"n": n})
        await eventually(lambda: len(seen.events) >= 5, lambda: f"{seen.seqs()}")
        await asyncio.sleep(0.05)
        assert seen.seqs() == [8, 9, 10, 11, 12]
        assert {e.epoch for e in seen.events} == {epoch}
        assert [e.payload()["n"] for e in seen.events] == [8, 9, 10, 11, 12]


async def test_listen_while_another_process_publishes_starts_without_a_gap(
    redis: Redis, channel: str
) -> None:
    """Whatever the position read by listen(), what follows it arrives whole, once."""
    async with broker(services.REDIS_URL) as a, broker(services.REDIS_URL) as b:
        seen = Recorder().attach(a)

        async def publish() -> None:
            for n in range(300):
                await b.publish(channel, "x", {"n": n})
                if n % 10 == 0:
                    await asyncio.sleep(0)

        publisher = asyncio.create_task(publish())
        await asyncio.sleep(0.01)
        await a.listen(channel)
        await publisher
        await eventually(
            lambda: bool(seen.events) and seen.events[-1].seq == 300, lambda: f"{seen.seqs()}"
        )
        first = seen.events[0].seq
        assert seen.seqs() == list(range(first, 301))
        assert seen.resets == []


async def test_unlisten_stops_delivery(redis: Redis, channel: str) -> None:
    async with broker(services.REDIS_URL) as a, broker(services.REDIS_URL) as b:
        seen = Recorder().attach(a)
        await a.listen(channel)
        await b.publish(channel, "x", {"n": 1})
        await eventually(lambda: len(seen.events) == 1, lambda: f"{seen.seqs()}")
        await a.unlisten(channel)
        await b.publish(channel, "x", {"n": 2})
        await asyncio.sleep(0.1)
        assert seen.seqs() == [1]
        # Listening again starts from the channel's position then.
        await a.listen(channel)
        await b.publish(channel, "x", {"n": 3})
        await eventually(lambda: len(seen.events) == 2, lambda: f"{seen.seqs()}")
        assert seen.seqs() == [1, 3]


async def test_a_listener_that_missed_messages_catches_up_from_the_stream(
    redis: Redis, channel: str
) -> None:
    async with broker(services.REDIS_URL) as a, broker(services.REDIS_URL) as b:
        seen = Recorder().attach(a)
        await a.listen(channel)
        for n in range(1, 6):
            await b.publish(channel, "x", {"n": n})
        await eventually(lambda: len(seen.events) == 5, lambda: f"{seen.seqs()}")

        # Drop A's pub/sub subscription behind its back: what is published now never
        # reaches A's connection, as when messages are lost while it is down.
        pubsub = a._pubsub
        assert pubsub is not None
        await pubsub.unsubscribe(pubsub_name(channel))
        await eventually(lambda: not pubsub.subscribed, lambda: "unsubscribe not confirmed")
        for n in range(6, 11):
            await b.publish(channel, "x", {"n": n})
        await asyncio.sleep(0.05)
        assert seen.seqs() == [1, 2, 3, 4, 5]

        await pubsub.subscribe(pubsub_name(channel))
        a._wake.set()
        await asyncio.sleep(0.05)
        # The next live event shows the gap; the missed ones come from the stream first.
        await b.publish(channel, "x", {"n": 11})
        await eventually(lambda: len(seen.events) >= 11, lambda: f"{seen.seqs()}")
        await asyncio.sleep(0.05)
        assert seen.seqs() == list(range(1, 12))
        assert [e.payload()["n"] for e in seen.events] == list(range(1, 12))
        assert seen.resets == []


async def test_a_listener_behind_its_position_is_caught_up_in_order(
    redis: Redis, channel: str
) -> None:
    async with broker(services.REDIS_URL) as a, broker(services.REDIS_URL) as b:
        seen = Recorder().attach(a)
        await a.listen(channel)
        for n in range(1, 11):
            await b.publish(channel, "x", {"n": n})
        await eventually(lambda: len(seen.events) == 10, lambda: f"{seen.seqs()}")
        epoch = seen.events[0].epoch
        # Pretend the last seven never arrived.
        a._positions[channel] = (epoch, 3)
        seen.events.clear()
        await b.publish(channel, "x", {"n": 11})
        await eventually(lambda: len(seen.events) >= 8, lambda: f"{seen.seqs()}")
        await asyncio.sleep(0.05)
        assert seen.seqs() == list(range(4, 12))
        assert seen.resets == []


async def test_a_listener_behind_trimmed_history_is_reset(redis: Redis, channel: str) -> None:
    async with (
        broker(services.REDIS_URL, history=10) as a,
        broker(services.REDIS_URL, history=10) as b,
    ):
        seen = Recorder().attach(a)
        await a.listen(channel)
        await b.publish(channel, "x", {"n": 1})
        await eventually(lambda: len(seen.events) == 1, lambda: f"{seen.seqs()}")
        epoch = seen.events[0].epoch
        pubsub = a._pubsub
        assert pubsub is not None
        await pubsub.unsubscribe(pubsub_name(channel))
        await eventually(lambda: not pubsub.subscribed, lambda: "unsubscribe not confirmed")
        for n in range(2, 400):  # far more than the stream keeps
            await b.publish(channel, "x", {"n": n})
        await pubsub.subscribe(pubsub_name(channel))
        a._wake.set()
        await asyncio.sleep(0.05)
        await b.publish(channel, "x", {"n": 400})
        await eventually(lambda: bool(seen.resets), lambda: f"no reset; {seen.seqs()}")
        await b.publish(channel, "x", {"n": 401})
        await eventually(lambda: seen.events[-1].seq == 401, lambda: f"{seen.log[-5:]}")
        assert seen.resets[0][:2] == (channel, epoch)
        assert seen.resets[0][3] == "gap"
        # Continuity: after the reset, the events pick up right after its position.
        assert seen.position((None, 0)) == (epoch, 401)


# --- connections lost -----------------------------------------------------------------


async def test_killed_pubsub_connection_reconnects_and_catches_up(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis stays up; A's pub/sub connection is killed while B publishes. A reconnects,
    re-subscribes and fills what it missed from the stream: no reset, nothing lost."""
    channel = new_channel()
    caplog.set_level(logging.WARNING, logger="hub.broker")
    admin = Redis.from_url(private_redis.url)
    try:
        async with broker(private_redis.url) as a, broker(private_redis.url) as b:
            seen = Recorder().attach(a)
            await a.listen(channel)
            for n in range(1, 11):
                await b.publish(channel, "x", {"n": n})
            await eventually(lambda: len(seen.events) == 10, lambda: f"{seen.seqs()}")

            killed = await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            assert killed == 1
            # Published while A is reconnecting (its first retry waits 50 ms): missed live.
            for n in range(11, 31):
                await b.publish(channel, "x", {"n": n})
            # No further event nudges A: the reconnect itself must catch up.
            await eventually(lambda: len(seen.events) >= 30, lambda: f"{seen.seqs()}")
            for n in range(31, 41):
                await b.publish(channel, "x", {"n": n})
            await eventually(lambda: len(seen.events) >= 40, lambda: f"{seen.seqs()}")
            await asyncio.sleep(0.05)
            assert seen.seqs() == list(range(1, 41))
            assert [e.payload()["n"] for e in seen.events] == list(range(1, 41))
            assert seen.resets == []
            assert len({e.epoch for e in seen.events}) == 1
            assert a.connected.is_set()
            assert any("pub/sub lost" in r.getMessage() for r in caplog.records)
    finally:
        await admin.aclose()


async def test_pubsub_killed_repeatedly_while_publishing_loses_nothing(
    private_redis: PrivateRedis,
) -> None:
    channel = new_channel()
    admin = Redis.from_url(private_redis.url)
    try:
        async with broker(private_redis.url) as a, broker(private_redis.url) as b:
            seen = Recorder().attach(a)
            await a.listen(channel)

            async def publish() -> None:
                for n in range(1, 301):
                    await b.publish(channel, "x", {"n": n})
                    await asyncio.sleep(0.002)

            publisher = asyncio.create_task(publish())
            for _ in range(4):
                await asyncio.sleep(0.1)
                await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            await publisher
            await eventually(lambda: len(seen.events) >= 300, lambda: f"{len(seen.events)}")
            assert seen.seqs() == list(range(1, 301))
            assert seen.resets == []
    finally:
        await admin.aclose()


async def test_reconnect_uses_no_deprecated_redis_api(private_redis: PrivateRedis) -> None:
    channel = new_channel()
    admin = Redis.from_url(private_redis.url)
    try:
        async with broker(private_redis.url) as a:
            await a.listen(channel)
            await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            reader = a._reader
            assert reader is not None
            await eventually(
                lambda: reader.done() or len(a._pubsub.channels if a._pubsub else ()) > 0,
                lambda: "no reconnect",
            )
            await asyncio.sleep(0.2)
            if reader.done():
                reader.result()  # the reader's own exception
            assert a.connected.is_set()
    finally:
        await admin.aclose()


async def _kill_clients(admin: Redis, name: str) -> int:
    """Kill every connection (pub/sub and normal) whose client name is `name`."""
    clients = await admin.client_list()
    ids = [c["id"] for c in clients if c.get("name") == name]
    for client_id in ids:
        await admin.execute_command("CLIENT", "KILL", "ID", client_id)
    return len(ids)


async def test_all_connections_dropped_the_reconnect_still_catches_up(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis stays up, but every connection of A drops (a network blip, a proxy restart):
    what B published meanwhile must still reach A, without waiting for a later event."""
    channel = new_channel()
    name = f"a-{uuid.uuid4().hex[:8]}"
    caplog.set_level(logging.WARNING, logger="hub.broker")
    admin = Redis.from_url(private_redis.url)
    try:
        async with broker(private_redis.url, name=name) as a, broker(private_redis.url) as b:
            seen = Recorder().attach(a)
            await a.listen(channel)
            for n in range(1, 6):
                await b.publish(channel, "x", {"n": n})
            await eventually(lambda: len(seen.events) == 5, lambda: f"{seen.seqs()}")

            assert await _kill_clients(admin, name) >= 2  # its pub/sub and pooled ones
            for n in range(6, 11):  # within A's first retry delay (50 ms)
                await b.publish(channel, "x", {"n": n})
            await eventually(
                lambda: len(seen.events) >= 10,
                lambda: (
                    f"A stuck at {seen.seqs()[-1]} of 10; log: "
                    + "; ".join(r.getMessage()[:90] for r in caplog.records)
                ),
            )
            assert seen.seqs() == list(range(1, 11))
            assert seen.resets == []
    finally:
        await admin.aclose()


async def _publish_until(
    b: RedisBroker, channel: str, stop: asyncio.Event, published: list[Event]
) -> None:
    """Publish every few ms until `stop`; a publish that fails (Redis down) is retried."""
    n = 0
    while not stop.is_set():
        n += 1
        while True:
            try:
                event = await b.publish(channel, "x", {"n": n})
                break
            except (RedisError, OSError):
                await asyncio.sleep(0.02)
        assert event is not None
        published.append(event)
        await asyncio.sleep(0.005)


async def test_redis_restart_resets_the_listener_then_delivers_the_new_epoch(
    private_redis: PrivateRedis,
) -> None:
    channel = new_channel()
    async with broker(private_redis.url) as a, broker(private_redis.url) as b:
        seen = Recorder().attach(a)
        await a.listen(channel)
        published: list[Event] = []
        stop = asyncio.Event()
        publisher = asyncio.create_task(_publish_until(b, channel, stop, published))
        try:
            await eventually(lambda: len(published) >= 20, lambda: f"{len(published)}")
            # Mid-stream: Redis dies and comes back empty (no persistence).
            private_redis.kill()
            killed_at = len(published)
            old_epoch = published[0].epoch
            await asyncio.sleep(0.5)
            private_redis.start()
            await eventually(
                lambda: len(published) >= killed_at + 20 and published[-1].epoch != old_epoch,
                lambda: f"publisher stuck at {len(published)}",
            )
        finally:
            stop.set()
            await publisher
        new_epoch = published[-1].epoch
        assert new_epoch != old_epoch
        assert {e.epoch for e in published[:killed_at]} == {old_epoch}

        final = await b.position(channel)
        assert final == (new_epoch, published[-1].seq)
        await eventually(
            lambda: bool(seen.log) and seen.log[-1][1:] == final,
            lambda: (
                f"listener at {seen.log[-1:]} but the channel is at {final}; resets "
                f"{seen.resets}; connected={a.connected.is_set()}"
            ),
            within=8.0,
        )
        # A was told the history was lost...
        assert seen.resets, "no reset although the old epoch's history is gone"
        assert all(r[0] == channel and r[3] == "history lost" for r in seen.resets)
        assert seen.resets[-1][1] in (None, new_epoch)
        # ...and nothing was lost silently: each event follows its predecessor or a reset.
        assert seen.position((None, 0)) == final
        before = [e for e in seen.events if e.epoch == old_epoch]
        assert [e.seq for e in before] == list(range(1, len(before) + 1))
        after = [e for e in seen.events if e.epoch == new_epoch]
        reset_seq = seen.resets[-1][2]
        assert [e.seq for e in after] == list(range(reset_seq + 1, final[1] + 1))


async def test_redis_restart_before_new_events_delivers_the_new_epoch_from_seq_1(
    private_redis: PrivateRedis,
) -> None:
    """Redis restarts while nobody publishes: A's reset comes first (no history left),
    then the new epoch's events from seq 1 in order."""
    channel = new_channel()
    async with broker(private_redis.url) as a, broker(private_redis.url) as b:
        seen = Recorder().attach(a)
        await a.listen(channel)
        for n in range(1, 11):
            await b.publish(channel, "x", {"n": n})
        await eventually(lambda: len(seen.events) == 10, lambda: f"{seen.seqs()}")
        old_epoch = seen.events[0].epoch

        private_redis.kill()
        await asyncio.sleep(0.5)
        private_redis.start()
        await eventually(
            lambda: bool(seen.resets),
            lambda: f"no reset; connected={a.connected.is_set()}",
            within=6.0,
        )
        assert seen.resets == [(channel, None, 0, "history lost")]

        for n in range(1, 21):
            with contextlib.suppress(RedisError):  # the pool's dead connection, once
                await b.publish(channel, "x", {"n": n})
        epoch, last = await b.position(channel)
        assert epoch is not None
        assert epoch != old_epoch
        await eventually(lambda: seen.events[-1].seq == last, lambda: f"{seen.log[-5:]}")
        fresh = [e for e in seen.events if e.epoch == epoch]
        assert [e.seq for e in fresh] == list(range(1, last + 1))
        assert seen.position((None, 0)) == (epoch, last)
