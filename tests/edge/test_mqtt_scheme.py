"""The MQTT topic scheme and payload checks (no broker), the bridge's settings, and the
store's memory of device event ids that makes a redelivered scan count once."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from edge_agent.drivers import mqtt_scheme as scheme
from edge_agent.drivers.mqtt import MqttConfig, MqttDevice
from edge_agent.drivers.mqtt_scheme import Broker, Malformed, Route, Topics
from edge_agent.store import AgentStore

REGISTER = str(uuid.uuid4())


def test_topics_of_a_shop() -> None:
    topics = Topics("shop-1")
    assert topics.agent_status == "pos/v1/shop-1/agent/status"
    assert topics.status("scanner-1") == "pos/v1/shop-1/dev/scanner-1/status"
    assert topics.event("scanner-1", "scan") == "pos/v1/shop-1/dev/scanner-1/evt/scan"
    assert topics.command("display-1", "show") == "pos/v1/shop-1/dev/display-1/cmd/show"
    assert topics.result("display-1", "c-1") == "pos/v1/shop-1/dev/display-1/res/c-1"
    assert topics.agent_subscriptions() == [
        "pos/v1/shop-1/dev/+/status",
        "pos/v1/shop-1/dev/+/evt/+",
        "pos/v1/shop-1/dev/+/res/+",
    ]


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "shop 1", "x" * 65, "магазин"])
def test_names_that_would_break_a_topic_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        Topics(bad)
    with pytest.raises(ValueError):
        Topics("shop").status(bad)


@pytest.mark.parametrize(
    ("topic", "route"),
    [
        ("pos/v1/s/dev/sc/status", Route("sc", "status", "")),
        ("pos/v1/s/dev/sc/evt/scan", Route("sc", "evt", "scan")),
        ("pos/v1/s/dev/d/cmd/show", Route("d", "cmd", "show")),
        ("pos/v1/s/dev/d/res/abc:1", Route("d", "res", "abc:1")),
        ("pos/v1/other/dev/sc/status", None),  # another shop
        ("pos/v2/s/dev/sc/status", None),  # another version of the scheme
        ("pos/v1/s/agent/status", None),
        ("pos/v1/s/dev/sc/status/extra", None),
        ("pos/v1/s/dev/sc/evt", None),
        ("pos/v1/s/dev/sc/evt/scan/more", None),
        ("pos/v1/s/dev/sc/log/x", None),
        ("pos/v1/s/dev/s c/status", None),
        ("pos/v1/s/dev/d/res/a b", None),
    ],
)
def test_parsing_topics(topic: str, route: Route | None) -> None:
    assert Topics("s").parse(topic) == route


def test_a_scan_payload() -> None:
    document = scheme.decode(b'{"id": "e-1", "code": " 4601234567893 "}')
    assert scheme.message_id(document) == "e-1"
    assert scheme.scan_code(document) == "4601234567893"
    gs1 = "0104601234567893215abc\x1d93XYZ"
    assert scheme.scan_code({"code": gs1}) == gs1  # GS separators stay


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"online"', "not a JSON object"),
        (b'{"id": "e"' + b" " * scheme.MAX_PAYLOAD + b"}", "over"),
    ],
)
def test_undecodable_payloads(payload: bytes, problem: str) -> None:
    with pytest.raises(Malformed, match=problem):
        scheme.decode(payload)


@pytest.mark.parametrize(
    "document",
    [
        {"code": "123"},
        {"id": 7, "code": "123"},
        {"id": "", "code": "123"},
        {"id": "has space", "code": "123"},
        {"id": "x" * 65, "code": "123"},
    ],
)
def test_events_without_a_usable_id(document: dict[str, object]) -> None:
    with pytest.raises(Malformed, match="id"):
        scheme.message_id(document)


@pytest.mark.parametrize(
    "document",
    [
        {"id": "e"},
        {"id": "e", "code": 4601234567893},
        {"id": "e", "code": "   "},
        {"id": "e", "code": "x" * (scheme.MAX_CODE + 1)},
        {"id": "e", "code": "12\x003"},
        {"id": "e", "code": "код"},
    ],
)
def test_scans_without_a_usable_code(document: dict[str, object]) -> None:
    with pytest.raises(Malformed, match="code"):
        scheme.scan_code(document)


def test_device_statuses() -> None:
    assert scheme.device_status(b'{"status": "error", "detail": "jammed"}') == ("error", "jammed")
    assert scheme.device_status(scheme.status_document("online")) == ("online", "")
    assert scheme.device_status(b"Offline\n") == ("offline", "")  # a simple device's will
    long = json.dumps({"status": "error", "detail": "x" * 500}).encode()
    assert scheme.device_status(long) == ("error", "x" * scheme.MAX_DETAIL)
    for bad in (b'{"status": "sleepy"}', b'{"detail": "x"}', b'{"status": "online", "detail": 1}'):
        with pytest.raises(Malformed):
            scheme.device_status(bad)


def test_status_documents() -> None:
    online = json.loads(scheme.status_document("online"))
    assert online["status"] == "online"
    assert online["at"].endswith("+00:00")
    will = json.loads(scheme.status_document("offline", "connection lost", at=False))
    assert will == {"status": "offline", "detail": "connection lost"}  # no time: see docs


def test_broker_urls() -> None:
    broker = Broker.parse("mqtt://edge:s3cret@10.0.0.2:1884")
    assert (broker.host, broker.port, broker.username, broker.password) == (
        "10.0.0.2",
        1884,
        "edge",
        "s3cret",
    )
    assert broker.public_url == "mqtt://10.0.0.2:1884"  # never the password
    assert Broker.parse("mqtt://broker").port == 1883
    for bad in ("http://broker", "mqtt://", "mqtt://broker:99999"):
        with pytest.raises(ValueError):
            Broker.parse(bad)


def test_bridge_settings() -> None:
    config = MqttConfig(shop="shop-1", devices=(MqttDevice("sc", "scanner", REGISTER),))
    assert config.identifier == "pos-edge-shop-1"
    assert MqttConfig(client_id="till-agent").identifier == "till-agent"
    with pytest.raises(ValueError, match="register"):
        MqttDevice("sc", "scanner")
    with pytest.raises(ValueError, match="register"):
        MqttDevice("d", "display", REGISTER)
    with pytest.raises(ValueError, match="unique"):
        MqttConfig(devices=(MqttDevice("mqtt", "display"),))
    with pytest.raises(ValueError, match="unique"):
        MqttConfig(devices=(MqttDevice("d", "display"), MqttDevice("d", "display")))
    with pytest.raises(ValueError, match="reconnect"):
        MqttConfig(reconnect_base=5, reconnect_max=1)


async def test_an_event_recorded_once_per_key_across_reopening(tmp_path: Path) -> None:
    async with AgentStore(tmp_path / "agent.db") as store:
        first = await store.record_once("mqtt:sc:e1", "scan", {"code": "1"})
        assert first is not None
        assert await store.record_once("mqtt:sc:e1", "scan", {"code": "1"}) is None
        assert await store.record_once("mqtt:other:e1", "scan", {"code": "1"}) is not None
    async with AgentStore(tmp_path / "agent.db") as reopened:
        assert await reopened.record_once("mqtt:sc:e1", "scan", {"code": "1"}) is None
        pending = await reopened.pending()
        assert pending[0].event_id == first
        assert len(pending) == 2


async def test_the_memory_of_keys_is_bounded(tmp_path: Path) -> None:
    async with AgentStore(tmp_path / "agent.db") as store:
        for n in range(10):
            assert await store.record_once(f"k{n}", "scan", {"n": n}, keep=3) is not None
        cursor = await store.db.execute("SELECT key FROM seen_events ORDER BY rowid")
        assert [row["key"] for row in await cursor.fetchall()] == ["k7", "k8", "k9"]
        assert await store.record_once("k9", "scan", {}, keep=3) is None
        # Forgotten keys count as new again: the bound is what a redelivery may be late by.
        assert await store.record_once("k0", "scan", {}, keep=3) is not None


async def test_a_failed_write_remembers_nothing(tmp_path: Path) -> None:
    async with AgentStore(tmp_path / "agent.db") as store:
        with pytest.raises(TypeError):
            await store.record_once("k", "scan", {"bad": object()})  # not JSON: rolled back
        assert await store.record_once("k", "scan", {"ok": 1}) is not None
        assert len(await store.pending()) == 1
