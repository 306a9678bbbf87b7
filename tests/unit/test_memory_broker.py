"""The in-process broker: gap-free sequences per channel, one epoch, bounded history,
delivery to listeners only, and relay retries published once."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.adapters.broker.base import Event
from hub.adapters.broker.memory import MemoryBroker


def _received(broker: MemoryBroker) -> list[Event]:
    got: list[Event] = []
    broker.on_event = got.append
    return got


async def test_position_of_an_unknown_channel() -> None:
    broker = MemoryBroker()
    assert await broker.position("nobody") == (None, 0)
    assert await broker.history("nobody", "any", 0) is None


async def test_sequences_start_at_one_without_gaps() -> None:
    broker = MemoryBroker()
    events = [await broker.publish("a", "t", {"n": n}) for n in range(50)]
    assert [e.seq for e in events if e] == list(range(1, 51))
    epoch, seq = await broker.position("a")
    assert seq == 50
    assert epoch is not None
    assert {e.epoch for e in events if e} == {epoch}


async def test_event_fields() -> None:
    broker = MemoryBroker()
    event = await broker.publish("tenant:x:shop:y", "stock.changed", {"sku": "A", "qty": 2})
    assert event is not None
    assert (event.channel, event.seq, event.type) == ("tenant:x:shop:y", 1, "stock.changed")
    assert event.payload() == {"sku": "A", "qty": 2}


async def test_channels_are_independent() -> None:
    broker = MemoryBroker()
    seqs: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    for channel in "abacabcaab":
        event = await broker.publish(channel, "t", None)
        assert event is not None
        seqs[channel].append(event.seq)
    assert seqs == {"a": [1, 2, 3, 4, 5], "b": [1, 2, 3], "c": [1, 2]}
    positions = {c: await broker.position(c) for c in "abc"}
    assert {c: p[1] for c, p in positions.items()} == {"a": 5, "b": 3, "c": 2}
    # each channel has its own epoch
    assert len({p[0] for p in positions.values()}) == 3


async def test_epoch_is_stable() -> None:
    broker = MemoryBroker()
    await broker.publish("a", "t", 1)
    epoch, _ = await broker.position("a")
    for n in range(20):
        event = await broker.publish("a", "t", n)
        assert event is not None
        assert event.epoch == epoch
        await broker.publish("other", "t", n)
    assert (await broker.position("a")) == (epoch, 21)


@settings(max_examples=100, deadline=None)
@given(channels=st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=60))
def test_sequences_for_any_interleaving(channels: list[str]) -> None:
    async def run() -> None:
        broker = MemoryBroker()
        got: dict[str, list[int]] = {}
        epochs: dict[str, set[str]] = {}
        for channel in channels:
            event = await broker.publish(channel, "t", channel)
            assert event is not None
            got.setdefault(channel, []).append(event.seq)
            epochs.setdefault(channel, set()).add(event.epoch)
        for channel in {"a", "b", "c", "d"}:
            count = channels.count(channel)
            assert got.get(channel, []) == list(range(1, count + 1))
            epoch, seq = await broker.position(channel)
            assert seq == count
            if count:
                assert epochs[channel] == {epoch}
                history = await broker.history(channel, epoch, 0)
                assert history is not None
                assert [e.seq for e in history] == list(range(1, count + 1))
            else:
                assert epoch is None

    asyncio.run(run())


# --------------------------------------------------------------------------- history


async def test_history_after_each_position() -> None:
    broker = MemoryBroker()
    published = [await broker.publish("a", "t", {"n": n}) for n in range(10)]
    epoch, _ = await broker.position("a")
    assert epoch is not None
    for after in range(11):
        history = await broker.history("a", epoch, after)
        assert history is not None
        assert [e.seq for e in history] == list(range(after + 1, 11))
        # the very events that were published
        assert all(h is p for h, p in zip(history, published[after:], strict=True))


async def test_history_at_the_head_is_empty() -> None:
    broker = MemoryBroker()
    await broker.publish("a", "t", 1)
    epoch, seq = await broker.position("a")
    assert epoch is not None
    assert await broker.history("a", epoch, seq) == []


async def test_history_of_another_epoch() -> None:
    broker = MemoryBroker()
    await broker.publish("a", "t", 1)
    await broker.publish("b", "t", 1)
    epoch_b, _ = await broker.position("b")
    assert epoch_b is not None
    assert await broker.history("a", "not-the-epoch", 0) is None
    assert await broker.history("a", epoch_b, 0) is None
    assert await broker.history("a", "", 0) is None


async def test_history_after_the_head() -> None:
    broker = MemoryBroker()
    for n in range(3):
        await broker.publish("a", "t", n)
    epoch, _ = await broker.position("a")
    assert epoch is not None
    assert await broker.history("a", epoch, 4) is None
    assert await broker.history("a", epoch, 1000) is None


async def test_history_trimmed() -> None:
    broker = MemoryBroker(history=10)
    for n in range(25):
        await broker.publish("a", "t", n)
    epoch, seq = await broker.position("a")
    assert epoch is not None
    assert seq == 25
    assert await broker.history("a", epoch, 5) is None
    assert await broker.history("a", epoch, 0) is None
    assert await broker.history("a", epoch, 14) is None  # event 15 is gone
    history = await broker.history("a", epoch, 15)
    assert history is not None
    assert [e.seq for e in history] == list(range(16, 26))
    assert [e.payload() for e in history] == list(range(15, 25))
    tail = await broker.history("a", epoch, 20)
    assert tail is not None
    assert [e.seq for e in tail] == [21, 22, 23, 24, 25]
    assert await broker.history("a", epoch, 25) == []


@settings(max_examples=100, deadline=None)
@given(
    keep=st.integers(min_value=1, max_value=20),
    count=st.integers(min_value=0, max_value=60),
    after=st.integers(min_value=0, max_value=70),
)
def test_history_is_whole_or_none(keep: int, count: int, after: int) -> None:
    async def run() -> None:
        broker = MemoryBroker(history=keep)
        for n in range(count):
            await broker.publish("a", "t", n)
        await broker.publish("other", "t", 0)
        epoch, _ = await broker.position("a")
        if count == 0:
            assert epoch is None
            return
        assert epoch is not None
        history = await broker.history("a", epoch, after)
        oldest_kept = max(1, count - keep + 1)
        if after > count or after + 1 < oldest_kept:
            assert history is None
        else:
            assert history is not None
            assert [e.seq for e in history] == list(range(after + 1, count + 1))

    asyncio.run(run())


# --------------------------------------------------------------------------- listening


async def test_delivery_only_while_listening() -> None:
    broker = MemoryBroker()
    got = _received(broker)
    await broker.publish("a", "t", 1)
    assert got == []

    await broker.listen("a")
    first = await broker.publish("a", "t", 2)
    await broker.publish("b", "t", 2)
    second = await broker.publish("a", "t", 3)
    assert got == [first, second]

    await broker.unlisten("a")
    await broker.publish("a", "t", 4)
    assert got == [first, second]

    await broker.listen("a")
    fourth = await broker.publish("a", "t", 5)
    assert got == [first, second, fourth]
    assert [e.seq for e in got] == [2, 3, 5]


async def test_listen_to_several_channels() -> None:
    broker = MemoryBroker()
    got = _received(broker)
    await broker.listen("a")
    await broker.listen("b")
    await broker.listen("a")  # twice is once
    for channel in "abcab":
        await broker.publish(channel, "t", channel)
    assert [(e.channel, e.seq) for e in got] == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    await broker.unlisten("a")
    await broker.unlisten("a")  # harmless
    await broker.unlisten("never")  # harmless
    await broker.publish("a", "t", 0)
    await broker.publish("b", "t", 0)
    assert [(e.channel, e.seq) for e in got][-1] == ("b", 3)
    assert len(got) == 5


async def test_listening_before_any_event_sees_the_first() -> None:
    broker = MemoryBroker()
    got = _received(broker)
    await broker.listen("new")
    assert await broker.position("new") == (None, 0)
    event = await broker.publish("new", "t", {})
    assert got == [event]


# --------------------------------------------------------------------------- event ids


async def test_repeated_event_id_is_published_once() -> None:
    broker = MemoryBroker()
    got = _received(broker)
    await broker.listen("a")
    first = await broker.publish("a", "t", 1, event_id="e1")
    assert first is not None
    assert await broker.publish("a", "t", 1, event_id="e1") is None
    assert await broker.publish("a", "t", 1, event_id="e1") is None
    assert got == [first]
    assert await broker.position("a") == (first.epoch, 1)
    second = await broker.publish("a", "t", 2, event_id="e2")
    assert second is not None
    assert second.seq == 2


async def test_events_without_id_are_never_duplicates() -> None:
    broker = MemoryBroker()
    for _ in range(3):
        assert await broker.publish("a", "t", 1) is not None
    assert (await broker.position("a"))[1] == 3


async def test_a_repeated_event_id_on_another_channel_is_a_repeat() -> None:
    # event ids are the outbox's: unique across channels
    broker = MemoryBroker()
    assert await broker.publish("a", "t", 1, event_id="e1") is not None
    assert await broker.publish("b", "t", 1, event_id="e1") is None
    assert await broker.position("b") == (None, 0)


# --------------------------------------------------------------------------- eviction


async def test_eviction_starts_a_new_epoch() -> None:
    broker = MemoryBroker(max_channels=2)
    await broker.publish("a", "t", 1)
    old_epoch, _ = await broker.position("a")
    await broker.publish("b", "t", 1)
    await broker.publish("c", "t", 1)  # "a" is the least recently used
    assert await broker.position("a") == (None, 0)
    assert old_epoch is not None
    assert await broker.history("a", old_epoch, 0) is None
    event = await broker.publish("a", "t", 1)
    assert event is not None
    assert event.seq == 1
    assert event.epoch != old_epoch


async def test_listened_channels_are_not_evicted() -> None:
    broker = MemoryBroker(max_channels=2)
    await broker.listen("a")
    await broker.publish("a", "t", 1)
    await broker.publish("b", "t", 1)
    await broker.publish("c", "t", 1)
    assert (await broker.position("a"))[1] == 1
    assert await broker.position("b") == (None, 0)
