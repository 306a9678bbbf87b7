"""Websocket authentication: header, `bearer.` subprotocol and `auth` first frame, both
codecs, refusals (4001), the auth timeout (4002), devices and their revocation (4004)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import websockets

import hub.services.users as users_service
import hub.web.websocket as ws_module
from hub.adapters.security.tokens import AccessTokens
from protocol import channels, messages
from protocol.client import HubClient, RequestFailed
from protocol.codec import JSON, MSGPACK, Codec
from tests.conftest import TEST_SECRET, LiveHub
from tests.e2e.ws_support import (
    CODEC_IDS,
    CODECS,
    api,
    closed_code,
    hello,
    hub_client,
    raw,
    recv_frames,
    recv_until,
    request,
    tenant,
    wait_for,
)
from tests.helpers import bearer


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize("via", ["header", "subprotocol", "frame"])
async def test_each_way_of_giving_the_token_authenticates(
    live_hub: LiveHub, codec: Codec, via: str
) -> None:
    kit = await tenant(live_hub)
    owner = kit.members["owner"]
    async with hub_client(live_hub, owner.token, codec=codec, token_via=via) as client:
        assert client._ws is not None
        assert client._ws.subprotocol == codec.name
        assert client.hello["kind"] == "user"
        assert client.hello["tenant"] == kit.tenant_id
        assert client.hello["protocol"] == messages.PROTOCOL_VERSION
        assert 0 < client.hello["token_expires_in"] <= 900
        # The hub's clock, by which devices tell a job's age.
        assert abs(client.hello["server_time"] - time.time()) < 60
        # The connection is usable: a ping gets its reply, a subscribe its position.
        assert "time" in await client.request("ping")
        shop = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
        assert (await client.subscribe(shop))["channel"] == shop


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_frames_use_the_negotiated_codec(live_hub: LiveHub, codec: Codec) -> None:
    kit = await tenant(live_hub)
    async with raw(live_hub, token=kit.members["owner"].token, codec=codec) as ws:
        assert ws.subprotocol == codec.name
        data = await ws.recv()
        assert isinstance(data, bytes if codec.binary else str)
        assert codec.decode(data)["type"] == "hello"
        reply = await request(ws, "ping", id="p-1", codec=codec)
        assert reply["type"] == "ok"


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_the_hello_comes_alone_when_the_user_is_already_connected(
    live_hub: LiveHub, codec: Codec
) -> None:
    """A second connection of the same user (a second tab, a phone): its own channel is
    already heard, so the subscription's `ok` was once ready at once and went out in one
    batch with the hello, which a browser waiting for a bare hello never saw."""
    kit = await tenant(live_hub)
    token = kit.members["manager"].token
    async with raw(live_hub, token=token, codec=codec) as first:
        await hello(first, codec)
        for _ in range(3):
            async with raw(live_hub, token=token, codec=codec) as again:
                frame = codec.decode(await again.recv())
                assert frame["type"] == "hello", frame
                own = codec.decode(await again.recv())
                assert (own["type"], "id" in own) == ("ok", False), own


async def test_no_codec_offered_means_json_without_subprotocol(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with raw(live_hub, token=kit.members["owner"].token, subprotocols=[]) as ws:
        assert ws.subprotocol is None
        data = await ws.recv()
        assert isinstance(data, str)
        assert JSON.decode(data)["type"] == "hello"


async def test_bearer_subprotocol_is_not_echoed_back(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    token = kit.members["cashier"].token
    async with raw(live_hub, subprotocols=["bearer." + token, MSGPACK.name]) as ws:
        # The codec is chosen; the token entry is never the negotiated subprotocol.
        assert ws.subprotocol == MSGPACK.name
        assert (await hello(ws, MSGPACK))["payload"]["kind"] == "user"


def _expired_token(valid: str) -> str:
    tokens = AccessTokens(TEST_SECRET, 60)
    claims = tokens.decode(valid)
    expired, _ = tokens.issue(
        user_id=claims.user_id,
        tenant_id=claims.tenant_id,
        role=claims.role,
        shops=list(claims.shops),
        session_id=claims.session_id,
        auth_version=claims.auth_version,
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    return expired


def _forged_token(valid: str) -> str:
    claims = AccessTokens(TEST_SECRET, 60).decode(valid)
    forged, _ = AccessTokens("another-secret-" + "y" * 40, 60).issue(
        user_id=claims.user_id,
        tenant_id=claims.tenant_id,
        role="owner",
        shops=[],
        session_id=claims.session_id,
        auth_version=claims.auth_version,
    )
    return forged


async def _refused(live_hub: LiveHub, token: str, codec: Codec, via: str) -> tuple[dict, int]:
    """Connect with a bad token; the error frame and the close code."""
    subprotocols = [codec.name]
    headers = {}
    if via == "header":
        headers["Authorization"] = f"Bearer {token}"
    elif via == "subprotocol":
        subprotocols.append("bearer." + token)
    async with websockets.connect(
        live_hub.ws,
        subprotocols=subprotocols,  # type: ignore[arg-type]
        additional_headers=headers,
        ping_interval=None,
        compression=None,
    ) as ws:
        if via == "frame":
            await ws.send(codec.encode({"type": "auth", "payload": {"token": token}}))
        frames = await recv_frames(ws, codec)
        code = await closed_code(ws)
    assert len(frames) == 1
    return frames[0], code


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize("via", ["header", "subprotocol", "frame"])
@pytest.mark.parametrize("kind", ["garbage", "expired", "forged", "revoked", "revoked-device"])
async def test_bad_tokens_get_an_error_frame_then_4001(
    live_hub: LiveHub, codec: Codec, via: str, kind: str
) -> None:
    kit = await tenant(live_hub)
    valid = kit.members["manager"].token
    if kind == "garbage":
        token = "not-a-token"
    elif kind == "expired":
        token = _expired_token(valid)
    elif kind == "forged":
        token = _forged_token(valid)
    elif kind == "revoked":
        token = valid
        async with api(live_hub) as client:
            out = await client.post("/api/users/auth/logout/", json={}, headers=bearer(valid))
            assert out.status_code in (200, 204), out.text
            assert (await client.get("/api/users/auth/me/", headers=bearer(valid))).status_code
    else:
        token = kit.device_token
        async with api(live_hub) as client:
            out = await client.delete(
                f"/api/users/device-tokens/{kit.device_id}/", headers=kit.token("owner")
            )
            assert out.status_code in (200, 204), out.text
    error, code = await _refused(live_hub, token, codec, via)
    assert error["type"] == "error"
    assert error["payload"]["code"] == "not_authenticated"
    assert error["payload"]["message"]
    assert code == messages.CLOSE_AUTH_FAILED
    assert not live_hub.app.state.realtime.connections


async def test_client_reports_refusal(live_hub: LiveHub) -> None:
    client = HubClient(live_hub.ws, "nope", codec=MSGPACK)
    try:
        with pytest.raises(RequestFailed) as failure:
            await client.connect()
        assert failure.value.code == "not_authenticated"
    finally:
        await client.close()


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_first_frame_other_than_auth_is_refused(live_hub: LiveHub, codec: Codec) -> None:
    kit = await tenant(live_hub)
    shop = channels.shop(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    async with raw(live_hub, codec=codec) as ws:
        await ws.send(codec.encode({"type": "subscribe", "id": 1, "payload": {"channel": shop}}))
        frames = await recv_frames(ws, codec)
        assert [f["type"] for f in frames] == ["error"]
        assert frames[0]["payload"]["code"] == "not_authenticated"
        assert await closed_code(ws) == messages.CLOSE_AUTH_FAILED


@pytest.mark.parametrize("first", [b"\xc1\xff", "{not json", '["auth"]', '{"type": "auth"}'])
async def test_malformed_auth_frame_is_refused(live_hub: LiveHub, first: str | bytes) -> None:
    async with raw(live_hub, codec=JSON) as ws:
        await ws.send(first)
        frames = await recv_frames(ws, JSON)
        assert [f["type"] for f in frames] == ["error"]
        assert frames[0]["payload"]["code"] == "not_authenticated"
        assert await closed_code(ws) == messages.CLOSE_AUTH_FAILED


async def test_auth_frame_over_the_frame_limit_is_refused(live_hub: LiveHub) -> None:
    limit = live_hub.app.state.realtime.settings.max_frame_bytes
    async with raw(live_hub, codec=JSON) as ws:
        await ws.send(JSON.encode({"type": "auth", "payload": {"token": "x" * (limit + 10)}}))
        frames = await recv_frames(ws, JSON)
        assert frames[0]["payload"]["code"] == "not_authenticated"
        assert await closed_code(ws) == messages.CLOSE_AUTH_FAILED


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_no_auth_frame_in_time_closes_4002(
    live_hub: LiveHub, codec: Codec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_module, "AUTH_TIMEOUT", 0.3)
    async with raw(live_hub, codec=codec) as ws:
        assert await closed_code(ws, wait=3) == messages.CLOSE_AUTH_TIMEOUT
    assert not live_hub.app.state.realtime.connections


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_device_token_connects_as_device_on_its_own_channel(
    live_hub: LiveHub, codec: Codec
) -> None:
    kit = await tenant(live_hub)
    own = channels.device(uuid.UUID(kit.tenant_id), uuid.UUID(kit.device_id)).name
    realtime = live_hub.app.state.realtime
    async with raw(live_hub, token=kit.device_token, codec=codec) as ws:
        frames = await recv_frames(ws, codec)
        if len(frames) == 1:
            frames += await recv_frames(ws, codec)
        first, ok = frames[0], frames[1]
        assert first["payload"]["kind"] == "device"
        assert first["payload"]["tenant"] == kit.tenant_id
        assert first["payload"]["token_expires_in"] is None
        # Auto-subscribed: the `ok` of that subscription carries no request id.
        assert ok["type"] == "ok"
        assert ok["payload"]["data"]["channel"] == own
        assert "id" not in ok
        (connection,) = realtime.connections.values()
        assert list(connection.subscriptions) == [own]
        await realtime.broker.publish(own, "job.queued", {"n": 1})
        event = await recv_until(ws, lambda f: f["type"] == "job.queued", codec)
        assert event["channel"] == own
        assert event["seq"] == 1
        assert event["payload"] == {"n": 1}


async def test_device_subscribing_to_own_channel_again_is_fine(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    own = channels.device(uuid.UUID(kit.tenant_id), uuid.UUID(kit.device_id)).name
    async with hub_client(live_hub, kit.device_token) as client:
        assert client.hello["kind"] == "device"
        data = await client.subscribe(own)
        assert data["channel"] == own
        await live_hub.app.state.realtime.broker.publish(own, "job.queued", {"n": 1})
        event = await client.events.get()
        assert event["payload"] == {"n": 1}


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
async def test_revoking_the_device_token_closes_its_socket_4004(
    live_hub: LiveHub, codec: Codec
) -> None:
    kit = await tenant(live_hub)
    own = channels.device(uuid.UUID(kit.tenant_id), uuid.UUID(kit.device_id)).name
    realtime = live_hub.app.state.realtime
    async with (
        raw(live_hub, token=kit.device_token, codec=codec) as device_ws,
        hub_client(live_hub, kit.members["owner"].token) as owner,
    ):
        await hello(device_ws, codec)  # its automatic subscription included
        (connection,) = [
            c for c in live_hub.app.state.realtime.connections.values() if c.principal.is_device
        ]
        assert own in connection.subscriptions
        await wait_for(lambda: len(realtime.connections) == 2)
        async with api(live_hub) as client:
            out = await client.delete(
                f"/api/users/device-tokens/{kit.device_id}/", headers=kit.token("owner")
            )
            assert out.status_code in (200, 204), out.text
        assert await closed_code(device_ws) == messages.CLOSE_REVOKED
        # The owner (a user on another channel) is untouched.
        assert owner.connected
        assert "time" in await owner.request("ping")
    await wait_for(lambda: not realtime.connections)
    # The revoked token cannot come back.
    error, code = await _refused(live_hub, kit.device_token, JSON, "header")
    assert error["payload"]["code"] == "not_authenticated"
    assert code == messages.CLOSE_AUTH_FAILED


async def test_hub_client_reports_the_revocation_close_code(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    realtime = live_hub.app.state.realtime
    async with hub_client(live_hub, kit.device_token) as device:
        own = channels.device(uuid.UUID(kit.tenant_id), uuid.UUID(kit.device_id)).name
        await wait_for(lambda: any(own in c.subscriptions for c in realtime.connections.values()))
        async with api(live_hub) as client:
            out = await client.delete(
                f"/api/users/device-tokens/{kit.device_id}/", headers=kit.token("owner")
            )
            assert out.status_code in (200, 204)
        await wait_for(lambda: not device.connected)
        assert device.close_code == messages.CLOSE_REVOKED


async def test_renewing_with_another_identity_is_refused(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    async with hub_client(live_hub, kit.members["cashier"].token) as client:
        with pytest.raises(RequestFailed) as failure:
            await client.request("auth", {"token": kit.members["owner"].token})
        assert failure.value.code == "permission_denied"
        # Renewing with a fresh token of the same user is accepted.
        async with api(live_hub) as http:
            fresh = await http.post(
                "/api/users/auth/login/",
                json={"username": kit.members["cashier"].username, "password": "correct-horse-9"},
            )
        assert await client.request("auth", {"token": fresh.json()["access"]}) == {}
        assert "time" in await client.request("ping")


def _notice_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """A demotion closes the user's sockets (test_ws_sessions.py) by a notice through the
    broker; should that notice be lost, a renewal still re-checks the connection."""
    monkeypatch.setattr(users_service, "tokens_outdated", lambda uow, user_id: None)


async def test_renewal_with_a_demoted_token_cannot_subscribe_to_what_it_lost(
    live_hub: LiveHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    _notice_lost(monkeypatch)
    kit = await tenant(live_hub)
    manager = kit.members["manager"]
    sales = channels.sales(uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)).name
    async with hub_client(live_hub, manager.token) as client:
        await client.subscribe(sales)
        async with api(live_hub) as http:
            demoted = await http.patch(
                f"/api/users/users/{manager.id}/",
                json={"role": "cashier"},
                headers=kit.token("owner"),
            )
            assert demoted.status_code == 200, demoted.text
            fresh = await http.post(
                "/api/users/auth/login/",
                json={"username": manager.username, "password": "correct-horse-9"},
            )
        assert await client.request("auth", {"token": fresh.json()["access"]}) == {}
        with pytest.raises(RequestFailed) as failure:
            await client.subscribe(sales)
        assert failure.value.code == "permission_denied"


async def test_renewal_with_a_demoted_token_stops_what_it_lost(
    live_hub: LiveHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manager demoted to cashier renews with its new token (as it must, the old one is
    stale) and once kept hearing the shop's live sales feed, for as long as it renewed."""
    _notice_lost(monkeypatch)
    kit = await tenant(live_hub)
    manager = kit.members["manager"]
    t, s = uuid.UUID(kit.tenant_id), uuid.UUID(kit.shop_id)
    sales, shop = channels.sales(t, s).name, channels.shop(t, s).name
    realtime = live_hub.app.state.realtime
    async with hub_client(live_hub, manager.token) as client:
        await client.subscribe(sales)
        await client.subscribe(shop)
        async with api(live_hub) as http:
            demoted = await http.patch(
                f"/api/users/users/{manager.id}/",
                json={"role": "cashier"},
                headers=kit.token("owner"),
            )
            assert demoted.status_code == 200, demoted.text
            fresh = await http.post(
                "/api/users/auth/login/",
                json={"username": manager.username, "password": "correct-horse-9"},
            )
        assert await client.request("auth", {"token": fresh.json()["access"]}) == {}
        await realtime.broker.publish(sales, "sale.completed", {"total": "12.50"})
        await realtime.broker.publish(shop, "shop.updated", {"n": 1})
        notice = await client.events.get()
        # The hub ends what the demoted token no longer allows, and says so...
        assert notice["type"] == "unsubscribed", notice
        assert notice["payload"]["channel"] == sales
        assert sales not in client.positions
        event = await client.events.get()
        # ...so only the shop channel (still allowed to a cashier) is heard.
        assert event["channel"] == shop, event


async def test_revoked_device_is_closed_even_after_leaving_its_channel(
    live_hub: LiveHub,
) -> None:
    kit = await tenant(live_hub)
    t = uuid.UUID(kit.tenant_id)
    own = channels.device(t, uuid.UUID(kit.device_id)).name
    shop = channels.shop(t, uuid.UUID(kit.shop_id)).name
    realtime = live_hub.app.state.realtime
    async with hub_client(live_hub, kit.device_token) as device:
        # An agent may not leave its own queue (the revocation travels on it)...
        with pytest.raises(RequestFailed) as refused:
            await device.unsubscribe(own)
        assert refused.value.code == "conflict"
        await device.subscribe(shop)
        async with api(live_hub) as client:
            out = await client.delete(
                f"/api/users/device-tokens/{kit.device_id}/", headers=kit.token("owner")
            )
            assert out.status_code in (200, 204)
        await realtime.broker.publish(shop, "stock.changed", {"n": 1})
        await wait_for(lambda: not device.connected, 3)
        assert device.close_code == messages.CLOSE_REVOKED
