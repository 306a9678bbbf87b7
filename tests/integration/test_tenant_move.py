"""Moving a tenant between PostgreSQL clusters while its hub keeps serving it: every row
goes (a category tree whose parent came after its child too), the hub that still sent
the tenant to the old cluster follows at the next request, sales made during the move
are neither lost nor doubled, and a move that died half-way is finished by running it
again.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from hub.adapters.db import relocation
from hub.adapters.db.database import Database, tenant_schema_name
from hub.adapters.db.relocation import MoveRefused, move_tenant
from hub.settings import Settings
from protocol.client import RequestFailed
from tests.conftest import SECOND_CLUSTER, LiveHub, app_client, cluster_settings
from tests.e2e.test_crash import (
    Attempt,
    check_books,
    open_shift,
    post_sale,
    sale_body,
    same_sale,
    stocked_shop,
)
from tests.e2e.ws_support import api, hub_client, tenant
from tests.helpers import build_tenant, create_product, receive, stock_of

pytestmark = pytest.mark.anyio

PATIENCE = 60.0


@pytest.fixture
def settings(tmp_path: Path, pg_cluster_urls: tuple[str, str]) -> Settings:
    """A hub on both clusters that places new tenants on the main one."""
    return cluster_settings(tmp_path, pg_cluster_urls, new_tenant_clusters="main")


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings) as client:
        yield client


@pytest.fixture
async def mover(settings: Settings) -> AsyncIterator[Database]:
    """The operator's `pos-hub move-tenant`: a Database of its own, as in its own process."""
    db = Database(settings)
    try:
        yield db
    finally:
        await db.dispose()


async def schemas(url: str, tenant_id: str) -> set[str]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :name"),
                {"name": f"%{uuid.UUID(tenant_id).hex}"},
            )
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


async def until_served(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> Any:
    """GET, sending again while the hub says 503 (as a client does after a move)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        response = await http.get(path, headers=headers)
        if response.status_code != 503:
            assert response.status_code == 200, response.text
            return response.json()
        assert response.json()["error"]["code"] == "service_unavailable"
        assert "moving" in response.json()["error"]["message"]
        assert response.headers["retry-after"] == "1"
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_a_tenant_moves_with_all_its_rows_and_its_hub_follows(
    hub: httpx.AsyncClient, mover: Database, pg_cluster_urls: tuple[str, str]
) -> None:
    main, second = pg_cluster_urls
    kit = await build_tenant(hub)
    owner = kit.token("owner")
    # A category whose parent was made after it: copied in insertion order, the child
    # would refer to a parent not yet there.
    child = await hub.post("/api/products/categories/", json={"name": "Juice"}, headers=owner)
    parent = await hub.post("/api/products/categories/", json={"name": "Drinks"}, headers=owner)
    moved_under = await hub.patch(
        f"/api/products/categories/{child.json()['id']}/",
        json={"parent": parent.json()["id"]},
        headers=owner,
    )
    assert moved_under.status_code == 200, moved_under.text
    product = await create_product(hub, kit, price="4.20", category=child.json()["id"])
    await receive(hub, kit, product["id"], "10")
    customer = await hub.post(
        "/api/customers/customers/",
        json={"name": "Ivan Petrov", "phone": "+79161234567"},
        headers=owner,
    )
    assert customer.status_code == 201, customer.text
    paths = [
        "/api/products/categories/",
        f"/api/products/products/{product['id']}/",
        f"/api/products/stock/?shop={kit.shop_id}&product={product['id']}",
        "/api/customers/customers/",
        "/api/users/users/",
        "/api/core/shops/",
    ]
    before = [(await hub.get(p, headers=owner)).json() for p in paths]

    moved = await move_tenant(mover, uuid.UUID(kit.tenant_id), SECOND_CLUSTER)
    assert (moved.source, moved.target) == ("main", SECOND_CLUSTER)
    assert moved.rows > 0
    schema = tenant_schema_name(uuid.UUID(kit.tenant_id))
    assert await schemas(main, kit.tenant_id) == set()  # nothing left behind
    assert await schemas(second, kit.tenant_id) == {schema}

    # The hub still sends the tenant to the main cluster: it finds no tables there,
    # asks where the tenant is now and says "send again"; the next request is served.
    after = [await until_served(hub, p, owner) for p in paths]
    assert after == before
    sold = await hub.post(
        "/api/sales/cash-registers/",
        json={"name": "Till", "shop": kit.shop_id},
        headers=kit.token("manager"),
    )
    assert sold.status_code == 201, sold.text


async def test_sales_made_during_a_move_are_neither_lost_nor_doubled(
    hub: httpx.AsyncClient, mover: Database
) -> None:
    shop = await stocked_shop(hub)
    _, shift = await open_shift(hub, shop)
    rng = random.Random()
    attempts: list[Attempt] = []
    refusals: set[tuple[int, str]] = set()
    moving = asyncio.Event()
    moved_at: list[float] = []

    async def client(n: int) -> None:
        i = 0
        while not moved_at or i < 3:  # sells before, during and after the move
            attempt = Attempt(f"move-{n}-{i}", sale_body(rng, shop, shift))
            attempts.append(attempt)
            deadline = time.monotonic() + PATIENCE
            while True:
                response = await post_sale(hub, shop, attempt)
                if response.status_code == 201:
                    attempt.reply = response.json()
                    break
                refusals.add((response.status_code, response.json()["error"]["code"]))
                assert time.monotonic() < deadline, f"{attempt.key}: no 201 in time"
                await asyncio.sleep(0.02)
            i += 1
            if i == 3:
                moving.set()

    async def move() -> None:
        await asyncio.wait_for(moving.wait(), PATIENCE)
        await move_tenant(mover, uuid.UUID(shop.kit.tenant_id), SECOND_CLUSTER)
        moved_at.append(time.monotonic())

    async with asyncio.TaskGroup() as group:
        group.create_task(move())
        for n in range(6):
            group.create_task(client(n))

    # While the move held the tables, sales waited; after it, the hub sent them again.
    assert (503, "service_unavailable") in refusals  # some met the move
    assert refusals <= {(503, "service_unavailable"), (409, "conflict")}, refusals
    everything = await check_books(hub, shop, [shift])
    stored = {sale["id"]: sale for sale in everything}
    told = {a.reply["id"]: a.reply for a in attempts if a.reply is not None}
    assert len(told) == len(attempts)
    assert set(stored) == set(told)
    for sale_id, reply in told.items():
        assert same_sale(stored[sale_id], reply), sale_id


async def test_a_move_that_died_after_the_copy_is_finished_by_running_it_again(
    hub: httpx.AsyncClient,
    mover: Database,
    pg_cluster_urls: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    main, second = pg_cluster_urls
    kit = await build_tenant(hub)
    product = await create_product(hub, kit, name="Survivor")
    tenant_id = uuid.UUID(kit.tenant_id)

    async def dies(*_args: Any) -> None:
        raise KeyboardInterrupt  # the operator's process ends here

    with monkeypatch.context() as patched:
        patched.setattr(relocation, "_place", dies)
        with pytest.raises(KeyboardInterrupt):
            await move_tenant(mover, tenant_id, SECOND_CLUSTER)
    schema = tenant_schema_name(tenant_id)
    assert await schemas(main, kit.tenant_id) == {f"moved_{schema}"}
    assert await schemas(second, kit.tenant_id) == {schema}

    finished = await move_tenant(mover, tenant_id, SECOND_CLUSTER)
    assert finished.finished_earlier_move
    assert await schemas(main, kit.tenant_id) == set()
    # Died after switching the placement, before dropping the renamed copy: the same.
    await relocation._create_at_head(mover, "main", tenant_id)
    engine = create_async_engine(main, poolclass=NullPool)
    async with engine.begin() as conn:
        await conn.execute(text(f'ALTER SCHEMA "{schema}" RENAME TO "moved_{schema}"'))
    await engine.dispose()
    assert (await move_tenant(mover, tenant_id, SECOND_CLUSTER)).finished_earlier_move
    assert await schemas(main, kit.tenant_id) == set()
    with pytest.raises(MoveRefused, match="already"):
        await move_tenant(mover, tenant_id, SECOND_CLUSTER)
    found = await until_served(hub, f"/api/products/products/{product['id']}/", kit.token("owner"))
    assert found["name"] == "Survivor"


async def test_moves_that_cannot_be_made_are_refused_and_change_nothing(
    hub: httpx.AsyncClient, mover: Database, pg_cluster_urls: tuple[str, str]
) -> None:
    main, _ = pg_cluster_urls
    kit = await build_tenant(hub)
    tenant_id = uuid.UUID(kit.tenant_id)
    for moving, cluster, reason in (
        (tenant_id, "west", "no cluster named 'west'"),
        (tenant_id, "main", "on cluster main already"),
        (uuid.uuid4(), SECOND_CLUSTER, "no tenant"),
    ):
        with pytest.raises(MoveRefused, match=reason):
            await move_tenant(mover, moving, cluster)
    assert await schemas(main, kit.tenant_id) == {tenant_schema_name(tenant_id)}
    assert (await hub.get("/api/core/shops/", headers=kit.token("owner"))).status_code == 200


@pytest.mark.parametrize("settings", [{"cart_groups": True}, {"cart_groups": False}], indirect=True)
async def test_a_live_cart_survives_a_move_and_is_paid_on_the_new_cluster(
    live_hub: LiveHub, mover: Database
) -> None:
    """A till's cart, half built over the websocket, with its stock held: the tenant
    moves; the till's next change meets the move (service_unavailable, sent again; in a
    group, which hands it to the one-at-a-time path on the new cluster) and the cart goes
    on where it was, then is paid; nothing stays held."""
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        product = await create_product(http, kit, price="5.00")
        await receive(http, kit, product["id"], "10")
        register = await http.post(
            "/api/sales/cash-registers/",
            json={"name": "Till", "shop": kit.shop_id},
            headers=kit.token("manager"),
        )
        shift = await http.post(
            "/api/sales/sessions/",
            json={"cash_register": register.json()["id"], "opening_cash": "0"},
            headers=kit.token("cashier"),
        )
    async with hub_client(live_hub, kit.members["cashier"].token) as till:
        cart = (await till.request("cart.open", {"session": shift.json()["id"]}))["cart"]
        line = {"cart": cart["id"], "product": product["id"], "quantity": "2"}
        cart = (await till.request("cart.add", {**line, "version": cart["version"]}))["cart"]

        await move_tenant(mover, uuid.UUID(kit.tenant_id), SECOND_CLUSTER)

        refused: list[str] = []

        async def sent_until_done(type_: str, payload: dict[str, Any]) -> dict[str, Any]:
            deadline = time.monotonic() + PATIENCE
            while True:
                try:
                    return await till.request(type_, payload)
                except RequestFailed as exc:
                    if exc.code != "service_unavailable":
                        raise
                refused.append(type_)
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)

        again = await sent_until_done(
            "cart.add", {**line, "quantity": "1", "version": cart["version"]}
        )
        assert again["cart"]["version"] == cart["version"] + 1
        assert [(item["product"], item["quantity"]) for item in again["cart"]["lines"]] == [
            (product["id"], "3.000")
        ]
        paid = await sent_until_done(
            "cart.pay",
            {
                "cart": cart["id"],
                "version": again["cart"]["version"],
                "payments": [{"method": "cash", "amount": "20.00"}],
                "idempotency_key": uuid.uuid4().hex,
            },
        )
        assert paid["sale"]["total"] == "15.00"
        if live_hub.app.state.deps.cart_groups is None:
            assert refused == ["cart.add"]  # the first change after the move met it
        else:
            # It met it in its group's transaction, and was made one at a time on the
            # new cluster: the till was not refused at all.
            assert refused == []
    async with api(live_hub) as http:
        level = await stock_of(http, kit, product["id"])
        assert (level["on_hand"], level["reserved"]) == ("7.000", "0.000")
