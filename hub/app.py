"""The ASGI application: `create_app(settings)` wires adapters, services and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from starlette.applications import Starlette

from hub.adapters.broker.base import Broker
from hub.adapters.broker.memory import MemoryBroker
from hub.adapters.broker.redis import RedisBroker
from hub.adapters.db.database import Database
from hub.adapters.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from hub.adapters.security.passwords import Passwords
from hub.adapters.security.tokens import AccessTokens
from hub.realtime.fanout import Realtime, RealtimeSettings
from hub.realtime.outbox import OutboxRelay
from hub.services.deps import Deps
from hub.settings import Settings
from hub.web.errors import EXCEPTION_HANDLERS
from hub.web.routes import build_api, build_routes


def build_deps(settings: Settings) -> Deps:
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    limiter: RateLimiter = RedisRateLimiter(redis) if redis else MemoryRateLimiter()
    broker: Broker = (
        RedisBroker(redis, history=settings.realtime_history)
        if redis
        else MemoryBroker(history=settings.realtime_history)
    )
    return Deps(
        settings=settings,
        db=Database(settings),
        passwords=Passwords(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        ),
        access_tokens=AccessTokens(settings.secret_key, settings.access_token_ttl),
        limiter=limiter,
        redis=redis,
        broker=broker,
    )


async def close_deps(deps: Deps) -> None:
    await deps.db.dispose()
    if deps.redis is not None:
        await deps.redis.aclose()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    settings.check_secure()
    api = build_api()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        deps = build_deps(settings)
        realtime = Realtime(
            deps.broker,
            RealtimeSettings(
                heartbeat_seconds=settings.ws_heartbeat_seconds,
                idle_timeout_seconds=settings.ws_idle_timeout_seconds,
                max_queue_bytes=settings.ws_max_queue_bytes,
                max_frame_bytes=settings.ws_max_frame_bytes,
            ),
        )
        relay = OutboxRelay(deps.db, deps.broker, sweep_seconds=settings.outbox_sweep_seconds)
        app.state.deps = deps
        app.state.realtime = realtime
        app.state.relay = relay
        await realtime.start()
        await relay.start()
        try:
            yield
        finally:
            await relay.stop()
            await realtime.stop()
            await close_deps(deps)

    app = Starlette(
        routes=build_routes(api),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.api = api
    return app
