"""Running Alembic: the shared schema, every tenant, and new tenants created at head."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection

import migrations
from hub.adapters.db.database import Database, tenant_schema_name
from hub.adapters.db.schema import SHARED_SCHEMA, tenant_metadata
from hub.adapters.db.tables import Tenant
from hub.settings import MAIN_CLUSTER

# The foreign server, on every cluster but the main one, that is the main cluster.
MAIN_SERVER = "pos_main"

MIGRATIONS_DIR = Path(migrations.__file__).parent


@dataclass(frozen=True)
class MigrationResult:
    target: str
    before: str | None
    after: str | None


def alembic_config(scope: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR / scope))
    return config


def _schema_for(db: Database, tenant_id: uuid.UUID) -> str | None:
    """The tenant's schema on PostgreSQL; None on SQLite, where it is the main file.

    Alembic's version table is read and stamped with this explicit schema: its existence
    check goes through the inspector, which ignores schema_translate_map.
    """
    return None if db.is_sqlite else tenant_schema_name(tenant_id)


def _current(connection: Connection, schema: str | None) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    return context.get_current_revision()


def _upgrade(connection: Connection, scope: str, schema: str | None) -> tuple[str | None, ...]:
    if schema and connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    before = _current(connection, schema)
    config = alembic_config(scope)
    config.attributes.update(connection=connection, scope=scope, schema=schema)
    command.upgrade(config, "head")
    return before, _current(connection, schema)


async def upgrade_shared(db: Database) -> MigrationResult:
    async with db.shared_engine.begin() as conn:
        before, after = await conn.run_sync(_upgrade, "shared", SHARED_SCHEMA)
    return MigrationResult("shared", before, after)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _options(values: Mapping[str, str | int | None]) -> str:
    return ", ".join(f"{key} {_literal(str(v))}" for key, v in values.items() if v is not None)


async def prepare_cluster(db: Database, name: str) -> None:
    """Make a cluster other than the main one ready to hold tenants, in one transaction:
    the extensions tenant schemas use, and `pos_shared` as foreign tables of the main
    cluster's, imported afresh so that they follow the shared schema's migrations.

    The main cluster is reached as `POS_DATABASE_URL` names it, with its user and
    password: that address must work from the other cluster's server too."""
    main = make_url(db.settings.database_url)
    server = {"host": main.host, "port": main.port, "dbname": main.database or "postgres"}
    login = {"user": main.username, "password": main.password}
    statements = [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public",
        "CREATE EXTENSION IF NOT EXISTS postgres_fdw",
        f"DROP SCHEMA IF EXISTS {SHARED_SCHEMA} CASCADE",
        f"DROP SERVER IF EXISTS {MAIN_SERVER} CASCADE",
        f"CREATE SERVER {MAIN_SERVER} FOREIGN DATA WRAPPER postgres_fdw"
        f" OPTIONS ({_options(server)})",
        f"CREATE USER MAPPING FOR CURRENT_USER SERVER {MAIN_SERVER}"
        + (f" OPTIONS ({_options(login)})" if main.username else ""),
        f"CREATE SCHEMA {SHARED_SCHEMA}",
        f"IMPORT FOREIGN SCHEMA {SHARED_SCHEMA} FROM SERVER {MAIN_SERVER}"
        f" INTO {SHARED_SCHEMA} OPTIONS (import_default 'true')",
    ]
    async with db.cluster_engines[name].begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def upgrade_tenant(db: Database, tenant_id: uuid.UUID) -> MigrationResult:
    schema = _schema_for(db, tenant_id)
    cluster = await db.locate(tenant_id)
    async with db.tenant_engine(tenant_id).begin() as conn:
        before, after = await conn.run_sync(_upgrade, "tenant", schema)
    where = f" on cluster {cluster}" if db.clustered else ""
    return MigrationResult(f"tenant {tenant_id}{where}", before, after)


async def tenant_ids(db: Database) -> list[uuid.UUID]:
    async with db.shared_engine.connect() as conn:
        rows = await conn.execute(select(Tenant.id).order_by(Tenant.created_at))
        return [row[0] for row in rows]


async def migrate_all(db: Database) -> list[MigrationResult]:
    """Upgrade the shared schema, make the other clusters see it, then upgrade every
    tenant's schema, each in its own transaction."""
    results = [await upgrade_shared(db)]
    for name in db.cluster_engines:
        if name != MAIN_CLUSTER:
            await prepare_cluster(db, name)
    for tenant_id in await tenant_ids(db):
        results.append(await upgrade_tenant(db, tenant_id))
    return results


def _create_at_head(connection: Connection, schema: str | None) -> None:
    tenant_metadata.create_all(connection, checkfirst=False)
    script = ScriptDirectory.from_config(alembic_config("tenant"))
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    context.stamp(script, "head")


async def create_tenant_at_head(db: Database, conn: AsyncConnection, tenant_id: uuid.UUID) -> None:
    """Create a new tenant's store at the head revision, in the caller's transaction.

    Creating the tables from the models and stamping head is what `upgrade head` would
    produce; a test keeps the two equal.
    """
    await db.create_tenant_store(conn, tenant_id)
    await conn.run_sync(_create_at_head, _schema_for(db, tenant_id))


def _pending(connection: Connection, scope: str, schema: str | None, target: str) -> str | None:
    head = ScriptDirectory.from_config(alembic_config(scope)).get_current_head()
    current = _current(connection, schema)
    return None if current == head else f"{target} at {current}, head is {head}"


async def _shared_columns(db: Database, cluster: str) -> set[tuple[str, str]]:
    """The shared tables' columns as a cluster sees them (foreign tables elsewhere)."""
    if db.is_sqlite:
        return set()
    async with db.cluster_engines[cluster].connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = :schema"
            ),
            {"schema": SHARED_SCHEMA},
        )
        return {(row[0], row[1]) for row in rows}


async def shared_pending(db: Database) -> str | None:
    """What is behind of the shared schema, or of another cluster's view of it."""
    async with db.shared_engine.connect() as conn:
        shared = await conn.run_sync(_pending, "shared", SHARED_SCHEMA, "shared schema")
    if shared is not None:
        return str(shared)
    shared_columns = await _shared_columns(db, MAIN_CLUSTER)
    for name in db.cluster_engines:
        if name != MAIN_CLUSTER and await _shared_columns(db, name) != shared_columns:
            return f"cluster {name} does not see the shared schema as it is now"
    return None


async def tenant_pending(db: Database, tenant_id: uuid.UUID) -> str | None:
    """Whether one tenant's schema is behind head, and where it is."""
    await db.locate(tenant_id)
    async with db.tenant_engine(tenant_id).connect() as conn:
        found = await conn.run_sync(
            _pending, "tenant", _schema_for(db, tenant_id), f"tenant {tenant_id}"
        )
    return None if found is None else str(found)


async def pending_migrations(db: Database) -> list[str]:
    """What is not at head: the shared schema, or any tenant's."""
    shared = await shared_pending(db)
    if shared is not None:
        return [shared]
    found = [await tenant_pending(db, tenant_id) for tenant_id in await tenant_ids(db)]
    return [behind for behind in found if behind is not None]


async def make_revision(db: Database, scope: str, message: str) -> None:
    """Autogenerate a revision against a database at head (a scratch one is best)."""
    await upgrade_shared(db)
    if scope == "shared":
        engine = db.shared_engine
        schema: str | None = SHARED_SCHEMA
    else:
        scratch = uuid.UUID(int=0)
        await upgrade_tenant(db, scratch)
        engine = db.tenant_engine(scratch)
        schema = _schema_for(db, scratch)

    def revise(connection: Connection) -> None:
        config = alembic_config(scope)
        config.attributes.update(connection=connection, scope=scope, schema=schema)
        command.revision(config, message=message, autogenerate=True)

    async with engine.begin() as conn:
        await conn.run_sync(revise)
