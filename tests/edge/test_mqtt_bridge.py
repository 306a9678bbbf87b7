"""The agent's MQTT bridge against the real broker (POS_TEST_MQTT_URL) and the simulated
devices: scans land in the outbox exactly once for their till, redeliveries and
duplicates are dropped (also across a restart), garbage is skipped, the agent's status
is retained with a last will, commands get their results, device statuses become
events. Each test has its own shop id, so tests never see each other's topics."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge_agent.config import AgentConfig
from edge_agent.devices import build
from edge_agent.drivers import mqtt_scheme as scheme
from edge_agent.drivers.mqtt import (
    BrokerUnavailable,
    CommandTimeout,
    MqttBridge,
    MqttConfig,
    MqttDevice,
)
from edge_agent.drivers.mqtt_scheme import Broker, Topics
from edge_agent.simulators.mqtt import SimulatedMqttDisplay, SimulatedMqttScanner
from edge_agent.store import AgentStore, OutboxEvent
from tests import services

WAIT = 5.0  # a bound on waiting for what must happen, not a timing being tested
URL = services.MQTT_URL
REGISTER = str(uuid.uuid4())
SCANNER, DISPLAY, STRANGER = "scanner-1", "display-1", "stranger"


async def forget(shop: str) -> None:
    """Leave the broker as it was: the agent's persistent session and the retained
    statuses of the test's shop go."""
    broker, topics = Broker.parse(URL), Topics(shop)
    async with aiomqtt.Client(
        broker.host, broker.port, identifier=f"pos-edge-{shop}", clean_session=True
    ):
        pass
    async with aiomqtt.Client(broker.host, broker.port) as client:
        cleared = [topics.agent_status, topics.event(SCANNER, "scan")]
        cleared += [topics.status(device) for device in (SCANNER, DISPLAY, STRANGER)]
        for topic in cleared:
            await client.publish(topic, b"", qos=1, retain=True)


@pytest.fixture
async def shop() -> AsyncIterator[str]:
    services.need("mqtt")
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name
    await forget(name)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AgentStore]:
    async with AgentStore(tmp_path / "agent.db") as opened:
        yield opened


def config_for(shop: str, **overrides: Any) -> MqttConfig:
    values: dict[str, Any] = {
        "url": URL,
        "shop": shop,
        "devices": (MqttDevice(SCANNER, "scanner", REGISTER), MqttDevice(DISPLAY, "display")),
        "reconnect_base": 0.05,
        "reconnect_max": 0.2,
        "command_timeout": WAIT,
    }
    values.update(overrides)
    return MqttConfig(**values)


class Outbox:
    """The agent's store as the bridge fills it, with a way to wait on it: the bridge
    calls `notify` after each event it records."""

    def __init__(self, store: AgentStore) -> None:
        self.store = store
        self.changed = asyncio.Event()

    def notify(self) -> None:
        self.changed.set()

    async def until(self, predicate: Callable[[list[OutboxEvent]], bool]) -> list[OutboxEvent]:
        async with asyncio.timeout(WAIT):
            while True:
                self.changed.clear()
                events = await self.store.pending(1000)
                if predicate(events):
                    return events
                await self.changed.wait()

    async def scans(self) -> list[dict[str, Any]]:
        return [e.payload for e in await self.store.pending(1000) if e.type == "scan"]

    async def statuses(self, name: str) -> list[tuple[str, str]]:
        events = await self.store.pending(1000)
        return [
            (e.payload["status"], e.payload["detail"])
            for e in events
            if e.type == "device.status" and e.payload["name"] == name
        ]


def has_scan(code: str) -> Callable[[list[OutboxEvent]], bool]:
    return lambda events: any(e.type == "scan" and e.payload["code"] == code for e in events)


def has_status(name: str, status: str) -> Callable[[list[OutboxEvent]], bool]:
    return lambda events: any(
        e.type == "device.status" and e.payload["name"] == name and e.payload["status"] == status
        for e in events
    )


async def until_set(event: asyncio.Event, task: asyncio.Task[None] | None = None) -> None:
    """`event` set within WAIT; what stopped `task` if it stopped first."""
    waiter = asyncio.ensure_future(event.wait())
    watched: set[asyncio.Future[Any]] = {waiter} | ({task} if task else set())
    done, _ = await asyncio.wait(watched, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task is not None and task in done:
        task.result()
        raise AssertionError("the bridge stopped")
    assert event.is_set(), "not within the wait"


@asynccontextmanager
async def running(bridge: MqttBridge, outbox: Outbox) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(bridge.run(outbox.store, outbox.notify))
    try:
        await until_set(bridge.connected, task)
        yield task
    finally:
        await bridge.stop()
        await asyncio.wait_for(task, WAIT)


@asynccontextmanager
async def started(device: Any) -> AsyncIterator[Any]:
    await device.start()
    try:
        yield device
    finally:
        await device.stop()


class Watcher:
    """A plain client subscribed to one topic, as a dashboard in the shop would be."""

    def __init__(self, topic: str) -> None:
        broker = Broker.parse(URL)
        self.topic = topic
        self.client = aiomqtt.Client(broker.host, broker.port)
        self.messages: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        await self.client.__aenter__()
        await self.client.subscribe(self.topic, qos=1)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._reader is not None
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.client.__aexit__(None, None, None)

    async def _read(self) -> None:
        async for message in self.client.messages:
            await self.messages.put(message)

    async def status(self, wanted: str) -> tuple[dict[str, Any], bool]:
        """The next status document saying `wanted`, and whether it came retained."""
        async with asyncio.timeout(WAIT):
            while True:
                message = await self.messages.get()
                if message.payload and document(message)["status"] == wanted:
                    return document(message), message.retain


def document(message: aiomqtt.Message) -> dict[str, Any]:
    assert isinstance(message.payload, bytes)
    parsed: dict[str, Any] = json.loads(message.payload)
    return parsed


# --- scans -------------------------------------------------------------------------


async def test_a_scan_lands_once_for_the_scanners_till(shop: str, store: AgentStore) -> None:
    outbox = Outbox(store)
    bridge = MqttBridge(config_for(shop))
    async with running(bridge, outbox), started(SimulatedMqttScanner(URL, shop, SCANNER)) as sc:
        first = await sc.scan("4601234567893")
        await outbox.until(has_scan("4601234567893"))
        await sc.scan("4601234567893", event_id=first)  # the same event again
        await sc.scan("2000000000015")
        # Events from one device arrive in order: the duplicate was handled by now.
        await outbox.until(has_scan("2000000000015"))
        assert await outbox.scans() == [
            {"scanner": SCANNER, "register": REGISTER, "code": "4601234567893"},
            {"scanner": SCANNER, "register": REGISTER, "code": "2000000000015"},
        ]
        assert (bridge.counters.scans, bridge.counters.duplicates) == (2, 1)


async def test_a_duplicate_after_the_agent_restarted_is_ignored(shop: str, tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    async with started(SimulatedMqttScanner(URL, shop, SCANNER)) as sc:
        async with AgentStore(path) as store:
            outbox = Outbox(store)
            async with running(MqttBridge(config_for(shop)), outbox):
                first = await sc.scan("4601234567893")
                await outbox.until(has_scan("4601234567893"))
        # The agent is away: the broker keeps its session and what comes for it.
        await sc.scan("4601234567893", event_id=first)
        await sc.scan("2000000000015")
        async with AgentStore(path) as reopened:
            outbox = Outbox(reopened)
            again = MqttBridge(config_for(shop))
            async with running(again, outbox):
                await outbox.until(has_scan("2000000000015"))
                assert [s["code"] for s in await outbox.scans()] == [
                    "4601234567893",
                    "2000000000015",
                ]
                assert again.counters.duplicates == 1


async def test_a_scan_that_did_not_reach_the_disk_comes_again(
    shop: str, store: AgentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store fails once: the message is not acknowledged, the bridge reconnects,
    and the broker delivers it again."""
    real = store.record_once
    failures = [OSError("disk full")]

    async def failing_once(*args: Any, **kwargs: Any) -> str | None:
        if failures:
            raise failures.pop()
        return await real(*args, **kwargs)

    monkeypatch.setattr(store, "record_once", failing_once)
    outbox = Outbox(store)
    bridge = MqttBridge(config_for(shop))
    async with running(bridge, outbox), started(SimulatedMqttScanner(URL, shop, SCANNER)) as sc:
        await sc.scan("4601234567893")
        await outbox.until(has_scan("4601234567893"))
        assert failures == []
        assert bridge.counters.connections == 2
        assert len(await outbox.scans()) == 1
        assert (await outbox.statuses("mqtt"))[-2:] == [
            ("offline", "the agent's store failed: OSError: disk full"),
            ("online", ""),
        ]


async def test_a_redelivery_after_a_lost_acknowledgement_counts_once(
    shop: str, store: AgentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan is on disk but the connection goes before the PUBACK: the broker sends
    it again after the reconnect, and the remembered id drops it."""
    bridge = MqttBridge(config_for(shop))
    real = store.record_once
    cut = [True]

    async def recorded_then_cut(*args: Any, **kwargs: Any) -> str | None:
        event = await real(*args, **kwargs)
        if cut:
            cut.pop()
            bridge.abort_connection()
        return event

    monkeypatch.setattr(store, "record_once", recorded_then_cut)
    outbox = Outbox(store)
    async with running(bridge, outbox), started(SimulatedMqttScanner(URL, shop, SCANNER)) as sc:
        await sc.scan("4601234567893")
        await outbox.until(lambda _: bridge.counters.connections == 2)
        # The broker resends what was in flight first: the redelivery precedes this.
        await sc.scan("2000000000015")
        await outbox.until(has_scan("2000000000015"))
        assert [s["code"] for s in await outbox.scans()] == ["4601234567893", "2000000000015"]
        assert bridge.counters.duplicates == 1
        assert bridge.counters.connections == 2


async def test_garbage_is_skipped_and_the_bridge_keeps_working(
    shop: str, store: AgentStore
) -> None:
    outbox = Outbox(store)
    bridge = MqttBridge(config_for(shop))
    async with (
        started(SimulatedMqttScanner(URL, shop, SCANNER)) as sc,
        started(SimulatedMqttScanner(URL, shop, STRANGER)) as stranger,
    ):
        # A scan left retained on the broker would come back at every subscription.
        await sc.send_raw(scheme.encode({"id": "e-0", "code": "000"}), retain=True)
        async with running(bridge, outbox) as task:
            malformed = [
                b"\xff\xfe\x00",
                b"not json at all",
                b"[1, 2, 3]",
                b'{"code": "4601234567893"}',  # no id
                b'{"id": 42, "code": "4601234567893"}',
                b'{"id": "e-1"}',  # no code
                b'{"id": "e-2", "code": "46\\u0000123"}',
                b'{"id": "e-3", "code": "' + b"7" * 300 + b'"}',
                b'{"id": "e-4", "code": "' + b"7" * 5000 + b'"}',  # over the payload limit
            ]
            for payload in malformed:
                await sc.send_raw(payload)
            await sc.send_raw(scheme.encode({"id": "e-6", "code": "222"}), type_="battery")
            await stranger.scan("333")  # a scanner the config does not know
            await sc.client.publish(Topics(shop).status(SCANNER), b"{bad", qos=1)
            await sc.scan("4601234567893")
            await outbox.until(has_scan("4601234567893"))
            assert [s["code"] for s in await outbox.scans()] == ["4601234567893"]
            # Each garbage payload, the bad status and the retained scan.
            assert bridge.counters.malformed == len(malformed) + 2
            assert bridge.counters.ignored >= 2  # the battery event, the stranger
            assert not task.done()
            assert bridge.counters.connections == 1  # never dropped for it


# --- the agent's status ------------------------------------------------------------


AGENT_PROCESS = """
import asyncio, sys
from pathlib import Path
from edge_agent.drivers.mqtt import MqttBridge, MqttConfig
from edge_agent.store import AgentStore

async def main() -> None:
    async with AgentStore(Path(sys.argv[3])) as store:
        await MqttBridge(MqttConfig(url=sys.argv[1], shop=sys.argv[2])).run(store, lambda: None)

asyncio.run(main())
"""


@pytest.mark.slow
async def test_the_agents_status_is_online_and_its_will_says_offline_when_killed(
    shop: str, tmp_path: Path
) -> None:
    topic = Topics(shop).agent_status
    async with Watcher(topic) as watcher:
        agent = await asyncio.create_subprocess_exec(
            sys.executable, "-c", AGENT_PROCESS, URL, shop, str(tmp_path / "agent.db")
        )
        try:
            online, _ = await watcher.status("online")
            assert "at" in online
        finally:
            agent.send_signal(signal.SIGKILL)
            await agent.wait()
        offline, _ = await watcher.status("offline")
        assert offline == {"status": "offline", "detail": "connection lost"}  # the will
    async with Watcher(topic) as later:
        retained, was_retained = await later.status("offline")
        assert retained["detail"] == "connection lost"
        assert was_retained


async def test_a_cut_connection_fires_the_will_and_the_bridge_comes_back(
    shop: str, store: AgentStore
) -> None:
    outbox = Outbox(store)
    bridge = MqttBridge(config_for(shop))
    async with running(bridge, outbox), Watcher(Topics(shop).agent_status) as watcher:
        await watcher.status("online")
        bridge.abort_connection()
        offline, _ = await watcher.status("offline")
        assert offline["detail"] == "connection lost"
        await watcher.status("online")
        await outbox.until(lambda _: bridge.counters.connections == 2)
        assert [s for s, _ in await outbox.statuses("mqtt")] == ["online", "offline", "online"]
        async with started(SimulatedMqttScanner(URL, shop, SCANNER)) as sc:
            await sc.scan("4601234567893")
            await outbox.until(has_scan("4601234567893"))


async def test_a_stopped_agent_says_offline(shop: str, store: AgentStore) -> None:
    async with Watcher(Topics(shop).agent_status) as watcher:
        async with running(MqttBridge(config_for(shop)), Outbox(store)):
            await watcher.status("online")
        offline, _ = await watcher.status("offline")
        assert offline["detail"] == "stopped"
        assert "at" in offline


async def test_an_unreachable_broker(tmp_path: Path) -> None:
    """No broker at all (a port nobody listens on): the bridge keeps trying and says so."""
    async with AgentStore(tmp_path / "agent.db") as store:
        outbox = Outbox(store)
        bridge = MqttBridge(config_for("nowhere", url="mqtt://127.0.0.1:9"))
        task = asyncio.create_task(bridge.run(store, outbox.notify))
        try:
            await outbox.until(has_status("mqtt", "offline"))
            assert bridge.describe()[0]["status"] == "offline"
            with pytest.raises(BrokerUnavailable):
                await bridge.send_command(DISPLAY, "show", {"lines": []}, wait=0.2)
        finally:
            await bridge.stop()
            await asyncio.wait_for(task, WAIT)


# --- commands ----------------------------------------------------------------------


async def test_a_command_to_the_display_returns_its_result(shop: str, store: AgentStore) -> None:
    bridge = MqttBridge(config_for(shop))
    async with (
        running(bridge, Outbox(store)),
        started(SimulatedMqttDisplay(URL, shop, DISPLAY)) as display,
    ):
        result = await bridge.show(DISPLAY, ["Молоко 1 л", "Итого: 89.90"])
        assert (result.ok, result.device) == (True, DISPLAY)
        assert result.data == {"shown": ["Молоко 1 л", "Итого: 89.90"]}
        assert display.shown == ["Молоко 1 л", "Итого: 89.90"]
        refused = await bridge.send_command(DISPLAY, "dance")
        assert (refused.ok, refused.error) == (False, "unknown command dance")
        cleared = await bridge.send_command(DISPLAY, "clear")
        assert cleared.ok
        assert display.shown == []
        assert [kind for kind, _ in display.executed] == ["show", "dance", "clear"]
        with pytest.raises(ValueError):
            await bridge.send_command("nobody", "show")
        with pytest.raises(ValueError):
            await bridge.show(SCANNER, ["not a display"])
        with pytest.raises(ValueError):
            await bridge.send_command(DISPLAY, "show", {"id": "mine"})


async def test_repeated_results_are_ignored_and_silence_times_out(
    shop: str, store: AgentStore
) -> None:
    bridge = MqttBridge(config_for(shop))
    twice = SimulatedMqttDisplay(URL, shop, DISPLAY, answer_twice=True)
    async with running(bridge, Outbox(store)), started(twice):
        first = await bridge.show(DISPLAY, ["1"])
        second = await bridge.show(DISPLAY, ["2"])
        # Results come in order: the first command's second answer came before this.
        assert (first.data, second.data) == ({"shown": ["1"]}, {"shown": ["2"]})
        assert first.id != second.id
        assert bridge.counters.stale_results >= 1
        assert bridge.counters.results == 2
        twice.silent = True
        twice.changed.clear()
        with pytest.raises(CommandTimeout):
            await bridge.send_command(DISPLAY, "show", {"lines": ["3"]}, wait=0.3)
        await until_set(twice.changed)
        assert twice.shown == ["3"]  # it did it; the answer never came


async def test_the_display_does_a_repeated_command_once(shop: str) -> None:
    """A broker may deliver a QoS 1 command twice: the display answers both, does it once."""
    topics = Topics(shop)
    broker = Broker.parse(URL)
    async with (
        started(SimulatedMqttDisplay(URL, shop, DISPLAY)) as display,
        aiomqtt.Client(broker.host, broker.port) as agent,
    ):
        await agent.subscribe(f"{topics.device(DISPLAY)}/res/+", qos=1)
        command = scheme.encode({"id": "c-1", "lines": ["Hello"]})
        await agent.publish(topics.command(DISPLAY, "show"), command, qos=1)
        await agent.publish(topics.command(DISPLAY, "show"), command, qos=1)
        await agent.publish(topics.command(DISPLAY, "show"), b"garbage", qos=1)
        answers = []
        async with asyncio.timeout(WAIT):
            async for message in agent.messages:
                answers.append((message.topic.value, document(message)))
                if len(answers) == 2:
                    break
        expected = {"id": "c-1", "ok": True, "data": {"shown": ["Hello"]}}
        assert answers == [(topics.result(DISPLAY, "c-1"), expected)] * 2
        assert display.executed == [("show", "c-1")]


# --- device statuses ---------------------------------------------------------------


async def test_a_devices_status_changes_become_events(shop: str, store: AgentStore) -> None:
    outbox = Outbox(store)
    bridge = MqttBridge(config_for(shop))
    async with running(bridge, outbox):
        assert bridge.describe()[1]["status"] == "unknown"
        scanner = SimulatedMqttScanner(URL, shop, SCANNER)
        await scanner.start()
        try:
            await outbox.until(has_status(SCANNER, "online"))
            await scanner.set_status("online")  # the same again: not a change
            await scanner.set_status("error", "lens dirty")
            await outbox.until(has_status(SCANNER, "error"))
            assert bridge.describe()[1] == {
                "name": SCANNER,
                "kind": "scanner",
                "model": "mqtt",
                "transport": f"{Broker.parse(URL).public_url}/pos/v1/{shop}/dev/{SCANNER}",
                "status": "error",
            }
            scanner.drop()  # its will: "offline", retained
            await outbox.until(has_status(SCANNER, "offline"))
        finally:
            await scanner.stop()
        assert await outbox.statuses(SCANNER) == [
            ("online", ""),
            ("error", "lens dirty"),
            ("offline", "connection lost"),
        ]
        assert bridge.device_status(SCANNER) == "offline"


# --- wired into the agent ----------------------------------------------------------


async def test_the_agent_runs_the_bridge_from_its_config(shop: str, store: AgentStore) -> None:
    config = AgentConfig.model_validate(
        {
            "hub": {"url": "http://127.0.0.1:8000", "token": "dt_secret-token"},
            "mqtt": {
                "url": URL,
                "shop": shop,
                "device": [
                    {"name": SCANNER, "kind": "scanner", "cash_register": REGISTER},
                    {"name": DISPLAY, "kind": "display"},
                ],
            },
        }
    )
    devices = build(config)
    assert len(devices.extra) == 1
    outbox = Outbox(store)
    part: Awaitable[None] = devices.extra[0](store, outbox.notify)
    task = asyncio.ensure_future(part)
    try:
        await outbox.until(has_status("mqtt", "online"))
        async with started(SimulatedMqttScanner(URL, shop, SCANNER)) as sc:
            await sc.scan("4601234567893")
            await outbox.until(has_scan("4601234567893"))
        assert await outbox.scans() == [
            {"scanner": SCANNER, "register": REGISTER, "code": "4601234567893"}
        ]
        described = {d["name"]: d for d in devices.describe()}
        assert (described["mqtt"]["status"], described[DISPLAY]["kind"]) == ("online", "display")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
