"""`pos-hub`: serve, migrate, tenants, move-tenant, demo, permissions, check-stock, revision."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from hub import __version__
from hub.logs import configure_logging, logging_config
from hub.settings import Environment, InsecureSettings, Settings, settings_problems

log = logging.getLogger("hub.cli")


async def _migrate(settings: Settings) -> int:
    from hub.adapters.db.database import Database
    from hub.adapters.db.migrate import migrate_all

    db = Database(settings)
    try:
        for result in await migrate_all(db):
            change = (
                "up to date"
                if result.before == result.after
                else f"{result.before} -> {result.after}"
            )
            print(f"{result.target}: {change}")
    finally:
        await db.dispose()
    return 0


async def _tenants(settings: Settings) -> int:
    """Every tenant and the cluster holding it, then how many each cluster holds."""
    from sqlalchemy import select

    from hub.adapters.db.database import Database
    from hub.adapters.db.tables import Tenant

    db = Database(settings)
    try:
        async with db.shared_engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(Tenant.id, Tenant.cluster, Tenant.is_active, Tenant.name).order_by(
                        Tenant.created_at
                    )
                )
            ).all()
    finally:
        await db.dispose()
    held = dict.fromkeys(settings.clusters, 0)
    for tenant_id, cluster, active, name in rows:
        held[cluster] = held.get(cluster, 0) + 1
        print(f"{tenant_id}  {cluster:<12} {'active' if active else 'inactive':<9} {name}")
    print(", ".join(f"{cluster}: {count} tenant(s)" for cluster, count in held.items()))
    return 0


async def _move_tenant(settings: Settings, tenant: str, cluster: str) -> int:
    import uuid

    from hub.adapters.db.database import Database
    from hub.adapters.db.relocation import MoveRefused, move_tenant

    try:
        tenant_id = uuid.UUID(tenant)
    except ValueError:
        print(f"not a tenant id: {tenant!r}", file=sys.stderr)
        return 2
    db = Database(settings)
    try:
        moved = await move_tenant(db, tenant_id, cluster)
    except MoveRefused as exc:
        print(f"not moved: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    if moved.finished_earlier_move:
        print(f"tenant {tenant_id}: finished an earlier move from {moved.source} to {moved.target}")
    else:
        print(
            f"tenant {tenant_id}: moved from {moved.source} to {moved.target},"
            f" {moved.rows} rows in {moved.tables} tables, {moved.seconds:.1f} s"
        )
    return 0


async def _demo(settings: Settings) -> int:
    from hub.app import build_deps, close_deps
    from hub.demo import ensure_demo

    if settings.env is Environment.PRODUCTION:
        print("refusing to create demo accounts with POS_ENV=production", file=sys.stderr)
        return 2
    deps = build_deps(settings)
    try:
        demo = await ensure_demo(deps)
    finally:
        await close_deps(deps)
    print(
        f"Demo business {demo.tenant_name!r}, shop {demo.shop_name!r}"
        f" ({'created' if demo.created else 'already there'}). Logins:"
    )
    for username, role in demo.logins:
        print(f"  {role:<12} {username:<20} password: {demo.password}")
    return 0


async def _check_stock(settings: Settings) -> int:
    """Every tenant's stock books: on hand = ledger, reserved = reservations, batches =
    on hand. Exit status 1 and one line per disagreement if anything is off."""
    from hub.adapters.db.database import Database
    from hub.adapters.db.migrate import tenant_ids
    from hub.adapters.db.uow import UnitOfWork
    from hub.services.stock import verify

    db = Database(settings)
    bad = 0
    try:
        tenants = await tenant_ids(db)
        for tenant_id in tenants:
            async with UnitOfWork(db, tenant_id) as uow:
                for d in await verify(uow):
                    bad += 1
                    print(
                        f"tenant {tenant_id} shop {d.shop_id} product {d.product_id}:"
                        f" {d.what} recorded {d.recorded}, computed {d.computed}"
                    )
    finally:
        await db.dispose()
    print(f"checked {len(tenants)} tenant(s): " + (f"{bad} discrepancy(ies)" if bad else "ok"))
    return 1 if bad else 0


async def _revision(scope: str, message: str) -> int:
    import tempfile
    from pathlib import Path

    from hub.adapters.db.database import Database
    from hub.adapters.db.migrate import make_revision

    with tempfile.TemporaryDirectory() as scratch:
        db = Database(Settings(data_dir=Path(scratch), database_url=""))
        try:
            await make_revision(db, scope, message)
        finally:
            await db.dispose()
    return 0


def _metrics_directory(settings: Settings) -> None:
    """Several worker processes share their Prometheus metrics through files in one
    directory (hub/adapters/metrics.py): an empty one, named before they start."""
    import os
    import shutil

    from hub.adapters.metrics import MULTIPROCESS_DIR

    if os.environ.get(MULTIPROCESS_DIR):
        return  # the operator's own
    directory = settings.data_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROCESS_DIR] = str(directory)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from hub.adapters.db.database import Database
    from hub.adapters.db.migrate import pending_migrations

    async def pending() -> list[str]:
        db = Database(settings)
        try:
            return await pending_migrations(db)
        finally:
            await db.dispose()

    behind = asyncio.run(pending())
    if behind:
        print(
            "the database is not at the latest schema; run `pos-hub migrate` first:",
            *behind,
            sep="\n  ",
            file=sys.stderr,
        )
        return 2
    workers = args.workers or settings.workers
    if workers > 1:
        _metrics_directory(settings)
    uvicorn.run(
        "hub.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        log_level=settings.log_level,
        # Ours, not uvicorn's plain-text default: applied in every worker process too.
        log_config=logging_config(settings),
        # permessage-deflate costs 3-4x memory per connection; frames are small.
        ws_per_message_deflate=False,
        ws_max_size=settings.ws_max_frame_bytes,
        ws=settings.ws_impl,
        backlog=settings.backlog,
        proxy_headers=True,
        access_log=False,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pos-hub", description="The POS hub.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve HTTP and websockets")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    sub.add_parser("migrate", help="upgrade the shared schema and every tenant to head")
    sub.add_parser("tenants", help="list the tenants and the database cluster of each")
    move = sub.add_parser(
        "move-tenant", help="move a tenant's data to another PostgreSQL cluster, online"
    )
    move.add_argument("tenant", help="the tenant's id (see `pos-hub tenants`)")
    move.add_argument("cluster", help="a cluster POS_DATABASE_CLUSTERS names, or main")
    sub.add_parser("demo", help="create (once) a demo business and print its logins")
    sub.add_parser("permissions", help="print the permission matrix as Markdown")
    sub.add_parser(
        "check-stock", help="prove on hand equals the stock ledger in every tenant (exit 1 if not)"
    )
    revision = sub.add_parser(
        "revision", help="developers: autogenerate a migration against a scratch store"
    )
    revision.add_argument("--scope", choices=["shared", "tenant"], required=True)
    revision.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)

    if args.command == "permissions":
        from hub.domain.permissions import matrix_markdown

        print(matrix_markdown(), end="")
        return 0
    try:
        settings = Settings()
        settings.check_secure()
    except InsecureSettings as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        for problem in settings_problems(exc):
            print(f"refusing to start: {problem}", file=sys.stderr)
        return 2
    configure_logging(settings)
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "tenants":
        return asyncio.run(_tenants(settings))
    if args.command == "move-tenant":
        return asyncio.run(_move_tenant(settings, args.tenant, args.cluster))
    if args.command == "check-stock":
        return asyncio.run(_check_stock(settings))
    if args.command == "revision":
        return asyncio.run(_revision(args.scope, args.message))
    if args.command == "demo":
        return asyncio.run(_demo(settings))
    return _serve(settings, args)


if __name__ == "__main__":
    sys.exit(main())
