"""The ASGI application: `create_app(settings)` wires adapters, services and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from starlette.applications import Starlette

from hub.adapters.db.database import Database
from hub.adapters.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from hub.adapters.security.passwords import Passwords
from hub.adapters.security.tokens import AccessTokens
from hub.services.deps import Deps
from hub.settings import Settings
from hub.web.errors import EXCEPTION_HANDLERS
from hub.web.routes import build_api, build_routes


def build_deps(settings: Settings) -> Deps:
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    limiter: RateLimiter = RedisRateLimiter(redis) if redis else MemoryRateLimiter()
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
        app.state.deps = deps
        try:
            yield
        finally:
            await close_deps(deps)

    app = Starlette(
        routes=build_routes(api),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.api = api
    return app
