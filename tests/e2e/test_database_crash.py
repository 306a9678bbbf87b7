"""PostgreSQL crashes in the middle of a burst of sales (an immediate shutdown: no
checkpoint, WAL recovery at the restart) while the hub keeps running: clients that get
no 201 send the same request again under the same idempotency key until they do.
Afterwards every sale a client was told of exists exactly once with the id it was told,
none exists twice, receipt numbers run 1..N, the shift's totals and the stock books add
up, and what the clients met meanwhile was `503 service_unavailable` with a Retry-After,
never a 500.

The database is a private server (`tests/private_postgres.py`), not the shared one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import services
from tests.e2e.test_crash import (
    Attempt,
    check_books,
    open_shift,
    post_sale,
    sale_body,
    same_sale,
    stocked_shop,
)
from tests.private_postgres import PrivatePostgres, need_postgres_binaries
from tests.processes import hub_env, pos_hub, start_hub, wait_ready

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


async def test_sales_survive_a_crash_of_postgresql(
    tmp_path: Path, database: PrivatePostgres
) -> None:
    services.need("redis")
    env = hub_env(tmp_path, database.url, services.REDIS_URL)
    migrated = pos_hub(tmp_path, env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    hub = start_hub(tmp_path, env)
    try:
        await asyncio.to_thread(wait_ready, hub)
        rng = random.Random()
        attempts: list[Attempt] = []
        refusals: Counter[tuple[int, str, str | None]] = Counter()
        acked = asyncio.Event()
        crashed_at: list[float] = []

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
                        refusals[
                            (response.status_code, code, response.headers.get("retry-after"))
                        ] += 1
                        await asyncio.sleep(0.05)
                    if sum(a.reply is not None for a in attempts) >= ACKED_BEFORE_CRASH:
                        acked.set()

            async def crash() -> None:
                await asyncio.wait_for(acked.wait(), PATIENCE)
                crashed_at.append(time.monotonic())
                await asyncio.to_thread(database.crash)
                await asyncio.sleep(DOWN_SECONDS)
                await asyncio.to_thread(database.start)

            async with asyncio.TaskGroup() as group:
                group.create_task(crash())
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

        checked = await asyncio.to_thread(pos_hub, tmp_path, env, "check-stock")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.rstrip().endswith(": ok"), checked.stdout
        assert hub.process.poll() is None, "the hub did not live through the crash"
    finally:
        hub.stop()
