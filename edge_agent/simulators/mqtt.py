"""Simulated MQTT devices on a real broker, speaking the scheme of
`edge_agent.drivers.mqtt_scheme`: a barcode scanner and a customer display.

Each keeps a retained status at `pos/v1/{shop}/dev/{name}/status` ("online" on start,
"offline" on stop) with a retained "offline" last will for when its connection is lost.

    scanner = SimulatedMqttScanner("mqtt://127.0.0.1:1883", "shop-1", "scanner-1")
    await scanner.start()
    await scanner.scan("4601234567893")            # evt/scan {"id", "code"}, QoS 1
    await scanner.scan("4601234567893", event_id=same_id)   # a redelivery
    await scanner.send_raw(b"\\xff not json")      # garbage
    scanner.drop()                                 # the connection cut: the will fires
    await scanner.stop()

    display = SimulatedMqttDisplay(url, "shop-1", "display-1")
    await display.start()       # answers cmd/show {"id", "lines"} and cmd/clear
    display.shown               # the lines on it now

`python -m edge_agent.simulators.mqtt --shop shop-1 scanner scanner-1` scans the codes
typed on stdin; `... display display-1` prints what it is told to show.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import uuid
from collections import OrderedDict
from contextlib import AsyncExitStack
from typing import Any

import aiomqtt

from edge_agent.drivers import mqtt_scheme as scheme
from edge_agent.drivers.mqtt_scheme import Broker, Malformed, Topics

log = logging.getLogger(__name__)

MAX_LINES = 10  # a customer display's lines (two on most; a screen has more)
MAX_LINE = 64
REMEMBERED_COMMANDS = 256  # command ids a display answers again without redoing them


class SimulatedMqttDevice:
    """A device's connection: retained status with a last will; `start()`/`stop()`.
    An mqtts:// URL connects over TLS, trusting `ca_file` (or the system's CAs)."""

    def __init__(self, url: str, shop: str, name: str, *, ca_file: str = "") -> None:
        self.broker = Broker.parse(url)
        self.ca_file = ca_file
        self.topics = Topics(shop)
        self.name = scheme.checked_name(name, "a device name")
        self.client_id = f"sim-{shop}-{name}-{uuid.uuid4().hex[:8]}"
        self._stack: AsyncExitStack | None = None
        self._client: aiomqtt.Client | None = None
        self._reader: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    @property
    def client(self) -> aiomqtt.Client:
        if self._client is None or not self.connected.is_set():
            raise RuntimeError(f"{self.name} is not connected")
        return self._client

    def subscriptions(self) -> list[str]:
        return []

    async def start(self) -> None:
        client = scheme.client(
            self.broker,
            identifier=self.client_id,
            status_topic=self.topics.status(self.name),
            tls=self.broker.tls_context(self.ca_file),
            keepalive=30,
        )
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(client)
            if topics := self.subscriptions():
                await client.subscribe([(t, scheme.QOS) for t in topics])
            self._client = client
            self.connected.set()
            # Reading before saying "online": a display must take commands by then.
            reader = asyncio.create_task(self._read(client))
            stack.push_async_callback(_cancelled, reader)
            await self.set_status("online")
            self._reader = reader
            self._stack = stack.pop_all()

    async def stop(self) -> None:
        """Say "offline" and disconnect (after `drop()`, only tidy up)."""
        if self._stack is None:
            return
        if self.connected.is_set():
            with contextlib.suppress(aiomqtt.MqttError):
                await self.set_status("offline", "switched off")
        self.connected.clear()
        stack, self._stack = self._stack, None
        await stack.aclose()  # stops the reader, then disconnects
        self._client = self._reader = None

    def drop(self) -> None:
        """Cut the connection without a goodbye: the broker publishes the will."""
        if self._client is not None:
            scheme.abort(self._client)

    async def set_status(self, status: str, detail: str = "") -> None:
        """Publish a retained status (online, offline, error...)."""
        await self.client.publish(
            self.topics.status(self.name),
            scheme.status_document(status, detail),
            qos=scheme.QOS,
            retain=True,
        )

    async def _read(self, client: aiomqtt.Client) -> None:
        try:
            async for message in client.messages:
                await self.on_message(message)
        except aiomqtt.MqttError as exc:
            log.info("simulated %s disconnected: %s", self.name, exc)
        finally:
            self.connected.clear()

    async def on_message(self, message: aiomqtt.Message) -> None:
        """A message on one of `subscriptions()`."""


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class SimulatedMqttScanner(SimulatedMqttDevice):
    """Publishes scans as `evt/scan` {"id", "code"} with QoS 1."""

    def __init__(self, url: str, shop: str, name: str, *, ca_file: str = "") -> None:
        super().__init__(url, shop, name, ca_file=ca_file)
        self.sent: list[bytes] = []

    async def scan(self, code: str, *, event_id: str | None = None) -> str:
        """Scan `code`; the event's id (give an earlier one to send a duplicate)."""
        event_id = event_id or uuid.uuid4().hex
        await self.send_raw(scheme.encode({"id": event_id, "code": code}))
        return event_id

    async def send_raw(self, payload: bytes, *, type_: str = "scan", retain: bool = False) -> None:
        """Anything as an event: garbage, a broken document, a retained event."""
        self.sent.append(payload)
        await self.client.publish(
            self.topics.event(self.name, type_), payload, qos=scheme.QOS, retain=retain
        )


class SimulatedMqttDisplay(SimulatedMqttDevice):
    """A customer display: `cmd/show` {"id", "lines": [...]} shows the lines,
    `cmd/clear` {"id"} clears them; each answered on `res/{id}` with
    {"id", "ok": true, "data": {"shown": [...]}} or {"id", "ok": false, "error"}. A
    command id seen before is answered again with the same result and not redone (a
    broker may deliver a QoS 1 command twice). `silent` answers nothing; `answer_twice`
    sends every result twice (as a device retrying would)."""

    def __init__(
        self,
        url: str,
        shop: str,
        name: str,
        *,
        silent: bool = False,
        answer_twice: bool = False,
        ca_file: str = "",
    ) -> None:
        super().__init__(url, shop, name, ca_file=ca_file)
        self.silent = silent
        self.answer_twice = answer_twice
        self.shown: list[str] = []
        self.executed: list[tuple[str, str]] = []  # (command type, id), once each
        self.garbage = 0  # commands it could not read
        self.changed = asyncio.Event()  # set when what it shows changes
        self._answers: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def subscriptions(self) -> list[str]:
        return [f"{self.topics.device(self.name)}/cmd/+"]

    async def on_message(self, message: aiomqtt.Message) -> None:
        route = self.topics.parse(message.topic.value)
        if route is None or route.channel != "cmd" or route.device != self.name:
            return
        try:
            document = scheme.decode(message.payload)
            command_id = scheme.message_id(document)
        except Malformed as exc:
            self.garbage += 1
            log.warning("simulated %s: a command it cannot read: %s", self.name, exc)
            return
        answer = self._answers.get(command_id)
        if answer is None:
            answer = {"id": command_id, **self._execute(route.name, document)}
            self.executed.append((route.name, command_id))
            self._answers[command_id] = answer
            while len(self._answers) > REMEMBERED_COMMANDS:
                self._answers.popitem(last=False)
        if self.silent:
            return
        for _ in range(2 if self.answer_twice else 1):
            await self.client.publish(
                self.topics.result(self.name, command_id),
                scheme.encode(answer),
                qos=scheme.QOS,
            )

    def _execute(self, command: str, document: dict[str, Any]) -> dict[str, Any]:
        if command == "clear":
            self.shown = []
            self.changed.set()
            return {"ok": True, "data": {"shown": []}}
        if command != "show":
            return {"ok": False, "error": f"unknown command {command}"}
        lines = document.get("lines")
        if (
            not isinstance(lines, list)
            or len(lines) > MAX_LINES
            or not all(isinstance(line, str) and len(line) <= MAX_LINE for line in lines)
        ):
            return {"ok": False, "error": f"lines: up to {MAX_LINES} texts of {MAX_LINE}"}
        self.shown = list(lines)
        self.changed.set()
        return {"ok": True, "data": {"shown": self.shown}}


async def _run(device: SimulatedMqttDevice) -> None:
    await device.start()
    print(f"simulated {device.name} on {device.broker.public_url}", flush=True)
    try:
        if isinstance(device, SimulatedMqttScanner):
            print("type a code and Enter to scan it", flush=True)
            while line := await asyncio.to_thread(sys.stdin.readline):
                if line.strip():
                    print("sent", await device.scan(line.strip()), flush=True)
        elif isinstance(device, SimulatedMqttDisplay):
            while True:
                await device.changed.wait()
                device.changed.clear()
                print("showing:", " | ".join(device.shown) or "(blank)", flush=True)
    finally:
        await device.stop()


def main(argv: list[str] | None = None) -> None:
    """python -m edge_agent.simulators.mqtt [--url URL] --shop SHOP scanner|display NAME"""
    parser = argparse.ArgumentParser(prog="python -m edge_agent.simulators.mqtt")
    parser.add_argument("--url", default="mqtt://127.0.0.1:1883", help="the shop's broker")
    parser.add_argument("--shop", default="shop", help="the shop's topic id")
    parser.add_argument("kind", choices=["scanner", "display"])
    parser.add_argument("name", help="the device's name, as in the agent's config")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)

    async def run() -> None:
        kind = SimulatedMqttScanner if args.kind == "scanner" else SimulatedMqttDisplay
        await _run(kind(args.url, args.shop, args.name))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
