"""Ending a session closes its websockets at once (4004), not when the token expires; a
role or shop change closes them as stale (4003), to come back with the new access."""

from __future__ import annotations

import uuid

import pytest

from protocol import channels, messages
from protocol.client import RequestFailed
from tests.conftest import LiveHub
from tests.e2e.ws_support import api, hub_client, tenant, wait_for
from tests.helpers import PASSWORD, bearer, login


async def test_logout_closes_that_sessions_socket_only(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    cashier = kit.members["cashier"]
    async with api(live_hub) as http:
        other = await login(http, cashier.username)
    async with (
        hub_client(live_hub, cashier.token) as mine,
        hub_client(live_hub, other["access"]) as elsewhere,
    ):
        async with api(live_hub) as http:
            out = await http.post("/api/users/auth/logout/", headers=bearer(cashier.token))
            assert out.status_code == 204
        await wait_for(lambda: not mine.connected, 5)
        assert mine.close_code == messages.CLOSE_REVOKED
        # The user's other session goes on.
        assert elsewhere.connected
        assert await elsewhere.request("ping")


async def test_deactivation_and_password_change_close_sockets(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    cashier, manager = kit.members["cashier"], kit.members["manager"]
    async with api(live_hub) as http:
        second = await login(http, manager.username)
    async with (
        hub_client(live_hub, cashier.token) as cashier_ws,
        hub_client(live_hub, manager.token) as kept,
        hub_client(live_hub, second["access"]) as ended,
    ):
        async with api(live_hub) as http:
            off = await http.delete(f"/api/users/users/{cashier.id}/", headers=kit.token("owner"))
            assert off.status_code == 204
            changed = await http.post(
                "/api/users/auth/change-password/",
                json={"old_password": PASSWORD, "new_password": "another-pass-77"},
                headers=bearer(manager.token),
            )
            assert changed.status_code == 200
        await wait_for(lambda: not cashier_ws.connected and not ended.connected, 5)
        assert cashier_ws.close_code == messages.CLOSE_REVOKED
        assert ended.close_code == messages.CLOSE_REVOKED
        # The session that changed the password keeps its socket.
        assert kept.connected


async def test_a_connection_cannot_leave_its_own_channel(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with hub_client(live_hub, kit.members["cashier"].token) as client:
        own = f"tenant:{kit.tenant_id}:user:{kit.members['cashier'].id}"
        await wait_for(lambda: own in client.positions, 2)  # subscribed by the hub itself
        with pytest.raises(RequestFailed) as refused:
            await client.unsubscribe(own)
        assert refused.value.code == "conflict"


async def test_nobody_else_may_hear_a_users_channel(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with hub_client(live_hub, kit.members["manager"].token) as client:
        with pytest.raises(RequestFailed) as refused:
            await client.subscribe(f"tenant:{kit.tenant_id}:user:{kit.members['cashier'].id}")
        assert refused.value.code == "permission_denied"


async def test_a_shop_change_closes_the_users_sockets_4003(live_hub: LiveHub) -> None:
    """Docs/permissions.md: a shop change makes the user's tokens stale at once; an open
    socket authorised by the old shops must not keep hearing them (QA: it did)."""
    kit = await tenant(live_hub)
    cashier = kit.members["cashier"]
    t = uuid.UUID(kit.tenant_id)
    first = channels.shop(t, uuid.UUID(kit.shop_id)).name
    async with (
        hub_client(live_hub, cashier.token) as cashier_ws,
        hub_client(live_hub, kit.members["owner"].token) as owner_ws,
    ):
        await cashier_ws.subscribe(first)
        async with api(live_hub) as http:
            moved = await http.patch(
                f"/api/users/users/{cashier.id}/",
                json={"shops": [kit.second_shop_id]},
                headers=kit.token("owner"),
            )
            assert moved.status_code == 200, moved.text
        await wait_for(lambda: not cashier_ws.connected, 5)
        assert cashier_ws.close_code == messages.CLOSE_TOKEN_EXPIRED
        # Nobody else's socket is touched.
        assert owner_ws.connected
        assert await owner_ws.request("ping")
    # Back with a fresh token, the first shop is refused, the second allowed.
    async with api(live_hub) as http:
        fresh = await login(http, cashier.username)
    async with hub_client(live_hub, fresh["access"]) as again:
        with pytest.raises(RequestFailed) as refused:
            await again.subscribe(first)
        assert refused.value.code == "permission_denied"
        await again.subscribe(channels.shop(t, uuid.UUID(kit.second_shop_id)).name)


async def test_a_demotion_closes_the_users_sockets_4003(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    manager = kit.members["manager"]
    sales = channels.sales(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    async with api(live_hub) as http:
        second = await login(http, manager.username)
    async with (
        hub_client(live_hub, manager.token) as one,
        hub_client(live_hub, second["access"]) as other_session,
    ):
        await one.subscribe(sales)
        async with api(live_hub) as http:
            demoted = await http.patch(
                f"/api/users/users/{manager.id}/",
                json={"role": "cashier"},
                headers=kit.token("owner"),
            )
            assert demoted.status_code == 200, demoted.text
        # Every session of the user: the role is the user's, not the session's.
        await wait_for(lambda: not one.connected and not other_session.connected, 5)
        assert one.close_code == messages.CLOSE_TOKEN_EXPIRED
        assert other_session.close_code == messages.CLOSE_TOKEN_EXPIRED


async def test_a_change_of_contact_details_keeps_the_socket(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    cashier = kit.members["cashier"]
    async with hub_client(live_hub, cashier.token) as client:
        async with api(live_hub) as http:
            edited = await http.patch(
                f"/api/users/users/{cashier.id}/",
                json={"full_name": "Anna K.", "shops": [kit.shop_id]},
                headers=kit.token("owner"),
            )
            assert edited.status_code == 200, edited.text
        assert "time" in await client.request("ping")
        assert client.connected
