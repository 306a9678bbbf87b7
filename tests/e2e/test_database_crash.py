"""PostgreSQL crashes in the middle of a burst of sales (an immediate shutdown: no
checkpoint, WAL recovery at the restart) while the hub keeps running: clients that get
no 201 send the same request again under the same idempotency key until they do.
Afterwards every sale a client was told of exists exactly once with the id it was told,
none exists twice, receipt numbers run 1..N, the shift's totals and the stock books add
up, and what the clients met meanwhile was `503 service_unavailable` with a Retry-After,
never a 500.

Both doors: REST (`POST /api/sales/sales/` under an `Idempotency-Key`) and live carts
over the websocket (`cart.open`, `cart.add`, `cart.pay` with an `idempotency_key`, each
answered `service_unavailable` while the database is away, on a connection that stays
up). The database is a private server (`tests/private_postgres.py`), not the shared one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from protocol.client import HubClient, RequestFailed
from tests import services
from tests.e2e.test_crash import (
    Attempt,
    Shop,
    basket,
    check_books,
    open_shift,
    post_sale,
    sale_body,
    same_sale,
    stocked_shop,
)
from tests.private_postgres import PrivatePostgres, need_postgres_binaries
from tests.processes import HubProcess, hub_env, pos_hub, start_hub, wait_ready

pytestmark = pytest.mark.slow

CLIENTS = 8
SALES_PER_CLIENT = 8
ACKED_BEFORE_CRASH = 20
DOWN_SECONDS = 1.0
PATIENCE = 60.0  # seconds a client keeps retrying one sale before the test fails


@pytest.fixture
def database() -> Iterator[PrivatePostgres]:
    need_postgres_binaries()
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        server.remove()


@pytest.fixture
def site(tmp_path: Path, database: PrivatePostgres) -> Iterator[tuple[HubProcess, dict[str, str]]]:
    """A migrated hub process on the private database, ready; and its environment."""
    services.need("redis")
    env = hub_env(tmp_path, database.url, services.REDIS_URL)
    migrated = pos_hub(tmp_path, env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    hub = start_hub(tmp_path, env)
    try:
        wait_ready(hub)
        yield hub, env
    finally:
        hub.stop()


async def check_stock(tmp_path: Path, env: dict[str, str]) -> None:
    checked = await asyncio.to_thread(pos_hub, tmp_path, env, "check-stock")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.rstrip().endswith(": ok"), checked.stdout


async def crash_when(ready: asyncio.Event, database: PrivatePostgres) -> None:
    await asyncio.wait_for(ready.wait(), PATIENCE)
    await asyncio.to_thread(database.crash)
    await asyncio.sleep(DOWN_SECONDS)
    await asyncio.to_thread(database.start)


async def test_sales_survive_a_crash_of_postgresql(
    tmp_path: Path, database: PrivatePostgres, site: tuple[HubProcess, dict[str, str]]
) -> None:
    hub, env = site
    rng = random.Random()
    attempts: list[Attempt] = []
    refusals: Counter[tuple[int, str, str | None]] = Counter()
    acked = asyncio.Event()

    async with httpx.AsyncClient(base_url=hub.http, timeout=30.0) as http:
        shop = await stocked_shop(http)
        _, shift = await open_shift(http, shop)

        async def client(n: int) -> None:
            for i in range(SALES_PER_CLIENT):
                attempt = Attempt(f"pg-crash-{n}-{i}", sale_body(rng, shop, shift))
                attempts.append(attempt)
                deadline = time.monotonic() + PATIENCE
                while True:
                    assert time.monotonic() < deadline, f"{attempt.key}: no 201 in time"
                    response = await post_sale(http, shop, attempt)
                    if response.status_code == 201:
                        attempt.reply = response.json()
                        break
                    code = response.json()["error"]["code"]
                    refusals[(response.status_code, code, response.headers.get("retry-after"))] += 1
                    await asyncio.sleep(0.05)
                if sum(a.reply is not None for a in attempts) >= ACKED_BEFORE_CRASH:
                    acked.set()

        async with asyncio.TaskGroup() as group:
            group.create_task(crash_when(acked, database))
            for n in range(CLIENTS):
                group.create_task(client(n))

        # Every request was answered 201 in the end; while the database was away the
        # hub said "unavailable, retry", not "internal error".
        assert all(a.reply is not None for a in attempts)
        assert len(attempts) == CLIENTS * SALES_PER_CLIENT
        assert refusals, "no client met the crash"
        assert set(refusals) == {(503, "service_unavailable", "1")}, refusals

        everything = await check_books(http, shop, [shift])
        stored = {sale["id"]: sale for sale in everything}
        told = {a.reply["id"]: a.reply for a in attempts if a.reply is not None}
        assert len(told) == len(attempts), "two keys were told of one sale"
        assert set(stored) == set(told), "a sale missing, or one nobody was told of"
        for sale_id, reply in told.items():
            assert same_sale(stored[sale_id], reply), sale_id

    await check_stock(tmp_path, env)
    assert hub.process.poll() is None, "the hub did not live through the crash"


TILLS = 4
CARTS_PER_TILL = 6
PAID_BEFORE_CRASH = 8


class Till:
    """A till on the websocket that, like the web client, sends a request again while
    the hub answers `service_unavailable`, and after an unanswered change looks at its
    cart (the shift's open one) before changing it again."""

    def __init__(self, ws: HubClient, shift: str, refusals: Counter[str]) -> None:
        self.ws = ws
        self.shift = shift
        self.refusals = refusals
        self.cart: dict[str, Any] = {}

    async def ask(self, type_: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """The reply, or None after `service_unavailable` (counted, then a pause)."""
        try:
            return await self.ws.request(type_, payload, wait=30.0)
        except RequestFailed as exc:
            if exc.code != "service_unavailable":
                raise
            self.refusals[exc.code] += 1
            await asyncio.sleep(0.05)
            return None

    async def open(self) -> None:
        deadline = time.monotonic() + PATIENCE
        while (data := await self.ask("cart.open", {"session": self.shift})) is None:
            assert time.monotonic() < deadline, "cart.open: no answer in time"
        self.cart = data["cart"]

    async def add(self, product: str, quantity: int) -> None:
        deadline = time.monotonic() + PATIENCE
        while True:
            sent = self.cart["version"]
            request = {"cart": self.cart["id"], "version": sent}
            data = await self.ask("cart.add", {**request, "product": product, "quantity": quantity})
            if data is not None:
                self.cart = data["cart"]
                return
            assert time.monotonic() < deadline, "cart.add: no answer in time"
            await self.open()  # did the change commit before the database went?
            if self.cart["version"] > sent:
                return

    async def pay(self, key: str) -> dict[str, Any]:
        """The same payment (cart, version, key) until it is answered."""
        request = {
            "cart": self.cart["id"],
            "version": self.cart["version"],
            "payments": [{"method": "cash", "amount": "1000.00"}],
            "idempotency_key": key,
        }
        deadline = time.monotonic() + PATIENCE
        while (data := await self.ask("cart.pay", request)) is None:
            assert time.monotonic() < deadline, "cart.pay: no answer in time"
        assert data["cart"]["status"] == "paid"
        return dict(data["sale"])


async def test_cart_payments_survive_a_crash_of_postgresql(
    tmp_path: Path, database: PrivatePostgres, site: tuple[HubProcess, dict[str, str]]
) -> None:
    hub, env = site
    rng = random.Random()
    refusals: Counter[str] = Counter()
    paid: list[dict[str, Any]] = []
    enough = asyncio.Event()
    async with httpx.AsyncClient(base_url=hub.http, timeout=30.0) as http:
        shop = await stocked_shop(http)
        shifts = [(await open_shift(http, shop))[1] for _ in range(TILLS)]

        async def till(shift: str, n: int, shop: Shop) -> None:
            ws = HubClient(hub.ws, shop.kit.members["owner"].token)
            await ws.connect()
            try:
                run = Till(ws, shift, refusals)
                for i in range(CARTS_PER_TILL):
                    await run.open()
                    for product, quantity in basket(rng, shop).items():
                        await run.add(product, quantity)
                    paid.append(await run.pay(f"pg-crash-till-{n}-{i}"))
                    if len(paid) >= PAID_BEFORE_CRASH:
                        enough.set()
            finally:
                await ws.close()

        async with asyncio.TaskGroup() as group:
            group.create_task(crash_when(enough, database))
            for n, shift in enumerate(shifts):
                group.create_task(till(shift, n, shop))

        assert refusals, "no till met the crash"
        assert len(paid) == TILLS * CARTS_PER_TILL
        everything = await check_books(http, shop, shifts)
        assert {sale["id"] for sale in everything} == {sale["id"] for sale in paid}
        assert len({sale["id"] for sale in paid}) == len(paid)
    await check_stock(tmp_path, env)
    assert hub.process.poll() is None
