"""Tenants on several PostgreSQL clusters (SPEC §7): placement, the shared schema seen
through postgres_fdw, migrations on every cluster, and races that become conflicts.

Two real clusters: POS_TEST_DATABASE_URL (the main one) and POS_TEST_DATABASE_URL_2.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from hub.adapters.db.database import Database, lost_a_race, tenant_schema_name
from hub.adapters.db.migrate import migrate_all, pending_migrations, tenant_ids
from hub.adapters.db.tables import Tenant, User
from hub.adapters.db.uow import UnitOfWork
from hub.settings import Settings
from hub.web.errors import fault_response
from tests import services
from tests.conftest import SECOND_CLUSTER, app_client, cluster_settings, scratch_database
from tests.helpers import bearer, build_tenant, create_product, receive, register, stock_of
from tests.integration.test_cli import pos_hub

pytestmark = pytest.mark.anyio


@pytest.fixture
def urls(pg_cluster_urls: tuple[str, str]) -> tuple[str, str]:
    return pg_cluster_urls


async def _scalar(url: str, sql: str, **params: Any) -> Any:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text(sql), params)
    finally:
        await engine.dispose()


async def _has_schema(url: str, schema: str) -> bool:
    found = await _scalar(
        url, "SELECT count(*) FROM pg_namespace WHERE nspname = :name", name=schema
    )
    return bool(found)


@pytest.fixture
async def east(tmp_path: Path, urls: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """A hub that puts new tenants on the second cluster."""
    async with app_client(cluster_settings(tmp_path, urls)) as client:
        yield client


async def test_a_tenant_placed_on_the_second_cluster_lives_there_and_sells(
    east: httpx.AsyncClient, urls: tuple[str, str]
) -> None:
    main, second = urls
    kit = await build_tenant(east)
    schema = tenant_schema_name(uuid.UUID(kit.tenant_id))
    # Its tables are on the second cluster; its row in the shared schema on the main one.
    assert await _has_schema(second, schema)
    assert not await _has_schema(main, schema)
    placed = await _scalar(
        main, "SELECT cluster FROM pos_shared.tenants WHERE id = :id", id=uuid.UUID(kit.tenant_id)
    )
    assert placed == SECOND_CLUSTER
    # Logins (shared tables, through the foreign tables) and a sale (tenant tables) work.
    product = await create_product(east, kit, price="10.00")
    await receive(east, kit, product["id"], "5")
    till = await east.post(
        "/api/sales/cash-registers/",
        json={"shop": kit.shop_id, "name": "Till"},
        headers=kit.token("manager"),
    )
    assert till.status_code == 201, till.text
    shift = await east.post(
        "/api/sales/sessions/",
        json={"cash_register": till.json()["id"], "opening_cash": "0"},
        headers=kit.token("cashier"),
    )
    assert shift.status_code == 201, shift.text
    sale = await east.post(
        "/api/sales/sales/",
        json={
            "session": shift.json()["id"],
            "items": [{"product": product["id"], "quantity": "2"}],
            "payments": [{"method": "cash", "amount": "20.00"}],
        },
        headers={**kit.token("cashier"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert sale.status_code == 201, sale.text
    assert sale.json()["total"] == "20.00"
    assert (await stock_of(east, kit, product["id"]))["on_hand"] == "3.000"
    ready = await east.get("/readyz")
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"][f"database {SECOND_CLUSTER}"] == "ok"
    rows = await _scalar(second, f'SELECT count(*) FROM "{schema}".sales')
    assert rows == 1


async def test_new_tenants_go_to_the_cluster_holding_fewest(
    tmp_path: Path, urls: tuple[str, str]
) -> None:
    main, second = urls
    settings = cluster_settings(tmp_path, urls, new_tenant_clusters="")
    db = Database(settings)
    try:
        async with db.shared_engine.connect() as conn:
            rows = (await conn.execute(select(Tenant.cluster))).scalars().all()
        counts = {name: rows.count(name) for name in ("main", SECOND_CLUSTER)}
        fewest = min(counts, key=lambda name: (counts[name], name != "main"))
    finally:
        await db.dispose()
    async with app_client(settings) as client:
        reg = await register(client)
        tenant_id = uuid.UUID(reg["tenant"]["id"])
        placed = await _scalar(
            main, "SELECT cluster FROM pos_shared.tenants WHERE id = :id", id=tenant_id
        )
        assert placed == fewest
        on_second = await _has_schema(second, tenant_schema_name(tenant_id))
        assert on_second == (fewest == SECOND_CLUSTER)
        me = await client.get("/api/users/auth/me/", headers=bearer(reg["access"]))
        assert me.status_code == 200, me.text


async def test_tenants_on_both_clusters_side_by_side_see_only_their_own(
    tmp_path: Path, urls: tuple[str, str]
) -> None:
    on_main = cluster_settings(tmp_path / "a", urls, new_tenant_clusters="main")
    async with app_client(on_main) as client:
        home = await build_tenant(client)
    async with app_client(cluster_settings(tmp_path / "b", urls)) as client:
        away = await build_tenant(client)
        # One process serves both; neither sees the other's goods or may open its shop.
        mine = await create_product(client, away, name="East only")
        theirs = await create_product(client, home, name="Main only")
        listed = await client.get("/api/products/products/", headers=away.token("owner"))
        names = {p["name"] for p in listed.json()["results"]}
        assert "East only" in names
        assert "Main only" not in names
        foreign = await client.get(
            f"/api/products/products/{theirs['id']}/", headers=away.token("owner")
        )
        assert foreign.status_code == 404
        shop = await client.get(f"/api/core/shops/{home.shop_id}/", headers=away.token("owner"))
        assert shop.status_code == 404
        assert mine["id"] != theirs["id"]


async def test_migrate_reaches_tenants_on_every_cluster_and_readiness_sees_a_stale_one(
    tmp_path: Path, urls: tuple[str, str]
) -> None:
    _, second = urls
    settings = cluster_settings(tmp_path, urls)
    async with app_client(settings) as client:
        reg = await register(client)
    tenant_id = uuid.UUID(reg["tenant"]["id"])
    schema = tenant_schema_name(tenant_id)
    db = Database(settings)
    try:
        assert tenant_id in await tenant_ids(db)
        assert await pending_migrations(db) == []
        # A tenant on the second cluster revisions behind is found and upgraded there.
        engine = create_async_engine(second, poolclass=NullPool)
        async with engine.begin() as conn:
            head = await conn.scalar(text(f'SELECT version_num FROM "{schema}".alembic_version'))
            await conn.execute(
                text(f'UPDATE "{schema}".alembic_version SET version_num = :v'),
                {"v": "0015_mail_outbox"},
            )
            await conn.execute(text(f'ALTER TABLE "{schema}".customer_ledger DROP shift_id'))
            await conn.execute(text(f'DROP INDEX "{schema}".ix_device_jobs_pending'))  # 0017
            await conn.execute(text(f'ALTER TABLE "{schema}".device_jobs DROP started_at'))  # 0018
        assert await pending_migrations(db) == [
            f"tenant {tenant_id} at 0015_mail_outbox, head is {head}"
        ]
        # The shared schema as the second cluster sees it, gone: found before tenants.
        async with engine.begin() as conn:
            await conn.execute(text("DROP FOREIGN TABLE pos_shared.device_tokens"))
        assert await pending_migrations(db) == [
            f"cluster {SECOND_CLUSTER} does not see the shared schema as it is now"
        ]
        await migrate_all(db)
        assert await pending_migrations(db) == []
        async with engine.connect() as conn:
            ledger = f'SELECT count(shift_id) FROM "{schema}".customer_ledger'
            assert await conn.scalar(text(ledger)) == 0
        await engine.dispose()
    finally:
        await db.dispose()


async def test_a_shared_row_updated_at_once_through_two_tenant_transactions_is_a_race(
    tmp_path: Path, urls: tuple[str, str]
) -> None:
    """postgres_fdw reads the main cluster at REPEATABLE READ: the second of two
    concurrent updates of one shared row fails instead of waiting; the hub answers it
    as a conflict to retry (409), never as a server fault."""
    settings = cluster_settings(tmp_path, urls)
    async with app_client(settings) as client:
        reg = await register(client)
    tenant_id, user_id = uuid.UUID(reg["tenant"]["id"]), uuid.UUID(reg["user"]["id"])
    db = Database(settings)
    try:
        async with (
            UnitOfWork(db, tenant_id, write=True) as first,
            UnitOfWork(db, tenant_id, write=True) as second,
        ):
            await second.session.execute(select(Tenant.id))  # its snapshot begins
            await first.session.execute(
                update(User).where(User.id == user_id).values(full_name="First")
            )

            async def second_writes() -> None:
                await second.session.execute(
                    update(User).where(User.id == user_id).values(full_name="Second")
                )

            waiting = asyncio.create_task(second_writes())
            await asyncio.sleep(0.3)
            assert not waiting.done()  # it waits for the first's row lock
            await first.commit()
            with pytest.raises(DBAPIError) as raised:
                await waiting
            assert lost_a_race(raised.value)
        answer = fault_response(raised.value, "a test")
        assert answer.status_code == 409
        assert json.loads(answer.body)["error"]["code"] == "conflict"
    finally:
        await db.dispose()


async def test_a_hub_without_the_clusters_a_tenant_needs_says_so(
    tmp_path: Path, urls: tuple[str, str]
) -> None:
    async with app_client(cluster_settings(tmp_path, urls)) as client:
        reg = await register(client)
    main, _ = urls
    db = Database(
        Settings(
            env="test", secret_key="s" * 40, database_url=main, database_clusters=f"other={urls[1]}"
        )
    )
    try:
        with pytest.raises(LookupError, match=f"cluster '{SECOND_CLUSTER}'"):
            await db.locate(uuid.UUID(reg["tenant"]["id"]))
    finally:
        await db.dispose()


async def test_cluster_settings_are_checked(tmp_path: Path) -> None:
    base: dict[str, Any] = {"env": "test", "database_url": "postgresql+asyncpg://x/y"}
    for clusters, new in (
        ("east", ""),  # not name=url
        ("East=postgresql+asyncpg://h/d", ""),  # names are lower case
        ("main=postgresql+asyncpg://h/d", ""),  # "main" is POS_DATABASE_URL's
        ("east=sqlite+aiosqlite:///x.db", ""),
        ("east=postgresql+asyncpg://h/d", "west"),  # new tenants to an unknown cluster
    ):
        with pytest.raises(ValueError):
            Settings(**base, database_clusters=clusters, new_tenant_clusters=new)
    with pytest.raises(ValueError, match="needs POS_DATABASE_URL on PostgreSQL"):
        Settings(env="test", data_dir=tmp_path, database_clusters="east=postgresql://h/d")
    settings = Settings(
        **base, database_clusters="east=postgresql+asyncpg://h/d, west=postgresql://h/e"
    )
    assert list(settings.clusters) == ["main", "east", "west"]
    assert settings.clusters_for_new_tenants == ["main", "east", "west"]


async def test_scratch_databases_are_really_on_two_servers(urls: tuple[str, str]) -> None:
    main, second = urls
    ports = {await _scalar(url, "SELECT current_setting('port')") for url in (main, second)}
    assert len(ports) == 2


def test_the_cli_migrates_both_clusters_and_lists_where_tenants_live(tmp_path: Path) -> None:
    """`pos-hub migrate`, `demo` and `tenants` as an operator runs them, on two fresh
    databases on two clusters, new tenants going to the second."""
    services.need("postgres2")
    with (
        scratch_database(services.PG_ADMIN_URL) as main,
        scratch_database(services.PG2_ADMIN_URL) as second,
    ):
        env = {
            "POS_DATABASE_URL": main,
            "POS_DATABASE_CLUSTERS": f"{SECOND_CLUSTER}={second}",
            "POS_NEW_TENANT_CLUSTERS": SECOND_CLUSTER,
        }
        migrated = pos_hub(tmp_path, "migrate", **env)
        assert migrated.returncode == 0, migrated.stderr
        assert migrated.stdout.splitlines()[0].startswith("shared: None -> "), migrated.stdout
        demo = pos_hub(tmp_path, "demo", **env)
        assert demo.returncode == 0, demo.stderr
        listed = pos_hub(tmp_path, "tenants", **env)
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert re.fullmatch(rf"\S+  {SECOND_CLUSTER}\s+active\s+.+", lines[0]), listed.stdout
        assert lines[-1] == f"main: 0 tenant(s), {SECOND_CLUSTER}: 1 tenant(s)"
        again = pos_hub(tmp_path, "migrate", **env)
        assert again.returncode == 0, again.stderr
        assert re.fullmatch(
            rf"tenant \S+ on cluster {SECOND_CLUSTER}: up to date", again.stdout.splitlines()[1]
        ), again.stdout
        # The demo business moved to the main cluster, and the listing says so.
        tenant = lines[0].split()[0]
        moved = pos_hub(tmp_path, "move-tenant", tenant, "main", **env)
        assert moved.returncode == 0, moved.stderr
        assert re.fullmatch(
            rf"tenant {tenant}: moved from {SECOND_CLUSTER} to main, \d+ rows in \d+ tables, .+",
            moved.stdout.strip(),
        ), moved.stdout
        listed = pos_hub(tmp_path, "tenants", **env)
        assert listed.stdout.splitlines()[-1] == f"main: 1 tenant(s), {SECOND_CLUSTER}: 0 tenant(s)"
        refused = pos_hub(tmp_path, "move-tenant", tenant, "main", **env)
        assert refused.returncode == 1
        assert "on cluster main already" in refused.stderr
