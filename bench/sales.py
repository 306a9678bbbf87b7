"""Sales through live carts: tills over the websocket each build a 3-5-line cart and pay,
a manager's dashboard connection watches the shop's sales feed.

    python -m bench.sales [--tills 16] [--seconds 15] [--rate 100 5] [--workers 1 2]
                          [--cart-groups on off]

For each hub size (one `pos-hub serve` process, then two, on PostgreSQL + Redis), on a
scratch database:
  - saturation: every till builds and pays carts as fast as the hub answers; committed
    sales per second;
  - paced: the tills together pay `--rate` sales per second (each rate a phase); p50/p99
    from `cart.pay` sent to `sale.completed` received by the manager's connection, and
    its two parts: to the pay's reply (the commit), then from the reply to the event
    (the relay and the broker; negative where the path awaits the relay before it
    answers, as REST does);
  - baseline, same run: the same sales posted through `POST /api/sales/sales/` one at a
    time by one client; sales per second and the same latency to the dashboard.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from bench.http_load import cpu_snapshot, cpu_used, hub_on_scratch_database, percentile
from protocol import channels
from protocol.client import HubClient
from protocol.codec import MSGPACK

REDIS_URL = os.environ.get("POS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
PRODUCTS = 40
STOCK = "1000000"


@dataclass
class Shop:
    port: int
    token: str
    shop_id: str
    tenant_id: str
    products: list[tuple[str, str]]  # (id, price)
    hub_pid: int
    shifts: list[str] = field(default_factory=list)


@dataclass
class Clock:
    """When each sale's pay was sent, and when the dashboard heard of it."""

    sent: dict[str, float] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)  # the pay's reply (committed)
    heard: dict[str, float] = field(default_factory=dict)

    def latencies_ms(self, ids: list[str]) -> list[float]:
        return [(self.heard[i] - self.sent[i]) * 1000 for i in ids if i in self.heard]

    def answers_ms(self, ids: list[str]) -> list[float]:
        """From the pay sent to its reply: the commit's share of the latency."""
        return [(self.answered[i] - self.sent[i]) * 1000 for i in ids if i in self.answered]

    def relayed_ms(self, ids: list[str]) -> list[float]:
        """From the reply to the dashboard's event: the outbox relay's and broker's share."""
        return [
            (self.heard[i] - self.answered[i]) * 1000
            for i in ids
            if i in self.heard and i in self.answered
        ]


async def prepare(port: int, token: str, tills: int, hub_pid: int) -> Shop:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
        me = (await http.get("/api/core/tenant/")).json()
        shop_id = (await http.get("/api/core/shops/")).json()["results"][0]["id"]
        products = []
        for n in range(PRODUCTS):
            price = str(Decimal(random.randint(50, 5000)) / 10)
            made = await http.post(
                "/api/products/products/", json={"name": f"Bench {n}", "price": price}
            )
            product = made.json()["id"]
            received = await http.post(
                "/api/products/batches/",
                json={"product": product, "shop": shop_id, "quantity": STOCK, "cost": "1.00"},
            )
            assert received.status_code == 201, received.text
            products.append((product, price))
        shop = Shop(port, token, shop_id, me["id"], products, hub_pid)
        for n in range(tills + 1):  # one more for the REST baseline
            register = await http.post(
                "/api/sales/cash-registers/", json={"name": f"Till {n}", "shop": shop_id}
            )
            shift = await http.post(
                "/api/sales/sessions/",
                json={"cash_register": register.json()["id"], "opening_cash": "1000"},
            )
            shop.shifts.append(shift.json()["id"])
        return shop


def basket(rng: random.Random, shop: Shop) -> list[tuple[str, int]]:
    picked = rng.sample(shop.products, rng.randint(3, 5))
    return [(product, rng.randint(1, 3)) for product, _ in picked]


async def fill_cart(client: HubClient, shift: str, items: list[tuple[str, int]]) -> dict[str, Any]:
    """The shift's cart opened and the items added one request each; the cart as it is."""
    cart: dict[str, Any] = (await client.request("cart.open", {"session": shift}))["cart"]
    for product, quantity in items:
        change = {"cart": cart["id"], "version": cart["version"], "product": product}
        cart = (await client.request("cart.add", {**change, "quantity": quantity}))["cart"]
    return cart


def cash_payment(cart: dict[str, Any], key: str) -> dict[str, Any]:
    """A `cart.pay` of the whole cart in cash."""
    return {
        "cart": cart["id"],
        "version": cart["version"],
        "payments": [{"method": "cash", "amount": cart["to_pay"]}],
        "idempotency_key": key,
    }


async def till(
    shop: Shop, shift: str, clock: Clock, until: float, pace: float | None, seed: int
) -> list[str]:
    """One till: cart after cart until `until`; returns the ids of the sales it made."""
    rng = random.Random(seed)
    url = f"ws://127.0.0.1:{shop.port}/ws"
    client = HubClient(url, shop.token, codec=MSGPACK)
    await client.connect()
    made: list[str] = []
    next_start = time.perf_counter()
    try:
        while time.perf_counter() < until:
            if pace is not None:
                next_start += rng.expovariate(pace)
                if next_start >= until:  # due after the window: the rate counts only it
                    break
                await asyncio.sleep(max(0.0, next_start - time.perf_counter()))
            cart = await fill_cart(client, shift, basket(rng, shop))
            pay = cash_payment(cart, f"{shift}-{len(made)}-{uuid.uuid4().hex[:8]}")
            sent = time.perf_counter()
            sale = (await client.request("cart.pay", pay, wait=30))["sale"]
            clock.answered[sale["id"]] = time.perf_counter()
            clock.sent[sale["id"]] = sent
            made.append(sale["id"])
    finally:
        await client.close()
    return made


async def rest_baseline(shop: Shop, clock: Clock, until: float, seed: int) -> list[str]:
    """The same kind of sales through REST, one at a time."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {shop.token}"}
    made: list[str] = []
    base = f"http://127.0.0.1:{shop.port}"
    async with httpx.AsyncClient(base_url=base, headers=headers) as http:
        prices = {product: Decimal(price) for product, price in shop.products}
        while time.perf_counter() < until:
            items = basket(rng, shop)
            # cash a little over the total: the hub gives change
            cash = sum((prices[p] * q for p, q in items), Decimal(1))
            body = {
                "session": shop.shifts[-1],
                "items": [{"product": p, "quantity": str(q)} for p, q in items],
                "payments": [{"method": "cash", "amount": str(cash)}],
            }
            sent = time.perf_counter()
            response = await http.post(
                "/api/sales/sales/", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
            )
            assert response.status_code == 201, response.text
            clock.answered[response.json()["id"]] = time.perf_counter()
            clock.sent[response.json()["id"]] = sent
            made.append(response.json()["id"])
    return made


async def dashboard(shop: Shop, clock: Clock, ready: asyncio.Event) -> None:
    client = HubClient(f"ws://127.0.0.1:{shop.port}/ws", shop.token, codec=MSGPACK)
    await client.connect()
    channel = channels.sales(uuid.UUID(shop.tenant_id), uuid.UUID(shop.shop_id)).name
    await client.subscribe(channel)
    ready.set()
    try:
        while True:
            event = await client.events.get()
            if event.get("type") == "sale.completed":
                clock.heard[event["payload"]["sale"]] = time.perf_counter()
    finally:
        await client.close()


async def phase(
    shop: Shop, name: str, tills: int, seconds: float, rate: float | None, rest: bool = False
) -> dict[str, Any]:
    clock = Clock()
    ready = asyncio.Event()
    watcher = asyncio.create_task(dashboard(shop, clock, ready))
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({watcher, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if watcher.done():
        waiting.cancel()
        watcher.result()  # the dashboard could not connect: say why
    start = time.perf_counter()
    cpu_before = cpu_snapshot(shop.hub_pid)
    redis_before, clients_before = await redis_cpu(), time.process_time()
    until = start + seconds
    if rest:
        runs = [rest_baseline(shop, clock, until, 7)]
    else:
        pace = None if rate is None else rate / tills
        runs = [till(shop, shop.shifts[i], clock, until, pace, i) for i in range(tills)]
    made = [sale for sales in await asyncio.gather(*runs) for sale in sales]
    elapsed = time.perf_counter() - start
    hub_cpu, database_cpu = cpu_used(cpu_before, cpu_snapshot(shop.hub_pid))
    redis_used = await redis_cpu() - redis_before
    clients_used = time.process_time() - clients_before
    await asyncio.sleep(1.0)  # the last events
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    latencies = clock.latencies_ms(made)
    answers, relayed = clock.answers_ms(made), clock.relayed_ms(made)
    return {
        "phase": name,
        "sales": len(made),
        "sales_per_second": round(len(made) / elapsed, 1),
        "heard": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 1) if latencies else None,
        # the two parts of that latency: the pay's reply (at commit), then the event
        "answer_p50_ms": round(percentile(answers, 0.50), 1) if answers else None,
        "answer_p99_ms": round(percentile(answers, 0.99), 1) if answers else None,
        "relayed_p50_ms": round(percentile(relayed, 0.50), 1) if relayed else None,
        "relayed_p99_ms": round(percentile(relayed, 0.99), 1) if relayed else None,
        # CPU each sale cost, whatever else the machine was doing
        "hub_cpu_ms_per_sale": round(hub_cpu * 1000 / max(len(made), 1), 1),
        "db_cpu_ms_per_sale": round(database_cpu * 1000 / max(len(made), 1), 1),
        # the rest of the machine's budget: Redis, and this process's tills and dashboard
        "redis_cpu_ms_per_sale": round(redis_used * 1000 / max(len(made), 1), 1),
        "clients_cpu_ms_per_sale": round(clients_used * 1000 / max(len(made), 1), 1),
    }


async def redis_cpu() -> float:
    """CPU seconds the Redis server has used."""
    client = aioredis.from_url(REDIS_URL)
    try:
        info = await client.info("cpu")
    finally:
        await client.aclose()
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    redis = aioredis.from_url(REDIS_URL)
    for workers, groups in hub_runs(args):
        await redis.flushdb()
        env = {"POS_CART_GROUPS": "true" if groups == "on" else "false"}
        async with hub_on_scratch_database(
            workers, args.pool, redis_url=REDIS_URL, extra_env=env
        ) as hub:
            shop = await prepare(hub.port, hub.token, args.tills, hub.pid)
            label = run_label(args, workers, groups)
            await phase(shop, "warm-up", args.tills, 3, None)
            plan: list[tuple[str, float | None, bool]] = [("carts saturation", None, False)]
            plan += [(f"carts paced {rate:g}/s", rate, False) for rate in args.rate]
            plan.append(("REST one at a time", None, True))
            for name, rate, rest in plan:
                result = await phase(shop, f"{label}: {name}", args.tills, args.seconds, rate, rest)
                results.append(result)
                print(json.dumps(result))
    await redis.aclose()
    return results


def hub_runs(args: argparse.Namespace) -> list[tuple[int, str]]:
    """(processes, cart groups on or off) of each hub run, in order."""
    return [(workers, groups) for groups in args.cart_groups for workers in args.workers]


def run_label(args: argparse.Namespace, workers: int, groups: str) -> str:
    label = f"{workers} process{'es' if workers > 1 else ''}"
    return f"{label}, groups {groups}" if len(args.cart_groups) > 1 else label


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tills", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[100.0, 5.0], help="sales/s of each paced phase"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--pool", type=int, default=20, help="database pool per process")
    parser.add_argument(
        "--cart-groups",
        nargs="+",
        choices=["on", "off"],
        default=["on"],
        help="POS_CART_GROUPS of each hub run: `on off` compares the two in one run",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(f"\n{args.tills} tills, 3-5 lines per cart, PostgreSQL + Redis")
    print(
        f"{'phase':42} {'sales':>6} {'sales/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'hub CPU ms/sale':>16} {'db CPU ms/sale':>15} {'redis':>6} {'clients':>8}"
    )
    for r in results:
        print(
            f"{r['phase']:42} {r['sales']:>6} {r['sales_per_second']:>8}"
            f" {r['p50_ms']!s:>7} {r['p99_ms']!s:>7}"
            f" {r['hub_cpu_ms_per_sale']:>16} {r['db_cpu_ms_per_sale']:>15}"
            f" {r['redis_cpu_ms_per_sale']:>6} {r['clients_cpu_ms_per_sale']:>8}"
        )
    by = {r["phase"]: r for r in results}
    for workers, groups in hub_runs(args):
        label = run_label(args, workers, groups)
        carts, rest = by[f"{label}: carts saturation"], by[f"{label}: REST one at a time"]
        ratio = carts["sales_per_second"] / max(rest["sales_per_second"], 0.1)
        print(f"{label}: carts saturation vs REST one at a time: {ratio:.1f}x sales/s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
