"""Engines, and how a connection is bound to exactly one tenant.

PostgreSQL: one pool; a tenant's engine is the pool with `schema_translate_map` sending
schema-less (tenant) tables to `tenant_<id>`; shared tables name `pos_shared` outright.

SQLite (embedded): `pos_shared` is its own file, attached to every connection; each
tenant is its own file, opened as the connection's main database. A tenant's connection
therefore cannot even name another tenant's tables.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from hub.adapters.broker.base import Outgoing
from hub.adapters.db.tables import SHARED_SCHEMA
from hub.settings import Settings

WRITE_OPTION = "pos_write"
_SQLITE_ENGINE_CACHE = 256


def tenant_schema_name(tenant_id: uuid.UUID) -> str:
    return f"tenant_{tenant_id.hex}"


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        url = make_url(settings.database_url)
        self.dialect = url.get_backend_name()
        if self.dialect not in ("postgresql", "sqlite"):
            raise ValueError(f"unsupported database {self.dialect!r}")
        self._tenant_engines: OrderedDict[uuid.UUID, AsyncEngine] = OrderedDict()
        # Set by the app: hands committed outbox events to the relay.
        self.after_commit: Callable[[uuid.UUID, list[Outgoing]], Awaitable[None]] | None = None
        if self.is_sqlite:
            database = url.database or ""
            if not database or database == ":memory:":
                raise ValueError("the embedded store needs a file path in POS_DATABASE_URL")
            self.shared_path = Path(database)
            self.tenants_dir = self.shared_path.parent / "tenants"
            self.tenants_dir.mkdir(parents=True, exist_ok=True)
            # Main database in memory; the shared file attached under its schema name.
            self.shared_engine = self._sqlite_engine(None)
        else:
            self.shared_engine = create_async_engine(
                url,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_pool_size,
                pool_pre_ping=settings.db_pre_ping,
                connect_args={"server_settings": {"jit": "off"}},
            )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    # --- engines --------------------------------------------------------------------

    def tenant_engine(self, tenant_id: uuid.UUID) -> AsyncEngine:
        engine = self._tenant_engines.get(tenant_id)
        if engine is not None:
            self._tenant_engines.move_to_end(tenant_id)
            return engine
        if self.is_sqlite:
            engine = self._sqlite_engine(self.tenant_file(tenant_id))
            if len(self._tenant_engines) >= _SQLITE_ENGINE_CACHE:
                _, oldest = self._tenant_engines.popitem(last=False)
                oldest.sync_engine.dispose(close=False)
        else:
            engine = self.shared_engine.execution_options(
                schema_translate_map={None: tenant_schema_name(tenant_id)}
            )
        self._tenant_engines[tenant_id] = engine
        return engine

    def tenant_file(self, tenant_id: uuid.UUID) -> Path:
        return self.tenants_dir / f"{tenant_id.hex}.db"

    def _sqlite_engine(self, main_file: Path | None) -> AsyncEngine:
        url = f"sqlite+aiosqlite:///{main_file}" if main_file else "sqlite+aiosqlite://"
        engine = create_async_engine(
            url, poolclass=AsyncAdaptedQueuePool, pool_size=5, max_overflow=10
        )
        shared_path = str(self.shared_path)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Transactions are begun by us (below), not by the sqlite3 module.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("ATTACH DATABASE ? AS " + SHARED_SCHEMA, (shared_path,))
            for schema in ("main", SHARED_SCHEMA) if main_file else (SHARED_SCHEMA,):
                cursor.execute(f"PRAGMA {schema}.journal_mode=WAL")
                cursor.execute(f"PRAGMA {schema}.synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection: Any) -> None:
            # Writers take the lock up front: a deferred transaction that later writes
            # can fail at once with SQLITE_BUSY when another writer got there first.
            write = connection.get_execution_options().get(WRITE_OPTION, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    # --- tenant stores --------------------------------------------------------------

    async def create_tenant_store(self, conn: AsyncConnection, tenant_id: uuid.UUID) -> None:
        """Make an empty store for a new tenant, inside the caller's transaction."""
        if not self.is_sqlite:
            await conn.execute(text(f'CREATE SCHEMA "{tenant_schema_name(tenant_id)}"'))

    def discard_tenant_store(self, tenant_id: uuid.UUID) -> None:
        """Remove what a failed registration left behind (SQLite files; PostgreSQL rolls
        the schema back with the transaction)."""
        engine = self._tenant_engines.pop(tenant_id, None)
        if engine is not None:
            engine.sync_engine.dispose()
        if self.is_sqlite:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.tenant_file(tenant_id)}{suffix}").unlink(missing_ok=True)

    # --- lifecycle ------------------------------------------------------------------

    async def ping(self) -> None:
        async with self.shared_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        for engine in self._tenant_engines.values():
            if engine is not self.shared_engine and self.is_sqlite:
                await engine.dispose()
        self._tenant_engines.clear()
        await self.shared_engine.dispose()
