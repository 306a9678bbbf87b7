"""Moving a tenant from one PostgreSQL cluster to another (`pos-hub move-tenant`).

1. The tenant's schema is created afresh at head on the target cluster (a leftover of a
   move that failed earlier is dropped first).
2. On the source cluster one transaction closes the tenant's write gate (an advisory
   lock every writing unit of work holds shared) and locks every table of the tenant's
   schema IN EXCLUSIVE MODE: reads go on, writes wait. Writers already running finish
   first, so what is copied is everything committed.
3. Each table is streamed with binary COPY, parents before children (a table that refers
   to itself, parents before children by depth), and every table's row count is compared;
   the target transaction commits.
4. The source schema is renamed `moved_tenant_<id>` in the locking transaction, which
   commits: writers that waited now find no table and fail.
5. `pos_shared.tenants.cluster` names the target. Every hub process that still sends the
   tenant to the source finds no schema there, reads the placement again and answers
   503 (send again); the next request goes to the target.
6. The renamed source schema is dropped.

A crash between 4 and 5 leaves the tenant's data complete on the target and its renamed
copy on the source, one between 5 and 6 the renamed copy alone; running the same
command again finishes the move either way.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
from sqlalchemy import Table, select, update
from sqlalchemy.engine import make_url

from hub.adapters.db.database import (
    WRITE_GATE_CLASS,
    Database,
    tenant_schema_name,
    write_gate_key,
)
from hub.adapters.db.migrate import create_tenant_at_head, shared_pending, tenant_pending
from hub.adapters.db.schema import tenant_metadata
from hub.adapters.db.tables import Tenant

_CHUNKS_IN_FLIGHT = 16
_LOCK_ATTEMPTS = 20
_LOCK_TIMEOUT_MS = 5000


class MoveRefused(Exception):
    """The move cannot start; the text says why. Nothing was changed."""


@dataclass(frozen=True)
class Moved:
    tenant_id: uuid.UUID
    source: str
    target: str
    rows: int
    tables: int
    seconds: float
    finished_earlier_move: bool = False


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select(table: Table, schema: str) -> str:
    """The query a table is copied out with: its columns in the models' order, and for a
    table that refers to itself (a category tree), parents before children."""
    columns = ", ".join(_quoted(c.name) for c in table.columns)
    source = f"{_quoted(schema)}.{_quoted(table.name)}"
    parents = [fk for fk in table.foreign_keys if fk.column.table is table]
    if not parents:
        return f"SELECT {columns} FROM {source}"
    fk = parents[0]
    child, parent = _quoted(fk.parent.name), _quoted(fk.column.name)
    return (
        f"WITH RECURSIVE tree AS (SELECT t.*, 0 AS pos_depth FROM {source} t"
        f" WHERE t.{child} IS NULL UNION ALL SELECT t.*, tree.pos_depth + 1 FROM {source} t"
        f" JOIN tree ON t.{child} = tree.{parent}) SELECT {columns} FROM tree ORDER BY pos_depth"
    )


async def _schema_exists(conn: asyncpg.Connection, schema: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema))


async def _copy_table(
    source: asyncpg.Connection, target: asyncpg.Connection, table: Table, schema: str
) -> int:
    """Stream one table with binary COPY; returns how many rows the target took."""
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue(_CHUNKS_IN_FLIGHT)

    async def produce() -> None:
        try:
            await source.copy_from_query(_select(table, schema), output=chunks.put, format="binary")
        finally:
            await chunks.put(None)

    async def consume() -> AsyncIterator[bytes]:
        while (chunk := await chunks.get()) is not None:
            yield chunk

    async with asyncio.TaskGroup() as group:
        group.create_task(produce())
        copied = group.create_task(
            target.copy_to_table(
                table.name,
                source=consume(),
                schema_name=schema,
                columns=[c.name for c in table.columns],
                format="binary",
            )
        )
    status = copied.result()  # "COPY <n>"
    return int(status.split()[-1])


async def _lock_tables(
    source: asyncpg.Connection, tenant_id: uuid.UUID, tables: list[Table]
) -> asyncpg.transaction.Transaction:
    """Begin the source transaction and stop every write to the tenant's tables.

    First the tenant's write gate, exclusively: every writing unit of work holds it
    shared from its first statement, so this waits for those under way, and new ones
    queue behind it holding nothing, which makes a deadlock impossible. Then the tables,
    IN EXCLUSIVE MODE (reads go on), for writers outside units of work (the outbox
    relay's delete). Should either wait too long, the transaction lets go and tries
    again. READ COMMITTED: each copy sees everything committed before the locks, and
    nothing can be committed after them."""
    gate = f"SELECT pg_advisory_xact_lock({WRITE_GATE_CLASS}, {write_gate_key(tenant_id)})"
    schema = tenant_schema_name(tenant_id)
    names = ", ".join(f"{_quoted(schema)}.{_quoted(t.name)}" for t in tables)
    for attempt in range(_LOCK_ATTEMPTS):
        locked = source.transaction()
        await locked.start()
        try:
            await source.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT_MS}ms'")
            await source.execute(gate)
            await source.execute(f"LOCK TABLE {names} IN EXCLUSIVE MODE")
            return locked
        except (asyncpg.DeadlockDetectedError, asyncpg.LockNotAvailableError):
            await locked.rollback()
            await asyncio.sleep(0.05 * (attempt + 1))
    raise MoveRefused(f"the tenant's tables stayed busy through {_LOCK_ATTEMPTS} attempts")


async def _create_at_head(db: Database, target: str, tenant_id: uuid.UUID) -> None:
    schema = tenant_schema_name(tenant_id)
    engine = db.cluster_engines[target].execution_options(schema_translate_map={None: schema})
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {_quoted(schema)} CASCADE")
        await create_tenant_at_head(db, conn, tenant_id)


async def _place(db: Database, tenant_id: uuid.UUID, target: str) -> None:
    async with db.shared_engine.begin() as conn:
        await conn.execute(update(Tenant).where(Tenant.id == tenant_id).values(cluster=target))
    db.place(tenant_id, target)


async def _placed(db: Database, tenant_id: uuid.UUID, target: str) -> str:
    """Where the tenant is now, once the move is known to be possible."""
    if db.is_sqlite:
        raise MoveRefused("the embedded store has one place for every tenant")
    if target not in db.cluster_engines:
        raise MoveRefused(f"no cluster named {target!r} (POS_DATABASE_CLUSTERS)")
    async with db.shared_engine.connect() as conn:
        placed = await conn.scalar(select(Tenant.cluster).where(Tenant.id == tenant_id))
    if placed is None:
        raise MoveRefused(f"no tenant {tenant_id}")
    return str(placed)


async def _drop_leftovers(db: Database, tenant_id: uuid.UUID, placed: str) -> bool:
    """Drop a renamed source schema that a move which died after switching the placement
    left on another cluster; whether there was one."""
    renamed = f"moved_{tenant_schema_name(tenant_id)}"
    found = False
    for name, url in db.settings.clusters.items():
        if name == placed:
            continue
        conn = await asyncpg.connect(_dsn(url))
        try:
            if await _schema_exists(conn, renamed):
                await conn.execute(f"DROP SCHEMA {_quoted(renamed)} CASCADE")
                found = True
        finally:
            await conn.close()
    return found


async def _check_migrated(db: Database, tenant_id: uuid.UUID) -> None:
    """The shared schema, every cluster's view of it and this tenant at head (the copy
    is made table by table from the models); other tenants are not asked."""
    behind = await shared_pending(db) or await tenant_pending(db, tenant_id)
    if behind:
        raise MoveRefused(f"run `pos-hub migrate` first: {behind}")


async def _copy(
    source: asyncpg.Connection, target: asyncpg.Connection, tenant_id: uuid.UUID
) -> tuple[int, asyncpg.transaction.Transaction]:
    """Lock the source, copy every table into the target and commit the target; the
    source is renamed `moved_…` in its transaction, left open for the caller to commit.
    On any failure the source is let go and the target's copy dropped."""
    schema = tenant_schema_name(tenant_id)
    tables = tenant_metadata.sorted_tables
    locked = None
    try:
        locked = await _lock_tables(source, tenant_id, tables)
        rows = 0
        async with target.transaction():
            for table in tables:
                copied = await _copy_table(source, target, table, schema)
                counted = await source.fetchval(
                    f"SELECT count(*) FROM {_quoted(schema)}.{_quoted(table.name)}"
                )
                if copied != counted:
                    raise RuntimeError(f"{table.name}: {counted} rows, {copied} copied")
                rows += copied
        await source.execute(
            f"ALTER SCHEMA {_quoted(schema)} RENAME TO {_quoted('moved_' + schema)}"
        )
    except BaseException:
        if locked is not None:
            await locked.rollback()
        await target.execute(f"DROP SCHEMA IF EXISTS {_quoted(schema)} CASCADE")
        raise
    return rows, locked


async def move_tenant(db: Database, tenant_id: uuid.UUID, target: str) -> Moved:
    """Move a tenant's schema to the `target` cluster (see the module's text)."""
    placed = await _placed(db, tenant_id, target)
    if placed == target:
        if await _drop_leftovers(db, tenant_id, placed):
            return Moved(tenant_id, placed, target, 0, 0, 0.0, finished_earlier_move=True)
        raise MoveRefused(f"tenant {tenant_id} is on cluster {target} already")
    schema = tenant_schema_name(tenant_id)
    renamed = f"moved_{schema}"
    started = time.monotonic()
    source = await asyncpg.connect(_dsn(db.settings.clusters[placed]))
    target_conn = await asyncpg.connect(_dsn(db.settings.clusters[target]))
    try:
        if not await _schema_exists(source, schema) and await _schema_exists(source, renamed):
            # An earlier move got as far as renaming the source: its copy is complete.
            if not await _schema_exists(target_conn, schema):
                raise MoveRefused(f"{renamed} is on {placed} but {schema} is not on {target}")
            await _place(db, tenant_id, target)
            await source.execute(f"DROP SCHEMA {_quoted(renamed)} CASCADE")
            return Moved(tenant_id, placed, target, 0, 0, time.monotonic() - started, True)
        await _check_migrated(db, tenant_id)
        await _create_at_head(db, target, tenant_id)
        rows, locked = await _copy(source, target_conn, tenant_id)
        await locked.commit()  # the source is renamed: who still looks there finds nothing
        await _place(db, tenant_id, target)
        await source.execute(f"DROP SCHEMA {_quoted(renamed)} CASCADE")
        tables = len(tenant_metadata.sorted_tables)
        return Moved(tenant_id, placed, target, rows, tables, time.monotonic() - started)
    finally:
        await source.close()
        await target_conn.close()
