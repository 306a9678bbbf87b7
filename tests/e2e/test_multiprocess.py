"""Two real hub processes (`pos-hub serve`) sharing one PostgreSQL database and one Redis:
an event committed through process B reaches a websocket client of process A, in order,
and a Redis restart never leaves that client silently behind.

Redis is a private `redis-server` (no persistence) so that it can be killed and restarted
without touching the shared one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from protocol import channels, messages
from protocol.client import HubClient
from tests.helpers import bearer, create_user, login, register
from tests.private_redis import PrivateRedis
from tests.processes import HubProcess, hub_env, need_redis_server, start_hub, wait_ready

pytestmark = pytest.mark.slow


# --- processes ----------------------------------------------------------------------


@dataclass
class Cluster:
    a: HubProcess
    b: HubProcess
    redis: PrivateRedis
    database_url: str


@pytest.fixture
def cluster(tmp_path: Path, pg_database_url: str) -> Iterator[Cluster]:
    """Private Redis, then hubs A and B on the session's PostgreSQL database; every
    process is stopped afterwards, whatever happened."""
    need_redis_server()
    redis = PrivateRedis(tmp_path)
    hubs: list[HubProcess] = []
    try:
        redis.start()
        env = hub_env(tmp_path, pg_database_url, redis.url)
        for name in ("a", "b"):
            hubs.append(start_hub(tmp_path, env, name))
        for hub in hubs:
            wait_ready(hub)
        yield Cluster(hubs[0], hubs[1], redis, pg_database_url)
    finally:
        for hub in hubs:
            hub.stop()
        redis.stop()


# --- helpers --------------------------------------------------------------------------


@dataclass
class Shop:
    tenant_id: str
    shop_id: str
    token: str

    @property
    def channel(self) -> str:
        return channels.shop(uuid.UUID(self.tenant_id), uuid.UUID(self.shop_id)).name


async def eventually(
    predicate: Callable[[], bool], describe: Callable[[], str], within: float = 10.0
) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {describe()}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def connected(url: str, token: str) -> AsyncIterator[HubClient]:
    client = HubClient(url, token)
    try:
        await client.connect()
        yield client
    finally:
        await client.close()


def drain(client: HubClient, into: list[dict[str, Any]]) -> None:
    while not client.events.empty():
        into.append(client.events.get_nowait())


def walk(frames: list[dict[str, Any]], start: tuple[str | None, int]) -> tuple[str | None, int]:
    """The position the frames lead to from `start`; every event must follow its
    predecessor (same epoch, next seq) or a resync: a silent gap fails here."""
    epoch, seq = start
    for frame in frames:
        if frame["type"] == "resync":
            epoch, seq = frame["payload"]["epoch"], frame["payload"]["seq"]
            continue
        follows = (frame["epoch"] == epoch and frame["seq"] == seq + 1) or (
            epoch is None and frame["seq"] == 1
        )
        assert follows, f"silent gap: at {epoch}/{seq}, then {frame['epoch']}/{frame['seq']}"
        epoch, seq = frame["epoch"], frame["seq"]
    return epoch, seq


async def channel_position(redis_url: str, channel: str) -> tuple[str | None, int]:
    redis = Redis.from_url(redis_url)
    try:
        epoch, seq = await redis.hmget("pos:ch:{" + channel + "}:meta", ["epoch", "seq"])
    finally:
        await redis.aclose()
    return (epoch.decode() if epoch else None), int(seq or 0)


async def outbox_size(database_url: str, tenant_id: str) -> int:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            schema = f"tenant_{uuid.UUID(tenant_id).hex}"
            result = await conn.execute(text(f'SELECT count(*) FROM "{schema}".outbox'))
            return int(result.scalar_one())
    finally:
        await engine.dispose()


async def open_shop(b: httpx.AsyncClient) -> Shop:
    data = await register(b, tenant_name="Two Process Traders", shop_name="Dock Street")
    return Shop(data["tenant"]["id"], data["shop"]["id"], data["access"])


async def patch_address(b: httpx.AsyncClient, shop: Shop, address: str) -> httpx.Response:
    return await b.patch(
        f"/api/core/shops/{shop.shop_id}/", json={"address": address}, headers=bearer(shop.token)
    )


async def patch_through_an_outage(
    cluster: Cluster, b: httpx.AsyncClient, shop: Shop, numbers: range
) -> list[int]:
    """PATCH the shop's address every 50 ms through B; after ten PATCHes Redis is killed
    (both hubs lose it at once), stays down for a second and comes back empty."""
    statuses: list[int] = []

    async def keep_patching() -> None:
        for n in numbers:
            with contextlib.suppress(httpx.HTTPError):
                response = await patch_address(b, shop, f"{n} Canal Street")
                statuses.append(response.status_code)
            await asyncio.sleep(0.05)

    patcher = asyncio.create_task(keep_patching())
    try:
        await eventually(lambda: len(statuses) >= 10, lambda: f"{statuses}")
        cluster.redis.kill()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(cluster.redis.start)
    finally:
        await patcher
    return statuses


async def outbox_drained(cluster: Cluster, shop: Shop) -> None:
    """Commits whose relay failed while Redis was down wait for the sweep (stale after
    3 s, sweep every 0.5 s here): wait until it has published them all."""
    deadline = time.monotonic() + 8
    while await outbox_size(cluster.database_url, shop.tenant_id):
        assert time.monotonic() < deadline, "outbox never drained"
        await asyncio.sleep(0.2)


# --- tests ----------------------------------------------------------------------------


async def test_events_committed_through_b_reach_a_client_of_a_in_order(
    cluster: Cluster,
) -> None:
    async with httpx.AsyncClient(base_url=cluster.b.http, timeout=10.0) as b:
        shop = await open_shop(b)
        async with (
            connected(cluster.a.ws, shop.token) as on_a,
            connected(cluster.b.ws, shop.token) as on_b,
        ):
            start = await on_a.subscribe(shop.channel)
            also = await on_b.subscribe(shop.channel)
            assert (also["epoch"], also["seq"]) == (start["epoch"], start["seq"])

            addresses = [f"{n} Harbour Road" for n in range(1, 31)]
            for address in addresses:
                response = await patch_address(b, shop, address)
                assert response.status_code == 200, response.text
                assert response.json()["address"] == address

            frames: list[dict[str, Any]] = []
            beside: list[dict[str, Any]] = []

            def both_done() -> bool:
                drain(on_a, frames)
                drain(on_b, beside)
                return len(frames) >= 30 and len(beside) >= 30

            await eventually(
                both_done, lambda: f"A has {len(frames)}, B has {len(beside)} of 30 events"
            )
            await asyncio.sleep(0.2)
            drain(on_a, frames)
            drain(on_b, beside)

            assert len(frames) == 30, frames
            assert {f["type"] for f in frames} == {"shop.updated"}
            assert {f["channel"] for f in frames} == {shop.channel}
            seqs = [f["seq"] for f in frames]
            assert seqs == list(range(start["seq"] + 1, start["seq"] + 31))
            epochs = {f["epoch"] for f in frames}
            assert len(epochs) == 1
            assert start["epoch"] in (None, *epochs)
            assert [f["payload"]["address"] for f in frames] == addresses
            assert {f["payload"]["id"] for f in frames} == {shop.shop_id}

            # The client on B saw exactly the same stream: one sequence for the channel.
            assert [(f["epoch"], f["seq"], f["payload"]) for f in beside] == [
                (f["epoch"], f["seq"], f["payload"]) for f in frames
            ]
            (epoch,) = epochs
            final = (epoch, seqs[-1])
            assert (on_a.positions[shop.channel].epoch, on_a.positions[shop.channel].seq) == final
            assert await channel_position(cluster.redis.url, shop.channel) == final
            assert on_a.connected
            assert on_b.connected


async def test_redis_restart_mid_stream_never_leaves_the_client_silently_behind(
    cluster: Cluster,
) -> None:
    async with httpx.AsyncClient(base_url=cluster.b.http, timeout=10.0) as b:
        shop = await open_shop(b)
        async with connected(cluster.a.ws, shop.token) as on_a:
            reply = await on_a.subscribe(shop.channel)
            start = (reply["epoch"], reply["seq"])
            frames: list[dict[str, Any]] = []

            for n in range(1, 11):
                response = await patch_address(b, shop, f"{n} Canal Street")
                assert response.status_code == 200, response.text

            def count(wanted: int) -> Callable[[], bool]:
                def check() -> bool:
                    drain(on_a, frames)
                    return len(frames) >= wanted

                return check

            await eventually(count(10), lambda: f"{len(frames)} of 10 before the restart")
            assert [f["payload"]["address"] for f in frames] == [
                f"{n} Canal Street" for n in range(1, 11)
            ]

            statuses = await patch_through_an_outage(cluster, b, shop, range(11, 51))
            assert statuses.count(200) >= 30, statuses
            await outbox_drained(cluster, shop)

            final = await channel_position(cluster.redis.url, shop.channel)
            assert final[0] is not None
            assert final[0] != frames[0]["epoch"]  # Redis lost the old epoch

            def caught_up() -> bool:
                drain(on_a, frames)
                position = on_a.positions[shop.channel]
                return (position.epoch, position.seq) == final

            await eventually(
                caught_up,
                lambda: (
                    f"client on A at {on_a.positions[shop.channel]} but the channel is at "
                    f"{final}; last frames {[(f['type'], f.get('seq')) for f in frames[-3:]]}"
                    f"\n--- hub A ---\n{cluster.a.output()[-3000:]}"
                ),
                within=6.0,
            )
            # Every frame followed its predecessor or a resync, and they lead to where the
            # channel is: nothing was skipped without the client being told.
            assert walk(frames, start) == final
            assert any(f["type"] == "resync" for f in frames[10:])
            assert on_a.connected


async def test_a_redis_outage_does_not_reorder_a_channels_events(cluster: Cluster) -> None:
    async with httpx.AsyncClient(base_url=cluster.b.http, timeout=10.0) as b:
        shop = await open_shop(b)
        statuses = await patch_through_an_outage(cluster, b, shop, range(1, 41))
        assert statuses.count(200) >= 30, statuses
        await outbox_drained(cluster, shop)

        current = await b.get(f"/api/core/shops/{shop.shop_id}/", headers=bearer(shop.token))
        assert current.status_code == 200, current.text
        redis = Redis.from_url(cluster.redis.url)
        try:
            entries = await redis.xrange("pos:ch:{" + shop.channel + "}:log")
        finally:
            await redis.aclose()
        # What Redis holds now: the new epoch's events, in sequence order.
        addresses = [msgpack.unpackb(fields[b"b"])["address"] for _, fields in entries]
        numbers = [int(address.split()[0]) for address in addresses]
        assert numbers, "nothing published after the restart"
        assert numbers == sorted(numbers), f"events out of commit order: {numbers}"
        assert addresses[-1] == current.json()["address"], (
            f"the channel ends on {addresses[-1]!r}, the shop is at {current.json()['address']!r}"
        )


async def test_a_shop_change_made_through_b_closes_the_users_socket_on_a(
    cluster: Cluster,
) -> None:
    """The stale-access close (4003) travels between processes like the 4004 ones do."""
    async with httpx.AsyncClient(base_url=cluster.b.http, timeout=10.0) as b:
        shop = await open_shop(b)
        second = await b.post(
            "/api/core/shops/", json={"name": "Quay Side"}, headers=bearer(shop.token)
        )
        assert second.status_code == 201, second.text
        cashier = await create_user(b, shop.token, "cashier", [shop.shop_id])
        session = await login(b, cashier["username"])
        async with connected(cluster.a.ws, session["access"]) as on_a:
            await on_a.subscribe(shop.channel)
            moved = await b.patch(
                f"/api/users/users/{cashier['id']}/",
                json={"shops": [second.json()["id"]]},
                headers=bearer(shop.token),
            )
            assert moved.status_code == 200, moved.text
            await eventually(lambda: not on_a.connected, lambda: "the socket on A stays open")
            assert on_a.close_code == messages.CLOSE_TOKEN_EXPIRED
