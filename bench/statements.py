"""What one database statement costs in the hub's own process, by the path it takes:
the asyncpg driver alone (the baseline), SQLAlchemy Core, and the ORM.

    python -m bench.statements [--rounds 2000]

A one-row primary-key select on a scratch schema of the test PostgreSQL, through an
engine with the hub's `schema_translate_map`, one connection, one statement at a time;
prints microseconds per statement and the ratio to the driver alone.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench.http_load import SERVER_URL

SCHEMA = "pos_bench_statements"


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "row"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int]
    label: Mapped[str]


async def per_statement(run: Callable[[], Awaitable[Any]], rounds: int) -> float:
    """Microseconds per call, after a warm-up (prepared statements, compiled cache)."""
    for _ in range(min(rounds, 200)):
        await run()
    started = time.perf_counter()
    for _ in range(rounds):
        await run()
    return (time.perf_counter() - started) / rounds * 1e6


async def measure(rounds: int) -> list[tuple[str, float]]:
    url = SERVER_URL.replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await conn.execute(
            text(f"CREATE TABLE {SCHEMA}.row (id int PRIMARY KEY, value int, label text)")
        )
        await conn.execute(text(f"INSERT INTO {SCHEMA}.row VALUES (1, 1, 'one')"))
    tenant = engine.execution_options(schema_translate_map={None: SCHEMA})
    table = Row.__table__
    built_once = select(table).where(table.c.id == bindparam("id"))
    results: list[tuple[str, float]] = []
    try:
        async with tenant.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            prepared = await raw.prepare(f"SELECT * FROM {SCHEMA}.row WHERE id = $1")
            results.append(
                (
                    "asyncpg prepared statement",
                    await per_statement(lambda: prepared.fetchrow(1), rounds),
                )
            )
            results.append(
                (
                    "Core, statement built once",
                    await per_statement(lambda: conn.execute(built_once, {"id": 1}), rounds),
                )
            )
            results.append(
                (
                    "Core, statement built per call",
                    await per_statement(
                        lambda: conn.execute(select(table).where(table.c.id == 1)), rounds
                    ),
                )
            )
        async with AsyncSession(tenant) as session:

            async def orm_select() -> Any:
                session.expunge_all()
                return (await session.execute(select(Row).where(Row.id == 1))).scalar()

            async def orm_change() -> None:
                row = await session.get(Row, 1)
                assert row is not None
                row.value += 1
                await session.flush()

            results.append(("ORM select of an entity", await per_statement(orm_select, rounds)))
            results.append(
                ("ORM get, change one attribute, flush", await per_statement(orm_change, rounds))
            )
            await session.rollback()
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    results = asyncio.run(measure(args.rounds))
    baseline = results[0][1]
    print(f"{'path':40} {'µs/statement':>13} {'vs driver':>10}")
    for name, micros in results:
        print(f"{name:40} {micros:13.0f} {micros / baseline:9.1f}x")


if __name__ == "__main__":
    main()
