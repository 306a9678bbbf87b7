"""Customer search at 100,000 customers: by a fragment of the phone and by a fragment of
the name, over HTTP, with the trigram indexes and then without them (the baseline).

    python -m bench.customers [--customers 100000] [--clients 32] [--rate 1] [--seconds 15]

Makes a scratch PostgreSQL database, starts `pos-hub serve` on it, loads the customers
with COPY (search keys made by the hub's own functions), and runs the same three phases
as bench/catalogue.py: phone search paced, name search paced, and both saturating.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import asyncpg

from bench.http_load import bench_main, hub_on_scratch_database, measure
from hub.domain.customers import phone_digits
from hub.domain.ids import new_id
from hub.domain.text import fold

KINDS = ("phone", "name")
INDEXES = """
    DROP INDEX ix_customers_phone_digits_trgm;
    DROP INDEX ix_customers_search_name_trgm;
    DROP INDEX ix_customers_search_name;
    ANALYZE customers;
"""
SURNAMES = [
    "Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
    "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров",
    "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин",
    "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов", "Воробьёв",
]  # fmt: skip
FIRST_NAMES = [
    "Александр", "Мария", "Дмитрий", "Анна", "Сергей", "Елена", "Андрей", "Ольга", "Алексей",
    "Наталья", "Иван", "Татьяна", "Михаил", "Екатерина", "Николай", "Светлана",
]  # fmt: skip


def phone(n: int) -> str:
    return f"+79{n:09d}"


async def load_customers(url: str, schema: str, count: int, rng: random.Random) -> list[str]:
    stamp = datetime.now(UTC)
    zero = Decimal("0.00")
    rows, phones = [], []
    numbers = rng.sample(range(10**9), count)
    for n in numbers:
        name = f"{rng.choice(SURNAMES)} {rng.choice(FIRST_NAMES)}"
        e164 = phone(n)
        phones.append(e164)
        rows.append(
            (new_id(), "person", name, "", "", e164, phone_digits(e164), "", "", fold(name),
             None, zero, zero, zero, zero, 0, True, stamp, stamp)
        )  # fmt: skip
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table(
            "customers",
            records=rows,
            schema_name=schema,
            columns=[
                "id", "kind", "name", "legal_name", "tax_id", "phone", "phone_digits", "email",
                "notes", "search_name", "group_id", "credit_limit", "balance", "debt", "bonus",
                "ledger_seq", "is_active", "created_at", "updated_at",
            ],
        )  # fmt: skip
        await conn.execute(f'ANALYZE "{schema}".customers')
    finally:
        await conn.close()
    return phones


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    rng = random.Random(2026)
    results: list[dict[str, Any]] = []
    async with hub_on_scratch_database(args.workers, pool_size=args.clients) as hub:
        started = time.perf_counter()
        phones = await load_customers(hub.database_url, hub.schema, args.rows, rng)
        print(f"loaded {args.rows} customers in {time.perf_counter() - started:.1f} s")

        def choose(r: random.Random, kind: str) -> str:
            if kind == "phone":
                # What a cashier asks for: the last 4 to 7 digits, or the number as said
                # with the trunk prefix 8.
                number = r.choice(phones)
                term = number[-r.randint(4, 7) :] if r.random() < 0.7 else "8" + number[2:]
            else:
                term = r.choice(SURNAMES)[: r.randint(4, 7)]
                if r.random() < 0.3:
                    term = f"{r.choice(SURNAMES)} {r.choice(FIRST_NAMES)[:3]}"
            return f"/api/customers/customers/?search={quote(term)}&page_size=20"

        await measure(hub, choose, "indexed", KINDS, args, results)
        await hub.execute(f'SET search_path TO "{hub.schema}"; {INDEXES}')
        await measure(hub, choose, "no indexes", KINDS, args, results)
    return results


if __name__ == "__main__":
    bench_main(__doc__, "customers", KINDS, main_async)
