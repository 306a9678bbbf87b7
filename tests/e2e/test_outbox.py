"""The outbox: an event reaches subscribers only after its transaction commits, exactly
once, whether the fast-path relay or the sweep publishes it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select

from hub.adapters.db.tables import OutboxEvent
from hub.adapters.db.uow import UnitOfWork
from protocol import channels
from protocol.codec import MSGPACK
from tests import services
from tests.conftest import LiveHub
from tests.e2e.ws_support import api, drain_events, hub_client, no_more_events, tenant, tenants
from tests.helpers import TenantKit

store = services.stores_with_clusters()

# No background sweep during a test: only the ones the tests call.
pytestmark = pytest.mark.parametrize("settings", [{"outbox_sweep_seconds": 3600}], indirect=True)


def shop_channel(kit: TenantKit) -> str:
    return channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name


async def outbox(live_hub: LiveHub, kit: TenantKit) -> list[OutboxEvent]:
    async with UnitOfWork(live_hub.app.state.deps.db, uuid.UUID(kit.tenant_id)) as uow:
        return list(await uow.session.scalars(select(OutboxEvent)))


async def patch_shop(live_hub: LiveHub, kit: TenantKit, role: str = "owner", **body: Any) -> Any:
    async with api(live_hub) as http:
        return await http.patch(
            f"/api/core/shops/{kit.shop_id}/", json=body, headers=kit.token(role)
        )


@contextlib.contextmanager
def no_fast_path(live_hub: LiveHub) -> Iterator[None]:
    """As if the process died between commit and relay."""
    db = live_hub.app.state.deps.db
    saved = db.after_commit
    db.after_commit = None
    try:
        yield
    finally:
        db.after_commit = saved


async def test_committed_event_is_relayed_at_once(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    channel = shop_channel(kit)
    async with hub_client(live_hub, kit.members["cashier"].token, codec=MSGPACK) as client:
        await client.subscribe(channel)
        for i in range(5):
            response = await patch_shop(live_hub, kit, name=f"Renamed {i}")
            assert response.status_code == 200, response.text
        events = await drain_events(client, 5)
        assert [e["type"] for e in events] == ["shop.updated"] * 5
        assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
        assert [e["payload"]["name"] for e in events] == [f"Renamed {i}" for i in range(5)]
        assert events[0]["payload"]["id"] == kit.shop_id
        assert await outbox(live_hub, kit) == []
        await no_more_events(client)


async def test_failed_requests_publish_nothing(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    channel = shop_channel(kit)
    broker = live_hub.app.state.realtime.broker
    async with hub_client(live_hub, kit.members["owner"].token) as client:
        await client.subscribe(channel)
        bad_zone = await patch_shop(live_hub, kit, name="Never", timezone="Mars/Olympus_Mons")
        assert bad_zone.status_code == 400, bad_zone.text
        assert bad_zone.json()["error"]["fields"] == {"timezone": "IANA name"}
        blank = await patch_shop(live_hub, kit, name="   ")
        assert blank.status_code == 400
        forbidden = await patch_shop(live_hub, kit, role="cashier", name="Never")
        assert forbidden.status_code == 403
        await no_more_events(client)
        assert await broker.position(channel) == (None, 0)
        assert await outbox(live_hub, kit) == []
        # The shop did not change, and the next real change is the channel's first event.
        good = await patch_shop(live_hub, kit, timezone="Europe/Paris")
        assert good.status_code == 200
        (event,) = await drain_events(client, 1)
        assert (event["seq"], event["payload"]["timezone"]) == (1, "Europe/Paris")
        assert event["payload"]["name"] != "Never"
        await no_more_events(client)


async def test_uncommitted_unit_of_work_publishes_nothing(live_hub: LiveHub) -> None:
    a, b = await tenants(live_hub, 2)
    channel = channels.shop(uuid.UUID(a.tenant_id), uuid.UUID(a.shop_id))
    db = live_hub.app.state.deps.db
    async with hub_client(live_hub, a.members["owner"].token) as client:
        await client.subscribe(channel.name)
        # Emitted, then the unit of work ends without commit.
        async with UnitOfWork(db, uuid.UUID(a.tenant_id), write=True) as uow:
            uow.emit(channel, "test.rolled_back", {"n": 1})

        # Emitted, flushed even, then an exception.
        async def emit_then_fail() -> None:
            async with UnitOfWork(db, uuid.UUID(a.tenant_id), write=True) as uow:
                uow.emit(channel, "test.rolled_back", {"n": 2})
                await uow.session.flush()
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await emit_then_fail()
        # An event for another tenant's channel is refused outright.
        async with UnitOfWork(db, uuid.UUID(b.tenant_id), write=True) as uow:
            with pytest.raises(ValueError, match="own tenant"):
                uow.emit(channel, "test.crossed", {"n": 3})
        await no_more_events(client)
        assert await outbox(live_hub, a) == []
        assert await outbox(live_hub, b) == []
        # Committed: delivered once, and the outbox is empty again.
        async with UnitOfWork(db, uuid.UUID(a.tenant_id), write=True) as uow:
            uow.emit(channel, "test.committed", {"n": 4})
            await uow.commit()
        (event,) = await drain_events(client, 1)
        assert (event["type"], event["seq"], event["payload"]) == ("test.committed", 1, {"n": 4})
        assert await outbox(live_hub, a) == []
        await no_more_events(client)


async def test_events_a_caller_wrote_itself_are_relayed_once(live_hub: LiveHub) -> None:
    """`outbox_rows` hands the events emitted so far to a caller that writes them in a
    statement of its own; commit writes only the later ones, and relays them all."""
    kit = await tenant(live_hub)
    channel = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id))
    db = live_hub.app.state.deps.db
    async with hub_client(live_hub, kit.members["owner"].token) as client:
        await client.subscribe(channel.name)
        async with UnitOfWork(db, uuid.UUID(kit.tenant_id), write=True) as uow:
            uow.emit(channel, "test.event", {"n": 1})
            uow.emit(channel, "test.event", {"n": 2})
            rows = uow.outbox_rows()
            assert [r["payload"] for r in rows] == [{"n": 1}, {"n": 2}]
            await (await uow.connection()).execute(insert(OutboxEvent.__table__), rows)
            assert uow.outbox_rows() == []
            uow.emit(channel, "test.event", {"n": 3})
            await uow.commit()
        events = await drain_events(client, 3)
        assert [(e["seq"], e["payload"]["n"]) for e in events] == [(1, 1), (2, 2), (3, 3)]
        assert await outbox(live_hub, kit) == []
        await no_more_events(client)


async def test_unrelayed_event_is_swept_exactly_once(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    channel = shop_channel(kit)
    relay = live_hub.app.state.relay
    async with hub_client(live_hub, kit.members["manager"].token) as client:
        await client.subscribe(channel)
        with no_fast_path(live_hub):
            response = await patch_shop(live_hub, kit, name="Swept")
            assert response.status_code == 200
        await no_more_events(client)
        (row,) = await outbox(live_hub, kit)
        assert (row.channel, row.type, row.payload["name"]) == (channel, "shop.updated", "Swept")

        assert await relay.sweep() >= 1
        (event,) = await drain_events(client, 1)
        assert (event["type"], event["seq"], event["payload"]["name"]) == (
            "shop.updated",
            1,
            "Swept",
        )
        assert await outbox(live_hub, kit) == []

        await relay.sweep()
        assert await relay.drain(uuid.UUID(kit.tenant_id)) == 0
        await no_more_events(client)
        assert await live_hub.app.state.realtime.broker.position(channel) == (event["epoch"], 1)


async def test_left_behind_event_goes_out_before_newer_ones(live_hub: LiveHub) -> None:
    """The next commit's relay drains what an earlier one left, oldest first."""
    kit = await tenant(live_hub)
    channel = shop_channel(kit)
    async with hub_client(live_hub, kit.members["owner"].token) as client:
        await client.subscribe(channel)
        with no_fast_path(live_hub):
            assert (await patch_shop(live_hub, kit, name="Older")).status_code == 200
        await no_more_events(client)
        assert (await patch_shop(live_hub, kit, name="Newer")).status_code == 200
        events = await drain_events(client, 2)
        assert [(e["seq"], e["payload"]["name"]) for e in events] == [(1, "Older"), (2, "Newer")]
        assert await outbox(live_hub, kit) == []
        await live_hub.app.state.relay.sweep()
        await no_more_events(client)


async def test_published_but_not_deleted_is_not_delivered_again(live_hub: LiveHub) -> None:
    """A relay that published and then died before deleting: the sweep republishes with
    the same outbox id, and the broker drops the repeat."""
    kit = await tenant(live_hub)
    channel = shop_channel(kit)
    relay = live_hub.app.state.relay
    broker = live_hub.app.state.realtime.broker
    async with hub_client(live_hub, kit.members["owner"].token) as client:
        await client.subscribe(channel)
        with no_fast_path(live_hub):
            for name in ("First", "Second"):
                assert (await patch_shop(live_hub, kit, name=name)).status_code == 200
        rows = sorted(await outbox(live_hub, kit), key=lambda r: (r.created_at, r.id))
        assert [r.payload["name"] for r in rows] == ["First", "Second"]
        for row in rows:  # what the dying relay managed to do
            await broker.publish(row.channel, row.type, row.payload, event_id=str(row.id))
        events = await drain_events(client, 2)
        assert [e["payload"]["name"] for e in events] == ["First", "Second"]

        await relay.sweep()
        assert await outbox(live_hub, kit) == []
        await no_more_events(client)
        assert (await broker.position(channel))[1] == 2


async def test_broker_deduplicates_by_event_id(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    channel = shop_channel(kit)
    broker = live_hub.app.state.realtime.broker
    async with hub_client(live_hub, kit.members["owner"].token, codec=MSGPACK) as client:
        await client.subscribe(channel)
        event_id = str(uuid.uuid4())
        first = await broker.publish(channel, "test.event", {"n": 1}, event_id=event_id)
        again = await broker.publish(channel, "test.event", {"n": 1}, event_id=event_id)
        assert first is not None
        assert first.seq == 1
        assert again is None
        other = await broker.publish(channel, "test.event", {"n": 2}, event_id=str(uuid.uuid4()))
        plain = [await broker.publish(channel, "test.event", {"n": 3}) for _ in range(2)]
        assert other is not None
        assert other.seq == 2
        assert [p.seq for p in plain if p is not None] == [3, 4]
        events = await drain_events(client, 4)
        assert [(e["seq"], e["payload"]["n"]) for e in events] == [(1, 1), (2, 2), (3, 3), (4, 3)]
        await no_more_events(client)
        # The same id on another channel is still the same event: dropped.
        elsewhere = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.second_shop_id)).name
        assert await broker.publish(elsewhere, "test.event", {}, event_id=event_id) is None
        assert await broker.position(elsewhere) == (None, 0)
