"""What a tenant on a second PostgreSQL cluster pays for reaching the shared schema through
postgres_fdw, against a tenant on the main cluster served by the same hub process.

    python -m bench.clusters [--rounds 300] [--clients 8] [--seconds 8]

A scratch database on each cluster (POS_BENCH_DATABASE_URL, default port 5432, and
POS_BENCH_DATABASE_URL_2, default port 5433), one `pos-hub serve` process with both
clusters configured, two businesses: the first registered lands on the main cluster, the
second on the other (a new tenant goes to the cluster holding fewest). For each, one
request at a time, the two tenants interleaved so that the machine's drift hits both:
  - `GET /api/users/auth/me/`: the session check alone (shared tables only);
  - `GET /api/core/shops/{id}/`: the session check and one tenant row;
  - `POST /api/sales/sales/`: a 3-line cash sale (tenant tables, and the receipt header
    reads the tenant and the cashier from the shared ones).
Then each tenant alone under `--clients` concurrent clients reading its shop: requests
per second. The main-cluster tenant is the baseline; the ratio is the cost of the hop.

Last, `pos-hub move-tenant` moves the main-cluster business, loaded with `--move-sales`
receipts of four lines, to the other cluster while one client keeps selling to it:
rows moved per second, and the longest time a sale took during the move (its writes
wait for the copy) against the median before it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from bench.analytics import _rows
from bench.http_load import (
    BIN,
    SERVER_URL,
    _wait_http,
    drop_database,
    free_port,
    hub_env,
    percentile,
    stop_hub,
)
from hub.adapters.db.sales_tables import Sale, SaleLine, SalePayment

SECOND_URL = os.environ.get(
    "POS_BENCH_DATABASE_URL_2", "postgresql://postgres@127.0.0.1:5433/postgres"
)


@dataclass
class Business:
    cluster: str
    token: str
    shop: str
    shift: str
    products: list[str]
    tenant: str = ""
    ids: dict[str, Any] = field(default_factory=dict)  # what bench.analytics loads with

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _database(server: str, name: str) -> str:
    return f"{server.rsplit('/', 1)[0]}/{name}".replace("postgresql://", "postgresql+asyncpg://")


async def _business(http: httpx.AsyncClient, n: int) -> Business:
    reg = await http.post(
        "/api/users/auth/register/",
        json={
            "tenant_name": f"Bench {n}",
            "username": f"bench.owner{n}",
            "password": "bench-pass-1",
            "shop_name": "Bench shop",
        },
    )
    assert reg.status_code == 201, reg.text
    auth = {"Authorization": f"Bearer {reg.json()['access']}"}
    shop = reg.json()["shop"]["id"]
    products = []
    for i in range(10):
        made = await http.post(
            "/api/products/products/", json={"name": f"Item {i}", "price": "2.50"}, headers=auth
        )
        await http.post(
            "/api/products/batches/",
            json={"product": made.json()["id"], "shop": shop, "quantity": "1000000", "cost": "1"},
            headers=auth,
        )
        products.append(made.json()["id"])
    till = await http.post(
        "/api/sales/cash-registers/", json={"name": "Till", "shop": shop}, headers=auth
    )
    shift = await http.post(
        "/api/sales/sessions/",
        json={"cash_register": till.json()["id"], "opening_cash": "0"},
        headers=auth,
    )
    assert shift.status_code == 201, shift.text
    ids = {
        "shop": uuid.UUID(shop),
        "register": uuid.UUID(till.json()["id"]),
        "shift": uuid.UUID(shift.json()["id"]),
        "cashier": uuid.UUID(reg.json()["user"]["id"]),
        "products": [{"id": p, "name": "Item", "price": "2.50", "cost": "1.00"} for p in products],
    }
    return Business(
        "?",
        reg.json()["access"],
        shop,
        shift.json()["id"],
        products,
        reg.json()["tenant"]["id"],
        ids,
    )


async def _request(http: httpx.AsyncClient, kind: str, biz: Business, n: int) -> float:
    started = time.perf_counter()
    if kind == "sale":
        items = [{"product": biz.products[(n + i) % 10], "quantity": "1"} for i in range(3)]
        response = await http.post(
            "/api/sales/sales/",
            json={
                "session": biz.shift,
                "items": items,
                "payments": [{"method": "cash", "amount": "10.00"}],
            },
            headers={**biz.auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        expected = 201
    else:
        path = "/api/users/auth/me/" if kind == "me" else f"/api/core/shops/{biz.shop}/"
        response = await http.get(path, headers=biz.auth)
        expected = 200
    taken = (time.perf_counter() - started) * 1000
    assert response.status_code == expected, response.text
    return taken


async def _saturate(port: int, biz: Business, clients: int, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            while time.perf_counter() < deadline:
                await _request(http, "shop", biz, 0)
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done / (time.perf_counter() - started)


async def _move(
    env: dict[str, str], port: int, biz: Business, url: str, sales: int
) -> dict[str, float]:
    """Load the business with receipts, then move it while a client sells to it."""
    schema = f"tenant_{uuid.UUID(biz.tenant).hex}"
    engine = create_async_engine(url).execution_options(schema_translate_map={None: schema})
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        async with engine.begin() as conn:
            for table, rows in zip(
                (Sale, SaleLine, SalePayment), _rows(biz.ids, day, sales, 4, 10_000), strict=True
            ):
                for start in range(0, len(rows), 5000):
                    await conn.execute(insert(table.__table__), rows[start : start + 5000])
    finally:
        await engine.dispose()
    before: list[float] = []
    during: list[float] = []
    moving = False

    async def sell() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            n = 0
            while True:
                started = time.perf_counter()
                key = uuid.uuid4().hex
                while True:  # sent again under the same key while the hub says 503
                    response = await http.post(
                        "/api/sales/sales/",
                        json={
                            "session": biz.shift,
                            "items": [{"product": biz.products[n % 10], "quantity": "1"}],
                            "payments": [{"method": "cash", "amount": "10.00"}],
                        },
                        headers={**biz.auth, "Idempotency-Key": key},
                    )
                    if response.status_code != 503:
                        break
                    await asyncio.sleep(0.05)
                assert response.status_code == 201, response.text
                (during if moving else before).append((time.perf_counter() - started) * 1000)
                n += 1

    seller = asyncio.create_task(sell())
    await asyncio.sleep(2)
    moving = True
    started = time.perf_counter()
    done = await asyncio.to_thread(
        subprocess.run,
        [BIN / "pos-hub", "move-tenant", biz.tenant, "east"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    await asyncio.sleep(1)
    seller.cancel()
    rows = int(done.stdout.split(", ")[1].split()[0])
    return {
        "rows": rows,
        "seconds": seconds,
        "before_p50": percentile(before, 0.5),
        "during_max": max(during) if during else float("nan"),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = f"pos_bench_{uuid.uuid4().hex[:10]}"
    main_url, second_url = _database(SERVER_URL, name), _database(SECOND_URL, name)
    for server in (SERVER_URL, SECOND_URL):
        await _admin(server, f'CREATE DATABASE "{name}"')
    env = {**hub_env(name, main_url), "POS_DATABASE_CLUSTERS": f"east={second_url}"}
    env.pop("POS_REDIS_URL", None)
    env.pop("POS_NEW_TENANT_CLUSTERS", None)
    proc = None
    try:
        subprocess.run([BIN / "pos-hub", "migrate"], env=env, check=True, capture_output=True)
        port = free_port()
        proc = subprocess.Popen([BIN / "pos-hub", "serve", "--port", str(port)], env=env)
        await _wait_http(f"http://127.0.0.1:{port}/readyz")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            businesses = [await _business(http, n) for n in range(2)]
            listed = subprocess.run(
                [BIN / "pos-hub", "tenants"], env=env, check=True, capture_output=True, text=True
            ).stdout.splitlines()
            for biz, line in zip(businesses, listed, strict=False):
                biz.cluster = line.split()[1]
            assert [b.cluster for b in businesses] == ["main", "east"], listed
            taken: dict[tuple[str, str], list[float]] = {}
            for kind in ("me", "shop", "sale"):
                for n in range(10):  # warm-up: pools, caches, the foreign connection
                    for biz in businesses:
                        await _request(http, kind, biz, n)
                for n in range(args.rounds):
                    for biz in businesses if n % 2 else businesses[::-1]:
                        key = (kind, biz.cluster)
                        taken.setdefault(key, []).append(await _request(http, kind, biz, n))
        throughput = {
            biz.cluster: await _saturate(port, biz, args.clients, args.seconds)
            for biz in businesses
        }
        move = await _move(env, port, businesses[0], main_url, args.move_sales)
        return {"taken": taken, "throughput": throughput, "move": move}
    finally:
        stop_hub(proc)
        for server in (SERVER_URL, SECOND_URL):
            await drop_database(server, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--move-sales", type=int, default=20_000)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(f"\none hub process, {args.rounds} requests of each kind per tenant, one at a time")
    print(f"{'request':28} {'main p50/p90 ms':>16} {'east p50/p90 ms':>16} {'east/main p50':>14}")
    labels = {"me": "GET auth/me", "shop": "GET one shop", "sale": "POST a 3-line sale"}
    for kind, label in labels.items():
        main_ms, east_ms = result["taken"][(kind, "main")], result["taken"][(kind, "east")]
        p50s = percentile(main_ms, 0.5), percentile(east_ms, 0.5)
        print(
            f"{label:28} {p50s[0]:7.2f}/{percentile(main_ms, 0.9):<8.2f}"
            f" {p50s[1]:7.2f}/{percentile(east_ms, 0.9):<8.2f} {p50s[1] / p50s[0]:13.2f}x"
        )
    main_rps, east_rps = result["throughput"]["main"], result["throughput"]["east"]
    print(
        f"GET one shop, {args.clients} clients: main {main_rps:.0f} req/s,"
        f" east {east_rps:.0f} req/s ({east_rps / main_rps:.2f}x)"
    )
    move = result["move"]
    print(
        f"move-tenant main -> east: {move['rows']:.0f} rows in {move['seconds']:.1f} s"
        f" ({move['rows'] / move['seconds']:.0f} rows/s, the command's start included);"
        f" a sale took {move['before_p50']:.0f} ms (p50) before, at most"
        f" {move['during_max']:.0f} ms during the move"
    )


if __name__ == "__main__":
    main()
