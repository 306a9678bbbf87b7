"""The agent's side of the shop's MQTT broker: scanners and customer displays that
speak the topic scheme of `edge_agent.drivers.mqtt_scheme` (docs/devices.md).

`MqttBridge.run(store, notify)` is one of the agent's parts (`Devices.extra`). It keeps
a connection to the broker, reconnecting with jittered backoff, and while connected:

- the agent's status is retained "online", with a retained "offline" last will;
- a scan (`evt/scan` {"id", "code"}) from a configured scanner becomes the agent's
  `scan` event for the till the scanner is bound to, exactly once: the device's event
  id is remembered on disk in the same transaction as the event, and the message is
  acknowledged (PUBACK) only after that, so a redelivery is dropped and a crash before
  the write makes the broker deliver it again (the session is persistent: a stable
  client id and clean_session off, so scans made while the agent is away wait for it);
- a device's status change becomes a `device.status` event; so does the broker
  connection's own (under the bridge's name);
- `send_command` publishes `cmd/{type}` with a fresh id and waits for `res/{id}`.

Malformed messages are logged, counted and skipped (and acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiomqtt

from edge_agent.drivers import mqtt_scheme as scheme
from edge_agent.drivers.mqtt_scheme import Broker, Malformed, Route, Topics
from edge_agent.store import AgentStore
from protocol.client import backoff_delays

log = logging.getLogger(__name__)

DeviceKind = Literal["scanner", "display"]
GOODBYE_WAIT = 2.0  # seconds to publish "offline" when stopping; then the will does it


@dataclass(frozen=True)
class MqttDevice:
    """A device on the broker: `register` (a cash register's id) for scanners."""

    name: str
    kind: DeviceKind
    register: str | None = None

    def __post_init__(self) -> None:
        scheme.checked_name(self.name, "a device name")
        if self.kind not in ("scanner", "display"):
            raise ValueError(f"{self.name}: kind is scanner or display")
        if (self.kind == "scanner") != (self.register is not None):
            raise ValueError(f"{self.name}: a scanner, and only a scanner, has a register")


@dataclass(frozen=True)
class MqttConfig:
    """The bridge's settings (the agent's `[mqtt]` section; docs/devices.md)."""

    url: str = "mqtt://127.0.0.1:1883"
    shop: str = "shop"  # the shop's id in topics: pos/v1/{shop}/...
    name: str = "mqtt"  # the broker link in the agent's device list
    client_id: str = ""  # stable, so the broker keeps the session; "" = pos-edge-{shop}
    keepalive: int = 30  # seconds; a silent agent is declared gone after 1.5x this
    command_timeout: float = 5.0
    reconnect_base: float = 0.5  # backoff: full jitter, doubling up to reconnect_max
    reconnect_max: float = 30.0
    seen_ids: int = 10_000  # event ids remembered per agent against redeliveries
    devices: tuple[MqttDevice, ...] = ()
    # mqtts:// only: the authority that signed the broker's certificate ("" = the
    # system's), and the agent's own certificate and key if the broker wants one.
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    def __post_init__(self) -> None:
        broker = Broker.parse(self.url)
        if not broker.tls and (self.ca_file or self.cert_file or self.key_file):
            raise ValueError("ca_file, cert_file and key_file need an mqtts:// URL")
        if self.key_file and not self.cert_file:
            raise ValueError("key_file goes with a cert_file")
        Topics(self.shop)
        scheme.checked_name(self.name, "the bridge's name")
        names = [d.name for d in self.devices]
        if len(names) != len(set(names)) or self.name in names:
            raise ValueError("MQTT device names must be unique")
        if not 5 <= self.keepalive <= 3600:
            raise ValueError("keepalive must be 5-3600 seconds")
        if not 0 < self.reconnect_base <= self.reconnect_max:
            raise ValueError("reconnect_base must be positive and at most reconnect_max")
        if self.command_timeout <= 0 or self.seen_ids < 1:
            raise ValueError("command_timeout and seen_ids must be positive")

    @property
    def identifier(self) -> str:
        return self.client_id or f"pos-edge-{self.shop}"


@dataclass(frozen=True)
class CommandResult:
    """A device's answer to a command: `data` when ok, `error` when not."""

    id: str
    device: str
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""


class StoreFailed(Exception):
    """The agent's store could not take an event: the message stays unacknowledged."""


class CommandError(Exception):
    """A command that got no answer."""


class BrokerUnavailable(CommandError):
    pass


class CommandTimeout(CommandError):
    pass


@dataclass
class BridgeCounters:
    connections: int = 0
    scans: int = 0  # recorded for the hub
    duplicates: int = 0  # events whose id was seen before
    statuses: int = 0  # device status changes recorded
    results: int = 0  # command results matched
    stale_results: int = 0  # results for no waiting command (late, repeated)
    malformed: int = 0
    ignored: int = 0  # unknown devices, event types the agent has no use for


@dataclass
class _Waiting:
    device: str
    answer: asyncio.Future[CommandResult]


class MqttBridge:
    """`await bridge.run(store, notify)` until `await bridge.stop()`."""

    def __init__(self, config: MqttConfig) -> None:
        self.config = config
        self.topics = Topics(config.shop)
        self.broker = Broker.parse(config.url)
        self.devices = {d.name: d for d in config.devices}
        self.counters = BridgeCounters()
        self.connected = asyncio.Event()  # set while connected and subscribed
        self._client: aiomqtt.Client | None = None
        self._stopping = asyncio.Event()
        self._status: dict[str, str] = {}  # device → what it last said
        self._reported: dict[str, tuple[str, str]] = {}  # device → last device.status sent
        self._waiting: dict[str, _Waiting] = {}  # command id → its caller
        self._warned: set[str] = set()  # unknown devices, logged once each
        self._got_connected = False

    # --- what the agent sees --------------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        """The broker link and each device, as the agent announces them to the hub."""
        up = self.connected.is_set()
        found: list[dict[str, Any]] = [
            {
                "name": self.config.name,
                "kind": "mqtt",
                "transport": self.broker.public_url,
                "status": "online" if up else "offline",
            }
        ]
        for device in self.devices.values():
            where = f"{self.broker.public_url}/{self.topics.device(device.name)}"
            found.append(
                {
                    "name": device.name,
                    "kind": device.kind,
                    "model": "mqtt",
                    "transport": where[:200],
                    # What a device said is stale once the broker is out of reach.
                    "status": self._status.get(device.name, "unknown") if up else "unknown",
                }
            )
        return found

    def device_status(self, name: str) -> str:
        return self._status.get(name, "unknown")

    # --- running --------------------------------------------------------------------

    async def run(self, store: AgentStore, notify: Callable[[], None]) -> None:
        """Connected to the broker, reconnecting, until `stop()`."""
        delays = backoff_delays(self.config.reconnect_base, self.config.reconnect_max)
        while not self._stopping.is_set():
            self._got_connected = False
            try:
                await self._session(store, notify)
                continue  # it returns only when stopping
            except aiomqtt.MqttError as exc:
                # "Disconnected during message iteration" says less than its cause.
                problem = str(exc.__cause__ or exc) or type(exc).__name__
                log.warning("mqtt %s: %s", self.broker.public_url, problem)
            except StoreFailed as exc:
                # Nothing that is not on disk was acknowledged: after a reconnect the
                # broker delivers it again.
                problem = f"the agent's store failed: {exc}"
                log.exception("mqtt: %s; reconnecting", problem)
            await self._broker_status(store, notify, "offline", problem[: scheme.MAX_DETAIL])
            if self._got_connected:
                delays = backoff_delays(self.config.reconnect_base, self.config.reconnect_max)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), next(delays))

    async def stop(self) -> None:
        """Have `run` say "offline", disconnect and return (soon after); final."""
        self._stopping.set()

    def abort_connection(self) -> None:
        """Drop the broker connection without a goodbye, as a pulled cable does: the
        broker publishes the will, and the bridge reconnects. For tests and drills."""
        if self._client is not None:
            scheme.abort(self._client)

    async def _session(self, store: AgentStore, notify: Callable[[], None]) -> None:
        client = scheme.client(
            self.broker,
            identifier=self.config.identifier,
            status_topic=self.topics.agent_status,
            tls=self.broker.tls_context(
                self.config.ca_file, self.config.cert_file, self.config.key_file
            ),
            clean_session=False,
            keepalive=self.config.keepalive,
            timeout=self.config.command_timeout,
        )
        manual = scheme.manual_acks(client)
        if not manual:
            log.warning("paho cannot acknowledge manually: a crash may lose a scan")
        async with client:
            self._client = client
            try:
                await client.subscribe([(t, scheme.QOS) for t in self.topics.agent_subscriptions()])
                await client.publish(
                    self.topics.agent_status,
                    scheme.status_document("online"),
                    qos=scheme.QOS,
                    retain=True,
                )
                self.counters.connections += 1
                self._got_connected = True  # the backoff starts again after this
                self.connected.set()
                log.info("mqtt %s connected as %s", self.broker.public_url, client.identifier)
                await self._broker_status(store, notify, "online", "")
                await self._consume(client, store, notify, manual=manual)
            finally:
                self.connected.clear()
                self._client = None
                await self._goodbye(client)

    async def _consume(
        self, client: aiomqtt.Client, store: AgentStore, notify: Callable[[], None], *, manual: bool
    ) -> None:
        """Handle messages one at a time, in order, until stopped or disconnected."""
        messages = aiter(client.messages)
        stopping = asyncio.ensure_future(self._stopping.wait())
        incoming: asyncio.Future[aiomqtt.Message] | None = None
        try:
            while True:
                incoming = asyncio.ensure_future(anext(messages))
                await asyncio.wait({incoming, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not incoming.done():
                    return
                message = incoming.result()  # MqttError when the connection is lost
                await self._handle(message, store, notify)
                if manual:
                    scheme.ack(client, message)  # on disk (or skipped) first
        finally:
            stopping.cancel()
            if incoming is not None and not incoming.done():
                incoming.cancel()
                await asyncio.wait({incoming})

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """A retained "offline" before a clean disconnect (which cancels the will);
        nothing when the connection is gone already (the will said it)."""
        why = "stopped" if self._stopping.is_set() else "reconnecting"
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            async with asyncio.timeout(GOODBYE_WAIT):
                await client.publish(
                    self.topics.agent_status,
                    scheme.status_document("offline", why),
                    qos=scheme.QOS,
                    retain=True,
                )

    async def _broker_status(
        self, store: AgentStore, notify: Callable[[], None], status: str, detail: str
    ) -> None:
        # Each failed attempt may say it differently: only the status counts here.
        if self._reported.get(self.config.name, ("", ""))[0] != status:
            await self._report(store, notify, self.config.name, status, detail)

    async def _report(
        self,
        store: AgentStore,
        notify: Callable[[], None],
        name: str,
        status: str,
        detail: str,
    ) -> None:
        """A device.status event when `name`'s status or detail changed."""
        if self._reported.get(name) == (status, detail):
            return
        try:
            await store.record("device.status", {"name": name, "status": status, "detail": detail})
        except Exception as exc:
            raise StoreFailed(f"{type(exc).__name__}: {exc}") from exc
        self._reported[name] = (status, detail)
        self.counters.statuses += 1
        notify()

    # --- messages -------------------------------------------------------------------

    async def _handle(
        self, message: aiomqtt.Message, store: AgentStore, notify: Callable[[], None]
    ) -> None:
        route = self.topics.parse(message.topic.value)
        if route is None or route.channel == "cmd":
            self.counters.ignored += 1
            log.debug("mqtt: ignored a message on %s", message.topic.value)
            return
        try:
            if route.channel == "status":
                await self._on_status(route, message, store, notify)
            elif route.channel == "evt":
                await self._on_event(route, message, store, notify)
            else:
                self._on_result(route, message)
        except Malformed as exc:
            self.counters.malformed += 1
            log.warning(
                "mqtt: skipped a message on %s: %s: %s",
                message.topic.value,
                exc,
                scheme.shown(message.payload),
            )
        except StoreFailed:
            raise
        except Exception:
            # A bug must not turn one message into a poison pill redelivered forever.
            self.counters.malformed += 1
            log.exception(
                "mqtt: a message on %s could not be handled; skipped: %s",
                message.topic.value,
                scheme.shown(message.payload),
            )

    def _known(self, name: str) -> MqttDevice | None:
        device = self.devices.get(name)
        if device is None:
            self.counters.ignored += 1
            if name not in self._warned and len(self._warned) < 100:
                self._warned.add(name)
                log.warning("mqtt: device %s is not in the config; its messages are ignored", name)
        return device

    async def _on_status(
        self,
        route: Route,
        message: aiomqtt.Message,
        store: AgentStore,
        notify: Callable[[], None],
    ) -> None:
        if self._known(route.device) is None:
            return
        if not message.payload:
            return  # a retained status cleared: the device was taken away
        status, detail = scheme.device_status(message.payload)
        self._status[route.device] = status
        await self._report(store, notify, route.device, status, detail)

    async def _on_event(
        self,
        route: Route,
        message: aiomqtt.Message,
        store: AgentStore,
        notify: Callable[[], None],
    ) -> None:
        device = self._known(route.device)
        if device is None:
            return
        if message.retain:
            # A retained event would come back at every subscription.
            raise Malformed("a retained event")
        if route.name != "scan" or device.kind != "scanner":
            self.counters.ignored += 1
            log.debug("mqtt: %s sent a %s event: not used", device.name, route.name)
            return
        document = scheme.decode(message.payload)
        event_id = scheme.message_id(document)
        code = scheme.scan_code(document)
        try:
            recorded = await store.record_once(
                f"mqtt:{device.name}:{event_id}",
                "scan",
                {"scanner": device.name, "register": device.register, "code": code},
                keep=self.config.seen_ids,
            )
        except Exception as exc:
            raise StoreFailed(f"{type(exc).__name__}: {exc}") from exc
        if recorded is None:
            self.counters.duplicates += 1
            log.info("mqtt: %s event %s again (a redelivery): skipped", device.name, event_id)
            return
        self.counters.scans += 1
        notify()

    def _on_result(self, route: Route, message: aiomqtt.Message) -> None:
        waiting = self._waiting.get(route.name)
        if waiting is None or waiting.device != route.device or waiting.answer.done():
            self.counters.stale_results += 1
            log.info("mqtt: a result from %s for no waiting command %s", route.device, route.name)
            return
        document = scheme.decode(message.payload)
        if document.get("id", route.name) != route.name:
            raise Malformed("the result's id is not its topic's")
        ok, data, error = document.get("ok"), document.get("data", {}), document.get("error", "")
        if not isinstance(ok, bool) or not isinstance(data, dict) or not isinstance(error, str):
            raise Malformed('a result is {"ok": bool, "data": {...}, "error": "..."}')
        self.counters.results += 1
        waiting.answer.set_result(
            CommandResult(route.name, route.device, ok, data, error[: scheme.MAX_DETAIL])
        )

    # --- commands -------------------------------------------------------------------

    async def send_command(
        self,
        device: str,
        type_: str,
        payload: Mapping[str, Any] | None = None,
        *,
        wait: float | None = None,
    ) -> CommandResult:
        """Publish `cmd/{type_}` to a configured device with a fresh id and wait for its
        `res/{id}`, for `wait` seconds (the config's command_timeout by default). Raises
        BrokerUnavailable when not connected in that time, CommandTimeout when the device
        does not answer in it; ValueError on bad input."""
        if device not in self.devices:
            raise ValueError(f"{device!r} is not a configured MQTT device")
        topic_prefix = self.topics.command(device, type_)
        command_id = uuid.uuid4().hex
        body = dict(payload or {})
        if "id" in body:
            raise ValueError("the command's id is the bridge's to give")
        data = scheme.encode({"id": command_id, **body})
        if len(data) > scheme.MAX_PAYLOAD:
            raise ValueError(f"a command over {scheme.MAX_PAYLOAD} bytes")
        answer: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = _Waiting(device, answer)
        sent = False
        try:
            async with asyncio.timeout(wait or self.config.command_timeout):
                await self.connected.wait()
                client = self._client
                if client is None:
                    raise aiomqtt.MqttError("disconnected")
                await client.publish(topic_prefix, data, qos=scheme.QOS)
                sent = True
                return await answer
        except TimeoutError as exc:
            if sent:
                raise CommandTimeout(f"{device} did not answer {type_} {command_id}") from exc
            raise BrokerUnavailable(f"the broker is not reachable: {type_} to {device}") from exc
        except aiomqtt.MqttError as exc:
            raise BrokerUnavailable(f"{type_} to {device}: {exc}") from exc
        finally:
            del self._waiting[command_id]

    async def show(self, device: str, lines: Sequence[str]) -> CommandResult:
        """Show lines on a customer display (`cmd/show` {"lines": [...]})."""
        known = self.devices.get(device)
        if known is not None and known.kind != "display":
            raise ValueError(f"{device} is not a display")
        return await self.send_command(device, "show", {"lines": list(lines)})
