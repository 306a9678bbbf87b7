"""What the dashboard's reports cost for a busy shop: today's daily report (computed from
the sales on every request), a closed day's (read as the worker stored it), and product
performance over 30 days, against a trivial read as the in-run baseline.

    python -m bench.analytics [--sales 20000] [--lines 4] [--rounds 20]

One hub process on a scratch PostgreSQL database; `--sales` receipts of `--lines` lines
are written for today (spread over the day so far, UTC) and as many for yesterday
(08:00-22:00) straight into the tenant's tables
(the way the sale commit writes them; the commit itself is measured by bench/sales.py).
The worker runs every second here, so yesterday is closed before it is read. Prints the
median and p90 milliseconds per request and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import create_async_engine

from bench.http_load import Hub, hub_on_scratch_database, percentile
from hub.adapters.db.sales_tables import Sale, SaleLine, SalePayment
from hub.adapters.db.tables import Shop

CENT = Decimal("0.01")


async def _setup(http: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    shop = (await http.get("/api/core/shops/", headers=auth)).json()["results"][0]["id"]
    till = await http.post(
        "/api/sales/cash-registers/", json={"name": "Till 1", "shop": shop}, headers=auth
    )
    shift = await http.post(
        "/api/sales/sessions/",
        json={"cash_register": till.json()["id"], "opening_cash": "0"},
        headers=auth,
    )
    products = []
    for i in range(200):
        made = await http.post(
            "/api/products/products/",
            json={"name": f"Item {i}", "price": f"{10 + i % 90}.50", "cost": f"{5 + i % 40}.00"},
            headers=auth,
        )
        products.append(made.json())
    me = (await http.get("/api/users/auth/me/", headers=auth)).json()
    return {
        "shop": uuid.UUID(shop),
        "register": uuid.UUID(till.json()["id"]),
        "shift": uuid.UUID(shift.json()["id"]),
        "cashier": uuid.UUID(me["user"]),
        "products": products,
    }


def _rows(
    ctx: dict[str, Any],
    day: datetime,
    sales: int,
    lines: int,
    first: int,
    hours: tuple[float, float] = (8, 22),
) -> tuple[list[dict[str, Any]], ...]:
    """`sales` receipts stamped between `hours` (from, to) after `day` began."""
    rng = random.Random(first)
    sale_rows, line_rows, payment_rows = [], [], []
    for n in range(sales):
        sale_id = uuid.uuid4()
        at = day + timedelta(seconds=rng.uniform(hours[0] * 3600, hours[1] * 3600))
        total = Decimal("0.00")
        for position in range(lines):
            product = rng.choice(ctx["products"])
            price = Decimal(product["price"])
            quantity = Decimal(rng.randint(1, 3))
            amount = (price * quantity).quantize(CENT)
            total += amount
            line_rows.append(
                {
                    "id": uuid.uuid4(),
                    "sale_id": sale_id,
                    "position": position + 1,
                    "product_id": uuid.UUID(product["id"]),
                    "name": product["name"],
                    "unit": "piece",
                    "vat_rate": None,
                    "price": price,
                    "quantity": quantity,
                    "amount": amount,
                    "line_discount": Decimal("0.00"),
                    "receipt_discount": Decimal("0.00"),
                    "total": amount,
                    "cost": Decimal(product["cost"]),
                }
            )
        sale_rows.append(
            {
                "id": sale_id,
                "idempotency_key": sale_id.hex,
                "request_digest": "bench",
                "shop_id": ctx["shop"],
                "register_id": ctx["register"],
                "shift_id": ctx["shift"],
                "number": first + n,
                "cashier_id": ctx["cashier"],
                "customer_id": None,
                "subtotal": total,
                "discount_total": Decimal("0.00"),
                "receipt_discount": Decimal("0.00"),
                "receipt_discount_percent": None,
                "total": total,
                "tendered_cash": Decimal("0.00"),
                "change": Decimal("0.00"),
                "bonus_accrued": Decimal("0.00"),
                "created_at": at,
                "receipt_status": "done",
                "fiscal": None,
            }
        )
        payment_rows.append(
            {"sale_id": sale_id, "method": rng.choice(["cash", "card"]), "amount": total}
        )
    return sale_rows, line_rows, payment_rows


async def _load(hub: Hub, ctx: dict[str, Any], sales: int, lines: int) -> None:
    url = hub.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = create_async_engine(url).execution_options(schema_translate_map={None: hub.schema})
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    # Yesterday's sales from 08:00 to 22:00; today's over the day so far (none later
    # than a minute ago: a sale is stamped when it is made).
    so_far = max((now - today).total_seconds() / 3600 - 1 / 60, 0.1)
    days = ((today - timedelta(days=1), (8.0, 22.0)), (today, (0.0, so_far)))
    try:
        for index, (day, hours) in enumerate(days):
            sale_rows, line_rows, payment_rows = _rows(
                ctx, day, sales, lines, 1 + index * sales, hours
            )
            async with engine.begin() as conn:
                for table, rows in (
                    (Sale, sale_rows),
                    (SaleLine, line_rows),
                    (SalePayment, payment_rows),
                ):
                    for start in range(0, len(rows), 5000):
                        await conn.execute(insert(table.__table__), rows[start : start + 5000])
        # As if the shop had opened before those days (the worker closes no day before it
        # opened): only now, with every sale in, may the worker close yesterday.
        async with engine.begin() as conn:
            await conn.execute(update(Shop.__table__).values(created_at=today - timedelta(days=7)))
    finally:
        await engine.dispose()


async def _time(
    http: httpx.AsyncClient, path: str, params: dict[str, str], auth: dict[str, str], rounds: int
) -> list[float]:
    await http.get(path, params=params, headers=auth)  # warm-up
    taken = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = await http.get(path, params=params, headers=auth)
        taken.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return taken


async def main_async(args: argparse.Namespace) -> list[tuple[str, list[float]]]:
    async with hub_on_scratch_database(
        1, pool_size=4, extra_env={"POS_ANALYTICS_SECONDS": "1"}
    ) as hub:
        auth = {"Authorization": f"Bearer {hub.token}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.port}", timeout=120) as http:
            ctx = await _setup(http, auth)
            await _load(hub, ctx, args.sales, args.lines)
            shop = str(ctx["shop"])
            yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
            # The worker (every second here) closes yesterday: wait until it has.
            for _ in range(120):
                report = (
                    await http.get(
                        "/api/analytics/daily/",
                        params={"shop": shop, "date": yesterday},
                        headers=auth,
                    )
                ).json()
                if report["status"] == "closed":
                    break
                await asyncio.sleep(0.5)
            assert report["status"] == "closed", "the worker did not close yesterday"
            assert report["receipts"] == args.sales, report["receipts"]
            cases = [
                ("baseline: GET one shop", f"/api/core/shops/{shop}/", {}),
                (
                    "daily report, closed day (stored)",
                    "/api/analytics/daily/",
                    {"shop": shop, "date": yesterday},
                ),
                ("daily report, today (computed)", "/api/analytics/daily/", {"shop": shop}),
                (
                    "top products, 30 days",
                    "/api/analytics/top-products/",
                    {"shop": shop, "limit": "20"},
                ),
            ]
            return [
                (name, await _time(http, path, params, auth, args.rounds))
                for name, path, params in cases
            ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sales", type=int, default=20_000, help="receipts per day (two days)")
    parser.add_argument("--lines", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    print(
        f"\n{args.sales} receipts a day x {args.lines} lines, two days, 1 hub process, PostgreSQL"
    )
    base = percentile(results[0][1], 0.5)
    print(f"{'request':40} {'p50 ms':>9} {'p90 ms':>9} {'x baseline':>11}")
    for name, taken in results:
        p50 = percentile(taken, 0.5)
        print(f"{name:40} {p50:9.1f} {percentile(taken, 0.9):9.1f} {p50 / base:11.1f}")


if __name__ == "__main__":
    main()
