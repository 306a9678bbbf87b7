"""Fixtures: settings per store, a migrated store, the app and an HTTP client on it.

`store` runs a test on the embedded SQLite store and on PostgreSQL (one scratch database
per test session; every test makes its own tenants, so tests do not see each other).
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from hub.adapters.db.database import Database
from hub.adapters.db.migrate import migrate_all
from hub.app import create_app
from hub.settings import Settings
from tests import services

TEST_SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """An empty database on the server of `admin_url`, dropped at the end."""
    name = f"pos_test_{uuid.uuid4().hex[:12]}"
    # NullPool: each asyncio.run() below has its own loop; pooled connections cannot cross.
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    async def run(sql: str) -> None:
        async with admin.connect() as conn:
            await conn.execute(text(sql))

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(admin.dispose())


def migrate_store(**settings: str) -> None:
    async def migrate() -> None:
        db = Database(Settings(env="test", secret_key=TEST_SECRET, **settings))
        try:
            await migrate_all(db)
        finally:
            await db.dispose()

    asyncio.run(migrate())


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A scratch PostgreSQL database for the session, migrated, dropped at the end."""
    services.need("postgres")
    with scratch_database(services.PG_ADMIN_URL) as url:
        migrate_store(database_url=url)
        yield url


SECOND_CLUSTER = "east"


@pytest.fixture(scope="session")
def pg_cluster_urls() -> Iterator[tuple[str, str]]:
    """Two scratch databases on two PostgreSQL clusters, migrated as one store: the
    shared schema on the first, the second prepared to hold tenants."""
    services.need("postgres")
    services.need("postgres2")
    with (
        scratch_database(services.PG_ADMIN_URL) as main,
        scratch_database(services.PG2_ADMIN_URL) as second,
    ):
        migrate_store(database_url=main, database_clusters=f"{SECOND_CLUSTER}={second}")
        yield main, second


def cluster_settings(tmp_path: Path, urls: tuple[str, str], **overrides: Any) -> Settings:
    """A hub on both clusters that puts new tenants on the second one."""
    main, second = urls
    overrides.setdefault("new_tenant_clusters", SECOND_CLUSTER)
    return make_settings(
        tmp_path, main, database_clusters=f"{SECOND_CLUSTER}={second}", **overrides
    )


def make_settings(tmp_path: Path, database_url: str = "", **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "secret_key": TEST_SECRET,
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        # Cheap hashing: the tests hash hundreds of passwords.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 64,
        "argon2_parallelism": 1,
    }
    values.update(overrides)
    return Settings(**values)


# The store a test runs on. A module whose tests should also run with their tenants on a
# second PostgreSQL cluster says `store = services.stores_with_clusters()`.
store = pytest.fixture(params=["sqlite", "postgres"])(services.pick_store)


@pytest.fixture
def settings(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    overrides = getattr(request, "param", {}) or {}
    if store == "clusters":
        return cluster_settings(tmp_path, request.getfixturevalue("pg_cluster_urls"), **overrides)
    url = request.getfixturevalue("pg_database_url") if store == "postgres" else ""
    return make_settings(tmp_path, url, **overrides)


async def _migrated(settings: Settings) -> None:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings)
        try:
            await migrate_all(db)
        finally:
            await db.dispose()


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and an HTTP client on it (in this process)."""
    await _migrated(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings) as c:
        yield c


@dataclass
class LiveHub:
    """A real uvicorn server in this event loop: for websocket tests."""

    app: Any
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[LiveHub]:
    await _migrated(settings)
    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_per_message_deflate=False,
        lifespan="on",
        # A connection a failed test left open (an agent's websocket) must not hold the
        # hub's shutdown, and the whole run, for ever.
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield LiveHub(app, port)
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def live_hub(settings: Settings) -> AsyncIterator[LiveHub]:
    async with serve(settings) as hub:
        yield hub
