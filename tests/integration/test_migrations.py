"""Migrations against the models, on both stores, each test on an empty store of its own.

- `upgrade head` leaves no autogenerate diff (shared scope and a tenant's scope);
- a tenant created at head (create_all + stamp) equals one upgraded to head;
- `migrate_all` brings everything to head and is idempotent;
- a tenant's rows live in its own schema (PostgreSQL) or file (SQLite).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import column as sa_column
from sqlalchemy import func, select, text
from sqlalchemy import table as sa_table
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from hub.adapters.db.database import Database, tenant_schema_name
from hub.adapters.db.migrate import (
    alembic_config,
    create_tenant_at_head,
    migrate_all,
    pending_migrations,
    upgrade_shared,
    upgrade_tenant,
)
from hub.adapters.db.schema import SHARED_SCHEMA, shared_metadata, tenant_metadata
from hub.adapters.db.tables import Shop, Tenant
from hub.adapters.db.uow import UnitOfWork
from tests import services
from tests.conftest import make_settings

SHARED_HEAD = ScriptDirectory.from_config(alembic_config("shared")).get_current_head()
TENANT_HEAD = ScriptDirectory.from_config(alembic_config("tenant")).get_current_head()


# --- fixtures: an empty store per test ------------------------------------------------


@pytest.fixture
async def database_url(store: str) -> AsyncIterator[str]:
    """'' for the embedded store (files under tmp_path); a scratch PostgreSQL database
    otherwise, dropped afterwards."""
    if store == "sqlite":
        yield ""
        return
    name = f"pos_test_mig_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(
        services.PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield (
                make_url(services.PG_ADMIN_URL)
                .set(database=name)
                .render_as_string(hide_password=False)
            )
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture
async def db(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(make_settings(tmp_path, database_url))
    try:
        yield database
    finally:
        await database.dispose()


# --- helpers -------------------------------------------------------------------------


def _only_shared_schema(name: str | None, type_: str, _parent: Any) -> bool:
    return type_ != "schema" or name == SHARED_SCHEMA


def _shared_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "target_metadata": shared_metadata,
            "version_table_schema": SHARED_SCHEMA,
            "include_schemas": True,
            "include_name": _only_shared_schema,
            "compare_type": True,
        },
    )
    return list(compare_metadata(context, shared_metadata))


def _tenant_diff(connection: Connection, schema: str | None) -> list[Any]:
    if connection.dialect.name == "postgresql":
        assert schema
        connection.exec_driver_sql(f'SET LOCAL search_path TO "{schema}", public')
    context = MigrationContext.configure(
        connection,
        opts={
            "target_metadata": tenant_metadata,
            # Schema-less like in migrations/env_common.py: the connection places it.
            "version_table_schema": None,
            "compare_type": True,
        },
    )
    return list(compare_metadata(context, tenant_metadata))


def _revision(connection: Connection, schema: str | None) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    return context.get_current_revision()


def _tenant_schema(db: Database, tenant_id: uuid.UUID) -> str | None:
    return None if db.is_sqlite else tenant_schema_name(tenant_id)


async def shared_diff(db: Database) -> list[Any]:
    async with db.shared_engine.connect() as conn:
        return await conn.run_sync(_shared_diff)


async def tenant_diff(db: Database, tenant_id: uuid.UUID) -> list[Any]:
    # begin(): SET LOCAL lasts for the transaction, which is rolled back at the end.
    async with db.tenant_engine(tenant_id).connect() as conn, conn.begin():
        diff = await conn.run_sync(_tenant_diff, _tenant_schema(db, tenant_id))
        await conn.rollback()
    return diff


async def tenant_revision(db: Database, tenant_id: uuid.UUID) -> str | None:
    async with db.tenant_engine(tenant_id).connect() as conn:
        return await conn.run_sync(_revision, _tenant_schema(db, tenant_id))


async def new_tenant(db: Database, name: str = "Tenant") -> uuid.UUID:
    """What registration does for the store: a tenant row, its store created at head."""
    tenant_id = uuid.uuid4()
    async with UnitOfWork(db, tenant_id, write=True) as uow:
        await create_tenant_at_head(db, await uow.connection(), tenant_id)
        uow.tenants.add(Tenant(id=tenant_id, name=name, schema_name=tenant_schema_name(tenant_id)))
        await uow.commit()
    return tenant_id


async def empty_tenant_store(db: Database, tenant_id: uuid.UUID) -> None:
    """A store for `tenant_id` with nothing in it (no tables, no revision)."""
    async with db.tenant_engine(tenant_id).begin() as conn:
        await db.create_tenant_store(conn, tenant_id)


# --- a. upgrade head == models -------------------------------------------------------


async def test_upgrade_head_on_an_empty_store_matches_the_models(db: Database) -> None:
    shared = await upgrade_shared(db)
    assert (shared.before, shared.after) == (None, SHARED_HEAD)
    tenant_id = uuid.uuid4()
    await empty_tenant_store(db, tenant_id)
    tenant = await upgrade_tenant(db, tenant_id)
    assert (tenant.before, tenant.after) == (None, TENANT_HEAD)

    diff = await shared_diff(db)
    assert diff == [], f"shared migrations differ from the models: {diff}"
    diff = await tenant_diff(db, tenant_id)
    assert diff == [], f"tenant migrations differ from the models: {diff}"


async def test_the_diff_check_does_see_a_missing_table(db: Database) -> None:
    """The comparison is not vacuous: a store without tables differs from the models."""
    await upgrade_shared(db)
    tenant_id = uuid.uuid4()
    await empty_tenant_store(db, tenant_id)
    diff = await tenant_diff(db, tenant_id)
    added = sorted(op[1].name for op in diff if op[0] == "add_table")
    assert added == sorted(tenant_metadata.tables), diff


@pytest.mark.parametrize("scope", ["shared", "tenant"])
async def test_alembic_check_through_the_env(
    db: Database, store: str, scope: str, request: pytest.FixtureRequest
) -> None:
    """`alembic check` through migrations/env_common.py itself: what `pos-hub revision`
    would autogenerate against a store at head must be nothing."""
    await upgrade_shared(db)
    tenant_id = uuid.uuid4()
    await empty_tenant_store(db, tenant_id)
    await upgrade_tenant(db, tenant_id)
    if scope == "shared":
        engine, schema = db.shared_engine, SHARED_SCHEMA
    else:
        engine, schema = db.tenant_engine(tenant_id), _tenant_schema(db, tenant_id)

    def check(connection: Connection) -> None:
        config = alembic_config(scope)
        config.attributes.update(connection=connection, scope=scope, schema=schema)
        command.check(config)

    async with engine.connect() as conn, conn.begin():
        await conn.run_sync(check)
        await conn.rollback()


# --- b. created at head == upgraded to head -------------------------------------------


async def test_tenant_created_at_head_matches_the_models_and_is_stamped(db: Database) -> None:
    await upgrade_shared(db)
    tenant_id = uuid.uuid4()
    async with db.tenant_engine(tenant_id).begin() as conn:
        await create_tenant_at_head(db, conn, tenant_id)

    diff = await tenant_diff(db, tenant_id)
    assert diff == [], f"a tenant created at head differs from the models: {diff}"
    assert TENANT_HEAD is not None
    assert await tenant_revision(db, tenant_id) == TENANT_HEAD


# --- c. migrate_all -------------------------------------------------------------------


async def test_migrate_all_reaches_head_and_is_idempotent(db: Database) -> None:
    pending = await pending_migrations(db)
    assert len(pending) == 1, pending
    assert pending[0].startswith("shared"), pending

    first = await migrate_all(db)
    assert [(r.target, r.before, r.after) for r in first] == [("shared", None, SHARED_HEAD)]
    assert await pending_migrations(db) == []

    # A tenant created at head, and one whose store exists but was never migrated.
    at_head = await new_tenant(db, "At head")
    behind = uuid.uuid4()
    await empty_tenant_store(db, behind)
    async with UnitOfWork(db, behind, write=True) as uow:
        uow.tenants.add(Tenant(id=behind, name="Behind", schema_name=tenant_schema_name(behind)))
        await uow.commit()
    pending = await pending_migrations(db)
    assert len(pending) == 1, pending
    assert pending[0].startswith("tenant"), pending
    assert pending[0].endswith(f"at None, head is {TENANT_HEAD}"), pending

    second = await migrate_all(db)
    by_target = {r.target: (r.before, r.after) for r in second}
    assert by_target == {
        "shared": (SHARED_HEAD, SHARED_HEAD),
        f"tenant {at_head}": (TENANT_HEAD, TENANT_HEAD),
        f"tenant {behind}": (None, TENANT_HEAD),
    }
    assert await pending_migrations(db) == []
    assert await tenant_diff(db, behind) == []

    third = await migrate_all(db)
    assert len(third) == 3
    assert all(r.before == r.after for r in third), third
    assert await pending_migrations(db) == []


async def test_pending_migrations_name_the_tenant_behind(
    db: Database, store: str, request: pytest.FixtureRequest
) -> None:
    """`pos-hub serve` prints these lines when it refuses to start: they must say which
    tenant is behind."""
    await migrate_all(db)
    behind = uuid.uuid4()
    await empty_tenant_store(db, behind)
    async with UnitOfWork(db, behind, write=True) as uow:
        uow.tenants.add(Tenant(id=behind, name="Behind", schema_name=tenant_schema_name(behind)))
        await uow.commit()
    pending = await pending_migrations(db)
    assert len(pending) == 1, pending
    assert str(behind) in pending[0], pending


# --- d. isolation ---------------------------------------------------------------------


def _sqlite_shop_names(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT name FROM shops")]
    finally:
        conn.close()


def _sqlite_tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


async def test_a_tenants_rows_are_invisible_to_another_tenant(db: Database) -> None:
    await migrate_all(db)
    tenant_a = await new_tenant(db, "A")
    tenant_b = await new_tenant(db, "B")

    async with UnitOfWork(db, tenant_a, write=True) as uow:
        uow.shops.add(Shop(name="Only in A"))
        await uow.commit()

    count_shops = select(func.count()).select_from(Shop)
    async with UnitOfWork(db, tenant_b) as uow:
        assert await uow.session.scalar(count_shops) == 0
    async with UnitOfWork(db, tenant_a) as uow:
        assert list(await uow.session.scalars(select(Shop.name))) == ["Only in A"]

    if db.is_sqlite:
        assert _sqlite_shop_names(db.tenant_file(tenant_a)) == ["Only in A"]
        assert _sqlite_shop_names(db.tenant_file(tenant_b)) == []
        assert "shops" not in _sqlite_tables(db.shared_path)
        return

    schema_a, schema_b = tenant_schema_name(tenant_a), tenant_schema_name(tenant_b)
    async with db.shared_engine.connect() as conn:
        holders = await conn.scalars(
            text(
                "SELECT table_schema FROM information_schema.tables"
                " WHERE table_name = 'shops' ORDER BY table_schema"
            )
        )
        assert list(holders) == sorted([schema_a, schema_b])
        in_a = await conn.scalars(text(f'SELECT name FROM "{schema_a}".shops'))
        assert list(in_a) == ["Only in A"]
        in_b = await conn.scalar(text(f'SELECT count(*) FROM "{schema_b}".shops'))
        assert in_b == 0


# --- d. data migrations ---------------------------------------------------------------


def _row(table: Any, skip: frozenset[str] | set[str], **given: Any) -> dict[str, Any]:
    """A row of a model's table with a plain value in each column (except `skip`: the
    columns a later revision added), `given` ones as given."""
    plain = {
        "UUID": lambda: uuid.uuid4(),
        "Uuid": lambda: uuid.uuid4(),
        "String": lambda: uuid.uuid4().hex[:8],  # unique where it must be
        "Integer": lambda: 1,
        "BigInteger": lambda: 1,
        "Boolean": lambda: True,
    }
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.name in skip or column.name in given:
            continue
        kind = type(column.type).__name__
        python = getattr(column.type, "impl", column.type)
        if kind in plain:
            row[column.name] = plain[kind]()
        elif "Date" in type(python).__name__ or column.name.endswith("_at"):
            row[column.name] = datetime.now(UTC)
        elif column.nullable:
            row[column.name] = None
        else:
            row[column.name] = Decimal("0.00")
    return row | given


def _insert(
    schema: str | None, model: Any, skip: frozenset[str] = frozenset(), **given: Any
) -> Any:
    """An insert of `_row` that names only its own columns: a model's defaults for the
    columns a later revision added must not be sent to the older schema."""
    row = _row(model.__table__, skip, **given)
    columns = model.__table__.columns
    bare = sa_table(
        model.__tablename__, *(sa_column(c, columns[c].type) for c in row), schema=schema
    )
    return bare.insert().values(row)


def _upgrade_to(connection: Connection, schema: str | None, target: str) -> None:
    if schema and connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    config = alembic_config("tenant")
    config.attributes.update(connection=connection, scope="tenant", schema=schema)
    command.upgrade(config, target)


async def test_returns_made_before_numbers_are_numbered_per_till_in_order(db: Database) -> None:
    """0012: each return already made gets its number (per till of the paying shift, in
    the order they were made) and each till the next one after them."""
    from hub.adapters.db.sales_tables import CashRegister, Sale, SaleReturn, Shift

    await upgrade_shared(db)
    tenant_id = uuid.uuid4()
    await empty_tenant_store(db, tenant_id)
    schema = _tenant_schema(db, tenant_id)
    engine = db.tenant_engine(tenant_id)
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to, schema, "0011_return_receipts")
    shop = uuid.uuid4()
    tills = [uuid.uuid4() for _ in range(3)]  # the third makes no return
    shifts = {till: uuid.uuid4() for till in tills}
    sale = uuid.uuid4()
    start = datetime(2026, 11, 1, 10, tzinfo=UTC)
    made = [(tills[0], 1), (tills[1], 2), (tills[0], 3), (tills[0], 3)]  # (till, minute)
    returns = [uuid.uuid4() for _ in made]
    async with engine.begin() as conn:
        await conn.execute(_insert(schema, Shop, id=shop))
        for n, till in enumerate(tills):
            await conn.execute(
                _insert(schema, CashRegister, {"next_return_number"}, id=till, shop_id=shop,
                        name=f"Till {n}")
            )  # fmt: skip
            await conn.execute(
                _insert(schema, Shift, id=shifts[till], register_id=till, shop_id=shop)
            )
        await conn.execute(
            _insert(schema, Sale, id=sale, shop_id=shop, register_id=tills[0],
                    shift_id=shifts[tills[0]], customer_id=None)
        )  # fmt: skip
        for return_id, (till, minute) in zip(returns, made, strict=True):
            await conn.execute(
                _insert(schema, SaleReturn, {"number"}, id=return_id, sale_id=sale,
                        shop_id=shop, shift_id=shifts[till],
                        created_at=start + timedelta(minutes=minute))
            )  # fmt: skip
    await upgrade_tenant(db, tenant_id)
    async with engine.connect() as conn:
        numbered = dict((await conn.execute(select(SaleReturn.id, SaleReturn.number))).all())
        following = dict(
            (await conn.execute(select(CashRegister.id, CashRegister.next_return_number))).all()
        )
    # Till 0 made three (the two at 10:03 in id order), till 1 one, till 2 none.
    tie = sorted(returns[2:], key=str)
    assert [numbered[r] for r in (returns[0], tie[0], tie[1])] == [1, 2, 3]
    assert numbered[returns[1]] == 1
    assert following == {tills[0]: 4, tills[1]: 2, tills[2]: 1}
