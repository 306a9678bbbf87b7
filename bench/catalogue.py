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
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx

from hub.domain.catalogue import fold, gtin_check_digit
from hub.domain.ids import new_id

BIN = Path(sys.executable).parent
SERVER_URL = os.environ.get(
    "POS_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


# --- a minimal keep-alive HTTP/1.1 client: little overhead next to the server's ---------


class Connection:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.head = f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.used = time.perf_counter()

    async def ready(self) -> None:
        """Reconnect, outside the timed part, if the server may have closed an idle
        keep-alive connection (uvicorn's timeout is 5 s)."""
        if time.perf_counter() - self.used > 4:
            self.close()
            await self.open()

    async def get(self, path: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {path} HTTP/1.1\r\n{self.head}".encode())
        status_line = await self.reader.readline()
        self.used = time.perf_counter()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        return int(status_line.split()[1]), body

    def close(self) -> None:
        self.writer.close()


@dataclass
class Phase:
    name: str
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"barcode": [], "search": []})
    errors: int = 0
    requests: int = 0
    seconds: float = 0.0
    matches: list[int] = field(default_factory=list)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


async def run_clients(
    port: int,
    token: str,
    barcodes: list[str],
    terms: list[str],
    *,
    clients: int,
    rate: float | None,
    seconds: float,
    name: str,
    kinds: tuple[str, ...] = ("barcode", "search"),
) -> Phase:
    phase = Phase(name)
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        rng = random.Random(index)
        conn = Connection(port, token)
        await conn.open()
        next_at = time.perf_counter() + rng.random() / (rate or 1e9)
        try:
            while True:
                if rate is not None:
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_at += rng.expovariate(rate)
                if time.perf_counter() >= deadline:
                    return
                kind = rng.choice(kinds)
                if kind == "barcode":
                    path = f"/api/products/products/?barcode={rng.choice(barcodes)}"
                else:
                    path = f"/api/products/products/?search={quote(rng.choice(terms))}&page_size=20"
                await conn.ready()
                started = time.perf_counter()
                status, body = await conn.get(path)
                phase.latencies[kind].append((time.perf_counter() - started) * 1000)
                phase.requests += 1
                if status != 200:
                    phase.errors += 1
                elif kind == "search" and len(phase.matches) < 2000:
                    phase.matches.append(json.loads(body)["count"])
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    phase.seconds = time.perf_counter() - started
    return phase


# --- set-up ------------------------------------------------------------------------------


async def create_database() -> tuple[str, str]:
    name = f"pos_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(SERVER_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = SERVER_URL.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(SERVER_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def load_products(url: str, schema: str, count: int, rng: random.Random) -> list[str]:
    conn = await asyncpg.connect(url)
    now = time.time()
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(now, UTC)
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


async def drop_indexes(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            f"""
            SET search_path TO "{schema}";
            DROP INDEX ix_products_name_trgm;
            DROP INDEX ix_products_name_folded;
            ALTER TABLE products DROP CONSTRAINT uq_products_sku;
            ALTER TABLE barcodes DROP CONSTRAINT pk_barcodes;
            DROP INDEX ix_barcodes_product_id;
            ANALYZE products; ANALYZE barcodes;
            """
        )
    finally:
        await conn.close()


def summary(phase: Phase) -> dict[str, Any]:
    result: dict[str, Any] = {
        "phase": phase.name,
        "requests": phase.requests,
        "errors": phase.errors,
        "per_second": round(phase.requests / phase.seconds, 1) if phase.seconds else 0,
        "median_matches": percentile([float(m) for m in phase.matches], 0.5)
        if phase.matches
        else 0,
    }
    for kind, values in phase.latencies.items():
        if values:
            result[f"{kind}_p50_ms"] = round(percentile(values, 0.50), 2)
            result[f"{kind}_p99_ms"] = round(percentile(values, 0.99), 2)
    return result


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    rng = random.Random(2026)
    db_name, db_url = await create_database()
    env = {
        **os.environ,
        "POS_ENV": "development",
        "POS_DATABASE_URL": db_url.replace("postgresql://", "postgresql+asyncpg://", 1),
        "POS_DATA_DIR": f"/tmp/{db_name}",
        "POS_ACCESS_TOKEN_TTL": "7200",
        "POS_ARGON2_TIME_COST": "1",
        "POS_ARGON2_MEMORY_KIB": "64",
        "POS_ARGON2_PARALLELISM": "1",
        "POS_LOG_LEVEL": "warning",
        "POS_DB_POOL_SIZE": str(args.clients),
    }
    env.pop("POS_REDIS_URL", None)
    proc = None
    results: list[dict[str, Any]] = []
    try:
        subprocess.run([BIN / "pos-hub", "migrate"], env=env, check=True, capture_output=True)
        port = free_port()
        cmd = [BIN / "pos-hub", "serve", "--port", str(port), "--workers", str(args.workers)]
        proc = subprocess.Popen(cmd, env=env)
        await wait_http(f"http://127.0.0.1:{port}/readyz")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            reg = (
                await http.post(
                    "/api/users/auth/register/",
                    json={
                        "tenant_name": "Bench",
                        "username": "bench.owner",
                        "password": "bench-pass-1",
                        "shop_name": "Bench shop",
                    },
                )
            ).json()
        token = reg["access"]
        schema = f"tenant_{uuid.UUID(reg['tenant']['id']).hex}"
        started = time.perf_counter()
        barcodes = await load_products(db_url, schema, args.products, rng)
        print(f"loaded {args.products} products in {time.perf_counter() - started:.1f} s")
        terms = search_terms(rng, 500)

        async def phase(
            name: str, rate: float | None, seconds: float, kinds: tuple[str, ...]
        ) -> Phase:
            return await run_clients(
                port, token, barcodes, terms,
                clients=args.clients, rate=rate, seconds=seconds, name=name, kinds=kinds,
            )  # fmt: skip

        async def measure(label: str, seconds: float) -> None:
            await phase("warm-up", args.rate * 4, 3, ("barcode", "search"))
            for mode, rate, kinds in (
                ("barcode", args.rate, ("barcode",)),
                ("search", args.rate, ("search",)),
                ("saturation", None, ("barcode", "search")),
            ):
                results.append(summary(await phase(f"{label} {mode}", rate, seconds, kinds)))
                print(json.dumps(results[-1], ensure_ascii=False))

        await measure("indexed", args.seconds)
        await drop_indexes(db_url, schema)
        await measure("no indexes", args.seconds)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        await drop_database(db_name)
    return results


def print_table(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.products} products, {args.clients} clients ({args.rate}/s each when paced),"
        f" {args.workers} hub process(es), PostgreSQL"
    )
    header = ("phase", "req/s", "barcode p50", "barcode p99", "search p50", "search p99", "errors")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in results:
        cells = [r["phase"], r["per_second"]]
        for key in ("barcode_p50_ms", "barcode_p99_ms", "search_p50_ms", "search_p99_ms"):
            cells.append(f"{r[key]} ms" if key in r else "-")
        print("| " + " | ".join(str(c) for c in [*cells, r["errors"]]) + " |")
    by_phase = {r["phase"]: r for r in results}
    fast, slow = by_phase["indexed barcode"], by_phase["no indexes barcode"]
    print(f"barcode p99 without indexes: {slow['barcode_p99_ms'] / fast['barcode_p99_ms']:.1f}x")
    fast, slow = by_phase["indexed search"], by_phase["no indexes search"]
    print(f"search p99 without indexes: {slow['search_p99_ms'] / fast['search_p99_ms']:.1f}x")
    fast, slow = by_phase["indexed saturation"], by_phase["no indexes saturation"]
    print(f"saturation throughput with indexes: {fast['per_second'] / slow['per_second']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rate", type=float, default=1.0, help="requests/s per paced client")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    print_table(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
