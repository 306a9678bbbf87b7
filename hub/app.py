"""The ASGI application: `create_app(settings)` wires adapters, services and routes."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from hub.adapters.broker.base import Broker
from hub.adapters.broker.memory import MemoryBroker
from hub.adapters.broker.redis import RedisBroker
from hub.adapters.db.database import Database
from hub.adapters.mail import SmtpMailer, SmtpServer
from hub.adapters.metrics import observe_http
from hub.adapters.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from hub.adapters.security.passwords import Passwords
from hub.adapters.security.tokens import AccessTokens
from hub.adapters.storage import LocalDiskStorage
from hub.analytics_worker import AnalyticsWorker
from hub.expiry import Expiry
from hub.mail_worker import MailWorker
from hub.realtime.fanout import Realtime, RealtimeSettings
from hub.realtime.outbox import OutboxRelay
from hub.services.cart_groups import CartGroups
from hub.services.deps import Deps
from hub.settings import Settings
from hub.task_scheduler import TaskScheduler
from hub.web.errors import EXCEPTION_HANDLERS
from hub.web.routes import build_api, build_routes
from hub.web.websocket import WEBSOCKET_PATH, websocket_endpoint


def build_deps(settings: Settings) -> Deps:
    redis = None
    if settings.redis_url:
        # A blocking pool: a burst (thousands of websocket handshakes) waits for a
        # connection instead of failing with "too many connections".
        pool = BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.redis_pool_size,
            timeout=10,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
            # Pooled connections die with a Redis restart: retry on a fresh one.
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        redis = Redis(connection_pool=pool)
    limiter: RateLimiter = RedisRateLimiter(redis) if redis else MemoryRateLimiter()
    broker: Broker = (
        RedisBroker(redis, history=settings.realtime_history)
        if redis
        else MemoryBroker(history=settings.realtime_history)
    )
    db = Database(settings)
    return Deps(
        settings=settings,
        db=db,
        passwords=Passwords(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        ),
        access_tokens=AccessTokens(settings.secret_key, settings.access_token_ttl),
        limiter=limiter,
        redis=redis,
        broker=broker,
        storage=LocalDiskStorage(settings.media_dir or settings.data_dir / "media"),
        cart_groups=CartGroups(db) if settings.cart_groups and not db.is_sqlite else None,
    )


async def close_deps(deps: Deps) -> None:
    if deps.cart_groups is not None:
        await deps.cart_groups.stop()
    await deps.db.dispose()
    if deps.redis is not None:
        # The pool was built here, so it is closed here (aclose() alone leaves it open).
        await deps.redis.aclose(close_connection_pool=True)


class HubApp(Starlette):
    """Starlette, with `/ws` dispatched straight to its endpoint: a websocket lives for
    hours, and each middleware layer would hold a coroutine frame for all that time
    (about 4 KiB per connection; thousands of connections per process)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == WEBSOCKET_PATH:
            scope["app"] = self
            await websocket_endpoint(WebSocket(scope, receive, send))
            return
        if scope["type"] == "http":

            async def answer(noting: Send) -> None:
                await super(HubApp, self).__call__(scope, receive, noting)

            await observe_http(scope, answer, send)  # counted and timed per route
            return
        await super().__call__(scope, receive, send)


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
        expiry = Expiry(deps.db, sweep_seconds=settings.cart_sweep_seconds)
        scheduler = TaskScheduler(deps.db, every_seconds=settings.task_schedule_seconds)
        worker = AnalyticsWorker(deps.db, every_seconds=settings.analytics_seconds)
        mail_worker = None
        if settings.smtp_url:
            smtp = SmtpMailer(SmtpServer.from_url(settings.smtp_url), settings.smtp_from)
            mail_worker = MailWorker(deps.db, smtp, every_seconds=settings.mail_seconds)
        app.state.mail_worker = mail_worker
        await realtime.start()
        await relay.start()
        await expiry.start()
        await scheduler.start()
        await worker.start()
        if mail_worker is not None:
            await mail_worker.start()
        # Long-lived objects (thousands of connections) make each full garbage collection
        # walk them all; young-generation collections every 700 allocations then cost
        # latency on every fan-out. Collect less often; cycles are still collected.
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        try:
            yield
        finally:
            if mail_worker is not None:
                await mail_worker.stop()
            await worker.stop()
            await scheduler.stop()
            await expiry.stop()
            await relay.stop()
            await realtime.stop()
            await close_deps(deps)

    app = HubApp(
        routes=build_routes(api),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.api = api
    return app
