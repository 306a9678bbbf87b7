"""Engines, and how a connection is bound to exactly one tenant.

PostgreSQL: one pool; a tenant's engine is the pool with `schema_translate_map` sending
schema-less (tenant) tables to `tenant_<id>`; shared tables name `pos_shared` outright.

Several PostgreSQL clusters (POS_DATABASE_CLUSTERS): `pos_shared` lives on the main
cluster; each tenant's schema on the cluster `tenants.cluster` names, whose `pos_shared`
schema holds postgres_fdw foreign tables of the main one (`prepare_cluster` in
`migrate.py`). A tenant's unit of work is then one transaction on its own cluster, and
what it reads or writes of the shared tables goes through the foreign tables.

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

from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from hub.adapters.broker.base import Outgoing
from hub.adapters.db.tables import SHARED_SCHEMA, Tenant
from hub.adapters.db.types import ValueOutOfRange
from hub.settings import MAIN_CLUSTER, Settings

WRITE_OPTION = "pos_write"
# A serialization failure and a deadlock: the database undid the transaction because it
# raced another; nothing was written, and the same request may simply be sent again.
_RACE_SQLSTATES = frozenset({"40001", "40P01"})
# The server shutting down, crashed, or starting up (class 08 is "connection exception").
_GONE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
_SQLITE_ENGINE_CACHE = 256


# The tenant's write gate: an advisory lock (two-key form, so it never meets one-key
# locks such as the analytics worker's) that every writing unit of work holds shared
# while tenants can move between clusters, and a move holds exclusively (relocation.py).
WRITE_GATE_CLASS = 7460


def write_gate_key(tenant_id: uuid.UUID) -> int:
    """The tenant's half of the gate's key, a signed 32-bit number."""
    return int.from_bytes(tenant_id.bytes[-4:], "big", signed=True)


def lost_a_race(exc: BaseException) -> bool:
    """Whether a database error means "retry": with several clusters, a shared row two
    transactions update at once through postgres_fdw (which reads the main cluster at
    REPEATABLE READ) fails the second one instead of making it wait."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _RACE_SQLSTATES


def duplicate_key(exc: BaseException, constraint: str) -> bool:
    """Whether a statement failed on the unique `constraint`: another transaction
    committed the same key first."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "23505" and constraint in str(orig)


# No such table or schema: in a tenant's unit of work, its schema is not on that cluster.
_MISSING_SQLSTATES = frozenset({"42P01", "3F000"})
_NUMERIC_OUT_OF_RANGE = "22003"


class TenantRelocated(Exception):
    """The tenant's tables were not where this process looked: the tenant is being (or
    was) moved to another cluster. Nothing was done; the same request may be sent again."""


def value_out_of_range(exc: BaseException) -> bool:
    """Whether a statement failed on a number beyond what its column holds (a running
    total grown past it): our bind check, or PostgreSQL's numeric overflow in SQL."""
    orig = getattr(exc, "orig", None)
    if isinstance(exc, StatementError) and isinstance(orig, ValueOutOfRange):
        return True
    return getattr(orig, "sqlstate", None) == _NUMERIC_OUT_OF_RANGE


def schema_missing(exc: BaseException) -> bool:
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _MISSING_SQLSTATES


def database_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the server could not be reached or went away
    (down, restarting, the connection cut): the request did not commit, or its commit
    was not confirmed, and sending it again (under the same idempotency key) is safe."""
    if isinstance(exc, TenantRelocated) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return True
    if isinstance(exc, ConnectionError):  # refused or reset before the driver wrapped it
        return True
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or ""
    return (
        state.startswith("08")
        or state in _GONE_SQLSTATES
        or (isinstance(exc, DBAPIError) and isinstance(orig, OSError))
    )


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
        # Set by the app: hands committed outbox events to the relay, and waits for them
        # to go out; or (`relay_soon`) hands them over and returns at once.
        self.after_commit: Callable[[uuid.UUID, list[Outgoing]], Awaitable[None]] | None = None
        self.relay_soon: Callable[[uuid.UUID, list[Outgoing]], None] | None = None
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
            self.shared_engine = self._postgres_engine(settings.database_url)
        # The main cluster's engine is the shared one; the others' are made here.
        self.cluster_engines: dict[str, AsyncEngine] = {MAIN_CLUSTER: self.shared_engine}
        for name, cluster_url in settings.clusters.items():
            if name != MAIN_CLUSTER:
                self.cluster_engines[name] = self._postgres_engine(cluster_url)
        # Where each tenant lives, as far as this process has asked; tenants never move
        # while the hub runs.
        self._placement: dict[uuid.UUID, str] = {}

    def _postgres_engine(self, url: str) -> AsyncEngine:
        return create_async_engine(
            url,
            pool_size=self.settings.db_pool_size,
            max_overflow=self.settings.db_pool_size,
            pool_pre_ping=self.settings.db_pre_ping,
            connect_args={"server_settings": {"jit": "off"}},
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def clustered(self) -> bool:
        """Whether tenants may live on more than one PostgreSQL cluster."""
        return len(self.cluster_engines) > 1

    # --- placement ------------------------------------------------------------------

    async def locate(self, tenant_id: uuid.UUID) -> str:
        """The cluster holding a tenant (asked once per process, then remembered).

        An unknown tenant is on the main cluster: nothing of it exists anywhere, so
        whatever reads it finds nothing, as with one cluster."""
        cluster = self._placement.get(tenant_id)
        if cluster is not None or not self.clustered:
            return cluster or MAIN_CLUSTER
        async with self.shared_engine.connect() as conn:
            cluster = await conn.scalar(select(Tenant.cluster).where(Tenant.id == tenant_id))
        if cluster is None:
            return MAIN_CLUSTER
        self.place(tenant_id, cluster)
        return cluster

    def place(self, tenant_id: uuid.UUID, cluster: str) -> None:
        if cluster not in self.cluster_engines:
            raise LookupError(
                f"tenant {tenant_id} is on cluster {cluster!r}, which POS_DATABASE_CLUSTERS"
                " does not name"
            )
        self._placement[tenant_id] = cluster

    def forget(self, tenant_id: uuid.UUID, looked_on: str) -> None:
        """After a tenant's tables were not found on the cluster `looked_on`: a move is
        under way or done; the next unit of work asks where the tenant is (unless another
        request has already)."""
        if self._placement.get(tenant_id) == looked_on:
            del self._placement[tenant_id]
            self._tenant_engines.pop(tenant_id, None)

    async def place_new_tenant(self, tenant_id: uuid.UUID) -> str:
        """Choose a new tenant's cluster: of those taking new tenants, the one holding the
        fewest (the first named on a tie)."""
        candidates = self.settings.clusters_for_new_tenants
        if len(candidates) > 1:
            async with self.shared_engine.connect() as conn:
                counts = dict(
                    (
                        await conn.execute(
                            select(Tenant.cluster, func.count()).group_by(Tenant.cluster)
                        )
                    ).all()
                )
            candidates = sorted(candidates, key=lambda name: counts.get(name, 0))
        self.place(tenant_id, candidates[0])
        return candidates[0]

    # --- engines --------------------------------------------------------------------

    def tenant_engine(self, tenant_id: uuid.UUID) -> AsyncEngine:
        """The tenant's engine; with several clusters, `locate` (or `place`) it first."""
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
            cluster = self._placement.get(tenant_id)
            engine = self.cluster_engines[cluster or MAIN_CLUSTER].execution_options(
                schema_translate_map={None: tenant_schema_name(tenant_id)}
            )
            if cluster is None and self.clustered:
                # Not located, or unknown (no such tenant anywhere): the main cluster,
                # where nothing of it will be found; not remembered, as it may yet be
                # placed elsewhere.
                return engine
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

    async def drop_tenant_store(self, tenant_id: uuid.UUID, cluster: str) -> None:
        """Drop a tenant's committed schema on a cluster (SQLite: see
        `discard_tenant_store`)."""
        if self.is_sqlite:
            return
        async with self.cluster_engines[cluster].begin() as conn:
            await conn.exec_driver_sql(
                f'DROP SCHEMA IF EXISTS "{tenant_schema_name(tenant_id)}" CASCADE'
            )

    def discard_tenant_store(self, tenant_id: uuid.UUID) -> None:
        """Remove what a failed registration left behind (SQLite files; PostgreSQL rolls
        the schema back with the transaction)."""
        engine = self._tenant_engines.pop(tenant_id, None)
        self._placement.pop(tenant_id, None)
        # On PostgreSQL the engine is a view of its cluster's pool, which other tenants
        # go on using; on SQLite it is the tenant's own, and so is the file.
        if self.is_sqlite:
            if engine is not None:
                engine.sync_engine.dispose()
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.tenant_file(tenant_id)}{suffix}").unlink(missing_ok=True)

    # --- lifecycle ------------------------------------------------------------------

    async def ping(self, cluster: str = MAIN_CLUSTER) -> None:
        async with self.cluster_engines[cluster].connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        for engine in self._tenant_engines.values():
            if engine is not self.shared_engine and self.is_sqlite:
                await engine.dispose()
        self._tenant_engines.clear()
        self._placement.clear()
        for engine in self.cluster_engines.values():
            await engine.dispose()
