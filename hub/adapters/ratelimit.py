"""Fixed-window counters for throttling: in process (embedded) or in Redis (shared by
every hub process)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis


@dataclass(frozen=True)
class Window:
    count: int
    retry_after: int  # seconds until the window resets


class RateLimiter(Protocol):
    async def hit(self, key: str, window_seconds: int) -> Window: ...
    async def peek(self, key: str) -> Window: ...
    async def reset(self, key: str) -> None: ...


class MemoryRateLimiter:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._windows: dict[str, tuple[int, float]] = {}
        self._max_keys = max_keys

    def _live(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._windows.get(key)
        if entry is not None and entry[1] <= now:
            del self._windows[key]
            return None
        return entry

    async def hit(self, key: str, window_seconds: int) -> Window:
        now = time.monotonic()
        entry = self._live(key, now)
        if entry is None:
            if len(self._windows) >= self._max_keys:
                self._evict(now)
            entry = (0, now + window_seconds)
        entry = (entry[0] + 1, entry[1])
        self._windows[key] = entry
        return Window(entry[0], max(1, int(entry[1] - now + 0.999)))

    async def peek(self, key: str) -> Window:
        now = time.monotonic()
        entry = self._live(key, now)
        if entry is None:
            return Window(0, 0)
        return Window(entry[0], max(1, int(entry[1] - now + 0.999)))

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    def _evict(self, now: float) -> None:
        for key in [k for k, (_, end) in self._windows.items() if end <= now]:
            del self._windows[key]
        while len(self._windows) >= self._max_keys:
            self._windows.pop(next(iter(self._windows)))


class RedisRateLimiter:
    def __init__(self, redis: Redis, prefix: str = "pos:rl:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def hit(self, key: str, window_seconds: int) -> Window:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            # The window starts with the first hit; INCR keeps the key's expiry.
            pipe.set(name, 0, ex=window_seconds, nx=True)
            pipe.incr(name)
            pipe.ttl(name)
            _, count, ttl = await pipe.execute()
        return Window(int(count), max(1, int(ttl)))

    async def peek(self, key: str) -> Window:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(name)
            pipe.ttl(name)
            count, ttl = await pipe.execute()
        if count is None:
            return Window(0, 0)
        return Window(int(count), max(1, int(ttl)))

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)
