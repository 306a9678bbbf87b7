"""Catalogue lookup at 100,000 products: barcode lookup and name search over HTTP, with
the indexes and then without them (the baseline), in one run.

    python -m bench.catalogue [--products 100000] [--clients 32] [--rate 20] [--seconds 15]

Makes a scratch PostgreSQL database (POS_BENCH_DATABASE_URL or the local server),
starts `pos-hub serve` on it, registers a business, loads the products and barcodes
with COPY, then runs --clients HTTP clients on keep-alive connections in two modes:

- barcode, then search: each client sends --rate requests per second of that one kind
  (tills scanning, staff typing a name), so the offered load is clients x rate;
  latency p50/p99;
- saturation: half lookups, half searches, each client sending its next request as soon
  as the last one answered: requests per second and latency.

Then drops the trigram, name, SKU and barcode indexes and repeats, so the two runs differ
in nothing but the indexes. Prints a table and the ratios; `--json` writes the figures.
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
from hub.domain.catalogue import gtin_check_digit
from hub.domain.ids import new_id
from hub.domain.text import fold

KINDS = ("barcode", "search")
INDEXES = """
    DROP INDEX ix_products_name_trgm;
    DROP INDEX ix_products_name_folded;
    ALTER TABLE products DROP CONSTRAINT uq_products_sku;
    ALTER TABLE barcodes DROP CONSTRAINT pk_barcodes;
    DROP INDEX ix_barcodes_product_id;
    ANALYZE products; ANALYZE barcodes;
"""

BRANDS = [
    "Простоквашино", "Домик в деревне", "Вкусвилл", "Агуша", "Любятово", "Махеевъ", "Heinz",
    "Nestle", "Danone", "Барилла", "Мираторг", "Черкизово", "Красная цена", "Азбука", "Fresh",
    "Global", "Северная", "Уральская", "Золотая", "Лента", "Fairy", "Persil", "Ariel", "Tide",
    "Lipton", "Ahmad", "Greenfield", "Jacobs", "Carte Noire", "Alpen Gold", "Milka", "Lays",
]  # fmt: skip
NOUNS = [
    "молоко", "кефир", "йогурт", "творог", "сыр", "масло", "хлеб", "батон", "печенье", "чай",
    "кофе", "сок", "вода", "макароны", "рис", "гречка", "сахар", "соль", "колбаса", "сосиски",
    "пельмени", "шоколад", "конфеты", "чипсы", "кетчуп", "майонез", "порошок", "гель", "мыло",
    "шампунь", "tea", "coffee", "juice", "pasta", "cheese", "butter", "chocolate", "cookies",
]  # fmt: skip
ADJECTIVES = [
    "классический", "отборный", "домашний", "фермерский", "нежный", "ванильный", "шоколадный",
    "клубничный", "ржаной", "зерновой", "растворимый", "молотый", "зелёный", "чёрный", "organic",
    "light", "extra", "premium", "original", "сливочный",
]  # fmt: skip
SIZES = ["100 г", "200 г", "250 г", "400 г", "500 г", "900 г", "1 кг", "0,5 л", "1 л", "1,5 л"]


def ean13(n: int) -> str:
    body = f"46{n:010d}"
    return body + str(gtin_check_digit(body))


def product_name(rng: random.Random) -> str:
    noun, brand = rng.choice(NOUNS).capitalize(), rng.choice(BRANDS)
    return f"{noun} {brand} {rng.choice(ADJECTIVES)} {rng.choice(SIZES)}"


def search_terms(rng: random.Random, n: int) -> list[str]:
    """What staff type: a brand, the start of a product word, or two words."""
    terms = []
    for _ in range(n):
        kind = rng.randrange(3)
        if kind == 0:
            terms.append(rng.choice(BRANDS)[:6])
        elif kind == 1:
            terms.append(rng.choice(NOUNS)[:5])
        else:
            terms.append(f"{rng.choice(NOUNS)} {rng.choice(BRANDS)}")
    return terms


async def load_products(url: str, schema: str, count: int, rng: random.Random) -> list[str]:
    conn = await asyncpg.connect(url)
    stamp = datetime.now(UTC)
    products, barcodes = [], []
    for n in range(count):
        pid = new_id()
        name = product_name(rng)
        products.append(
            (pid, name, fold(name), f"SKU-{n:06d}", None, None, "piece",
             Decimal(rng.randrange(1000, 200000)) / 100, Decimal("1.00"), Decimal("20.00"),
             "{}", True, stamp, stamp)
        )  # fmt: skip
        barcodes.append((ean13(n), pid, "ean13"))
    try:
        await conn.execute(f'SET search_path TO "{schema}", public')
        await conn.copy_records_to_table(
            "products",
            records=products,
            schema_name=schema,
            columns=[
                "id", "name", "name_folded", "sku", "category_id", "supplier_id", "unit", "price",
                "cost", "vat_rate", "attributes", "is_active", "created_at", "updated_at",
            ],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "barcodes", records=barcodes, schema_name=schema, columns=["code", "product_id", "kind"]
        )
        await conn.execute(f'ANALYZE "{schema}".products; ANALYZE "{schema}".barcodes')
    finally:
        await conn.close()
    return [b[0] for b in barcodes]


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    rng = random.Random(2026)
    results: list[dict[str, Any]] = []
    async with hub_on_scratch_database(args.workers, pool_size=args.clients) as hub:
        started = time.perf_counter()
        barcodes = await load_products(hub.database_url, hub.schema, args.rows, rng)
        print(f"loaded {args.rows} products in {time.perf_counter() - started:.1f} s")
        terms = search_terms(rng, 500)

        def choose(r: random.Random, kind: str) -> str:
            if kind == "barcode":
                return f"/api/products/products/?barcode={r.choice(barcodes)}"
            return f"/api/products/products/?search={quote(r.choice(terms))}&page_size=20"

        await measure(hub, choose, "indexed", KINDS, args, results)
        await hub.execute(f'SET search_path TO "{hub.schema}"; {INDEXES}')
        await measure(hub, choose, "no indexes", KINDS, args, results)
    return results


if __name__ == "__main__":
    bench_main(__doc__, "products", KINDS, main_async)
