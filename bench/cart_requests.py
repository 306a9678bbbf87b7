"""What one cart request costs the hub in CPU, one till, one request at a time.

    python -m bench.cart_requests [--requests 400]

A scratch PostgreSQL database, `pos-hub serve` on it with Redis (one process), the shop of
`bench/sales.py`. One till (websocket, msgpack) runs each kind of request in a row, and
the hub's and PostgreSQL's CPU are read from `/proc` before and after: with no
concurrency the figures are the same from run to run, so two versions of the code can
be compared on a noisy machine. The baseline in the same run is `cart.get` (one cart and
its products read, no write): what any request costs the websocket door and a unit of
work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bench.http_load import cpu_snapshot, cpu_used, hub_on_scratch_database
from bench.sales import REDIS_URL, cash_payment, fill_cart, prepare
from protocol.client import HubClient
from protocol.codec import MSGPACK

LINES = 4


async def measure(
    name: str, hub_pid: int, run: Callable[[int], Awaitable[None]], count: int
) -> dict[str, Any]:
    for k in range(min(count, 20)):  # warm: prepared statements, caches
        await run(k)
    before, started = cpu_snapshot(hub_pid), time.perf_counter()
    for k in range(count):
        await run(k)
    elapsed = time.perf_counter() - started
    hub, database = cpu_used(before, cpu_snapshot(hub_pid))
    return {
        "request": name,
        "count": count,
        "hub_cpu_ms": round(hub * 1000 / count, 2),
        "db_cpu_ms": round(database * 1000 / count, 2),
        "wall_ms": round(elapsed * 1000 / count, 2),
    }


async def run(requests: int) -> list[dict[str, Any]]:
    async with hub_on_scratch_database(1, 5, redis_url=REDIS_URL) as hub:
        shop = await prepare(hub.port, hub.token, 1, hub.pid)
        till = HubClient(f"ws://127.0.0.1:{hub.port}/ws", shop.token, codec=MSGPACK)
        await till.connect()
        shift = shop.shifts[0]
        items = [(product, 1) for product, _ in shop.products[:LINES]]
        try:

            async def sale(_: int) -> None:
                cart = await fill_cart(till, shift, items)
                await till.request("cart.pay", cash_payment(cart, uuid.uuid4().hex))

            results = [await measure(f"a {LINES}-line sale", hub.pid, sale, requests // 4)]
            cart = await fill_cart(till, shift, items)
            state = {"cart": cart}

            async def get(_: int) -> None:
                await till.request("cart.get", {"cart": cart["id"]})

            async def set_quantity(k: int) -> None:
                now = state["cart"]
                reply = await till.request(
                    "cart.set_quantity",
                    {
                        "cart": now["id"],
                        "version": now["version"],
                        "product": items[k % LINES][0],
                        "quantity": 1 + (k // LINES) % 2,
                    },
                )
                state["cart"] = reply["cart"]

            results.append(await measure("cart.get (baseline)", hub.pid, get, requests))
            results.append(
                await measure(f"cart.set_quantity, {LINES} lines", hub.pid, set_quantity, requests)
            )
        finally:
            await till.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    results = asyncio.run(run(args.requests))
    for r in results:
        print(json.dumps(r))
    print(f"\n{'request':32} {'count':>6} {'hub CPU ms':>11} {'db CPU ms':>10} {'wall ms':>8}")
    for r in results:
        print(
            f"{r['request']:32} {r['count']:>6} {r['hub_cpu_ms']:>11} {r['db_cpu_ms']:>10}"
            f" {r['wall_ms']:>8}"
        )
    baseline = results[1]["hub_cpu_ms"]
    for r in (results[0], results[2]):
        print(f"{r['request']}: {r['hub_cpu_ms'] / max(baseline, 0.01):.1f}x cart.get")


if __name__ == "__main__":
    main()
