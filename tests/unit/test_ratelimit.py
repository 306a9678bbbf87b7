"""Fixed-window rate limiters: in memory, and in a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from redis.asyncio import Redis

from hub.adapters import ratelimit
from hub.adapters.ratelimit import MemoryRateLimiter, RedisRateLimiter, Window
from tests import services


class Clock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Fake time.monotonic for hub.adapters.ratelimit only; the event loop keeps the real one."""
    fake = Clock()
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


# ---------------------------------------------------------------- in memory


async def test_memory_hit_counts_within_a_window(clock: Clock) -> None:
    limiter = MemoryRateLimiter()
    assert await limiter.hit("k", 10) == Window(1, 10)
    assert await limiter.hit("k", 10) == Window(2, 10)
    clock.advance(3)
    assert await limiter.hit("k", 10) == Window(3, 7)


async def test_memory_keys_are_independent(clock: Clock) -> None:
    limiter = MemoryRateLimiter()
    await limiter.hit("a", 10)
    await limiter.hit("a", 10)
    assert await limiter.hit("b", 10) == Window(1, 10)
    assert (await limiter.peek("a")).count == 2


async def test_memory_peek_does_not_count(clock: Clock) -> None:
    limiter = MemoryRateLimiter()
    assert await limiter.peek("k") == Window(0, 0)
    await limiter.hit("k", 10)
    assert await limiter.peek("k") == Window(1, 10)
    assert await limiter.peek("k") == Window(1, 10)
    clock.advance(4)
    assert await limiter.peek("k") == Window(1, 6)


async def test_memory_reset(clock: Clock) -> None:
    limiter = MemoryRateLimiter()
    for _ in range(3):
        await limiter.hit("k", 10)
    await limiter.hit("other", 10)
    await limiter.reset("k")
    assert await limiter.peek("k") == Window(0, 0)
    assert await limiter.hit("k", 10) == Window(1, 10)
    assert (await limiter.peek("other")).count == 1
    await limiter.reset("never-seen")  # no error


async def test_memory_window_expires(clock: Clock) -> None:
    limiter = MemoryRateLimiter()
    await limiter.hit("k", 10)
    await limiter.hit("k", 10)
    clock.advance(9.99)
    assert (await limiter.peek("k")).count == 2
    clock.advance(0.01)  # exactly at the end: the window is over
    assert await limiter.peek("k") == Window(0, 0)
    assert await limiter.hit("k", 10) == Window(1, 10)


async def test_memory_later_hits_do_not_extend_the_window(clock: Clock) -> None:
    limiter = MemoryRateLimiter()
    await limiter.hit("k", 10)
    clock.advance(8)
    # a hit with a longer window inside a live window keeps the original end
    assert await limiter.hit("k", 100) == Window(2, 2)
    clock.advance(2)
    assert await limiter.peek("k") == Window(0, 0)


async def test_memory_retry_after_rounds_up_and_is_at_least_one(clock: Clock) -> None:
    limiter = MemoryRateLimiter()
    await limiter.hit("k", 10)
    clock.advance(5.5)
    assert (await limiter.peek("k")).retry_after == 5
    clock.advance(4.0)
    assert (await limiter.peek("k")).retry_after == 1
    clock.advance(0.49)
    assert (await limiter.peek("k")).retry_after == 1


async def test_memory_window_expiry_with_the_real_clock() -> None:
    """No fake clock: a tiny window really does run out."""
    limiter = MemoryRateLimiter()
    await limiter.hit("k", 0)  # a zero-length window ends immediately
    await asyncio.sleep(0.001)
    assert await limiter.peek("k") == Window(0, 0)


async def test_memory_evicts_expired_windows_first(clock: Clock) -> None:
    limiter = MemoryRateLimiter(max_keys=3)
    await limiter.hit("old", 1)
    await limiter.hit("b", 100)
    await limiter.hit("c", 100)
    clock.advance(2)
    await limiter.hit("d", 100)
    for key in ("b", "c", "d"):
        assert (await limiter.peek(key)).count == 1, key
    assert len(limiter._windows) == 3


async def test_memory_evicts_oldest_when_full(clock: Clock) -> None:
    limiter = MemoryRateLimiter(max_keys=2)
    await limiter.hit("a", 100)
    await limiter.hit("b", 100)
    await limiter.hit("c", 100)
    assert await limiter.peek("a") == Window(0, 0)
    assert (await limiter.peek("b")).count == 1
    assert (await limiter.peek("c")).count == 1
    assert len(limiter._windows) <= 2


async def test_memory_never_grows_past_max_keys(clock: Clock) -> None:
    limiter = MemoryRateLimiter(max_keys=10)
    for i in range(100):
        await limiter.hit(f"k{i}", 100)
        assert len(limiter._windows) <= 10
    assert (await limiter.peek("k99")).count == 1


# ---------------------------------------------------------------- Redis


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    services.need("redis")
    client = Redis.from_url(services.REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    value = f"pos:test:rl:{uuid.uuid4().hex}:"
    try:
        yield value
    finally:
        keys = [k async for k in redis.scan_iter(match=value + "*")]
        if keys:
            await redis.delete(*keys)


async def test_redis_hit_counts_and_sets_the_window(redis: Redis, prefix: str) -> None:
    services.need("redis")
    limiter = RedisRateLimiter(redis, prefix=prefix)
    first = await limiter.hit("k", 60)
    assert first.count == 1
    assert 59 <= first.retry_after <= 60
    second = await limiter.hit("k", 60)
    assert second.count == 2
    assert 1 <= second.retry_after <= 60
    assert int(await redis.get(prefix + "k")) == 2
    assert 0 < await redis.ttl(prefix + "k") <= 60


async def test_redis_keys_are_independent(redis: Redis, prefix: str) -> None:
    services.need("redis")
    limiter = RedisRateLimiter(redis, prefix=prefix)
    await limiter.hit("a", 60)
    await limiter.hit("a", 60)
    assert (await limiter.hit("b", 60)).count == 1
    assert (await limiter.peek("a")).count == 2


async def test_redis_later_hits_do_not_extend_the_window(redis: Redis, prefix: str) -> None:
    services.need("redis")
    limiter = RedisRateLimiter(redis, prefix=prefix)
    await limiter.hit("k", 30)
    window = await limiter.hit("k", 3600)
    assert window.count == 2
    assert window.retry_after <= 30
    assert await redis.ttl(prefix + "k") <= 30


async def test_redis_peek_does_not_count(redis: Redis, prefix: str) -> None:
    services.need("redis")
    limiter = RedisRateLimiter(redis, prefix=prefix)
    assert await limiter.peek("k") == Window(0, 0)
    await limiter.hit("k", 60)
    for _ in range(3):
        window = await limiter.peek("k")
        assert window.count == 1
        assert 1 <= window.retry_after <= 60
    assert int(await redis.get(prefix + "k")) == 1


async def test_redis_reset(redis: Redis, prefix: str) -> None:
    services.need("redis")
    limiter = RedisRateLimiter(redis, prefix=prefix)
    await limiter.hit("k", 60)
    await limiter.hit("k", 60)
    await limiter.hit("other", 60)
    await limiter.reset("k")
    assert await redis.exists(prefix + "k") == 0
    assert await limiter.peek("k") == Window(0, 0)
    assert (await limiter.hit("k", 60)).count == 1
    assert (await limiter.peek("other")).count == 1
    await limiter.reset("never-seen")  # no error


async def test_redis_window_expires(redis: Redis, prefix: str) -> None:
    services.need("redis")
    limiter = RedisRateLimiter(redis, prefix=prefix)
    await limiter.hit("k", 60)
    await limiter.hit("k", 60)
    # Shorten the window to 30 ms instead of sleeping a whole second.
    assert await redis.pexpire(prefix + "k", 30)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if await limiter.peek("k") == Window(0, 0):
            break
    assert await limiter.peek("k") == Window(0, 0)
    window = await limiter.hit("k", 60)
    assert window.count == 1
    assert 59 <= window.retry_after <= 60


async def test_redis_uses_the_prefix_only(redis: Redis, prefix: str) -> None:
    services.need("redis")
    limiter = RedisRateLimiter(redis, prefix=prefix)
    await limiter.hit("login:anna", 60)
    keys = {k.decode() async for k in redis.scan_iter(match=prefix + "*")}
    assert keys == {prefix + "login:anna"}


async def test_redis_limiters_share_counts(redis: Redis, prefix: str) -> None:
    """Two hub processes (two limiters on the same Redis) see one counter."""
    services.need("redis")
    other = Redis.from_url(services.REDIS_URL)
    try:
        first = RedisRateLimiter(redis, prefix=prefix)
        second = RedisRateLimiter(other, prefix=prefix)
        await first.hit("k", 60)
        assert (await second.hit("k", 60)).count == 2
        assert (await first.peek("k")).count == 2
    finally:
        await other.aclose()


async def test_redis_concurrent_hits_are_all_counted(redis: Redis, prefix: str) -> None:
    services.need("redis")
    limiter = RedisRateLimiter(redis, prefix=prefix)
    windows = await asyncio.gather(*(limiter.hit("k", 60) for _ in range(20)))
    assert sorted(w.count for w in windows) == list(range(1, 21))
    assert (await limiter.peek("k")).count == 20
