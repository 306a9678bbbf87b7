"""The shop broker's topic scheme and payloads, shared by the agent's bridge
(`edge_agent.drivers.mqtt`) and the simulated devices (`edge_agent.simulators.mqtt`).
Described for device makers in docs/devices.md, "MQTT devices".

    pos/v1/{shop}/agent/status             agent → all     retained  {"status", "at"}
    pos/v1/{shop}/dev/{device}/status      device → agent  retained  {"status", "detail", "at"}
    pos/v1/{shop}/dev/{device}/evt/{type}  device → agent  QoS 1     {"id", ...}
    pos/v1/{shop}/dev/{device}/cmd/{type}  agent → device  QoS 1     {"id", ...}
    pos/v1/{shop}/dev/{device}/res/{id}    device → agent  QoS 1     {"id", "ok", "data"|"error"}

Everything is JSON in UTF-8, at most MAX_PAYLOAD bytes. What does not fit raises
`Malformed` here; the bridge logs it and goes on.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import aiomqtt

ROOT = "pos/v1"
QOS = 1  # events, commands, results and statuses: at least once, de-duplicated by id
MAX_PAYLOAD = 4096  # bytes; a scan, a status or a display's lines are far smaller
MAX_CODE = 256  # characters of a scanned code, as the serial scanner's max_length
MAX_DETAIL = 200  # characters of a status detail or an error (the hub keeps 200)
GS = "\x1d"  # separates the fields of GS1 codes: kept in a code

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # shop, device, event and command types
IDENT = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")  # event and command ids
STATUSES = frozenset({"online", "offline", "error", "paper_out", "cover_open", "unknown"})

Channel = Literal["status", "evt", "cmd", "res"]


class Malformed(ValueError):
    """A payload or topic that breaks the scheme: logged and skipped, never raised on."""


def checked_name(value: str, what: str) -> str:
    if not NAME.match(value):
        raise ValueError(f"{what} must be 1-64 of A-Z a-z 0-9 _ . -; got {value!r}")
    return value


@dataclass(frozen=True)
class Route:
    """Where a message was published: a device, a channel and, for events and commands,
    the type, for results the command id; "" for a status."""

    device: str
    channel: Channel
    name: str


@dataclass(frozen=True)
class Topics:
    """The topics of one shop."""

    shop: str

    def __post_init__(self) -> None:
        checked_name(self.shop, "the shop's topic id")

    @property
    def root(self) -> str:
        return f"{ROOT}/{self.shop}"

    @property
    def agent_status(self) -> str:
        return f"{self.root}/agent/status"

    def device(self, device: str) -> str:
        return f"{self.root}/dev/{checked_name(device, 'a device name')}"

    def status(self, device: str) -> str:
        return f"{self.device(device)}/status"

    def event(self, device: str, type_: str) -> str:
        return f"{self.device(device)}/evt/{checked_name(type_, 'an event type')}"

    def command(self, device: str, type_: str) -> str:
        return f"{self.device(device)}/cmd/{checked_name(type_, 'a command type')}"

    def result(self, device: str, command_id: str) -> str:
        return f"{self.device(device)}/res/{checked_id(command_id)}"

    def agent_subscriptions(self) -> list[str]:
        """What the agent listens to: every device's status, events and results."""
        return [f"{self.root}/dev/+/status", f"{self.root}/dev/+/evt/+", f"{self.root}/dev/+/res/+"]

    def parse(self, topic: str) -> Route | None:
        """The route of a topic in this shop's device tree, or None."""
        parts = topic.split("/")
        if len(parts) < 6 or "/".join(parts[:3]) != self.root or parts[3] != "dev":
            return None
        device, channel, rest = parts[4], parts[5], parts[6:]
        if not NAME.match(device):
            return None
        if channel == "status" and not rest:
            return Route(device, "status", "")
        if channel in ("evt", "cmd") and len(rest) == 1 and NAME.match(rest[0]):
            return Route(device, "evt" if channel == "evt" else "cmd", rest[0])
        if channel == "res" and len(rest) == 1 and IDENT.match(rest[0]):
            return Route(device, "res", rest[0])
        return None


def checked_id(value: str) -> str:
    if not IDENT.match(value):
        raise ValueError(f"an id is 1-64 of A-Z a-z 0-9 _ . : -; got {value!r}")
    return value


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def decode(payload: Any) -> dict[str, Any]:
    """A message's JSON object; Malformed for anything else."""
    if isinstance(payload, str):
        payload = payload.encode()
    if not isinstance(payload, bytes | bytearray):
        raise Malformed("not a JSON object")
    if len(payload) > MAX_PAYLOAD:
        raise Malformed(f"over {MAX_PAYLOAD} bytes")
    try:
        document = json.loads(bytes(payload).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed("not JSON") from exc
    if not isinstance(document, dict):
        raise Malformed("not a JSON object")
    return document


def message_id(document: dict[str, Any]) -> str:
    value = document.get("id")
    if not isinstance(value, str) or not IDENT.match(value):
        raise Malformed("no valid id (1-64 of A-Z a-z 0-9 _ . : -)")
    return value


def scan_code(document: dict[str, Any]) -> str:
    """The code of a scan event: printable ASCII (GS allowed), trimmed of spaces."""
    code = document.get("code")
    if not isinstance(code, str):
        raise Malformed("no code")
    code = code.strip(" ")
    if not 0 < len(code) <= MAX_CODE:
        raise Malformed(f"a code is 1-{MAX_CODE} characters")
    if any((ch < " " and ch != GS) or ch > "~" for ch in code):
        raise Malformed("a code with non-printable characters")
    return code


def device_status(payload: Any) -> tuple[str, str]:
    """(status, detail) of a device's status message: {"status": ..., "detail": ...},
    or the bare words online / offline that simple devices use for their will."""
    if isinstance(payload, bytes | bytearray) and bytes(payload).strip().lower() in (
        b"online",
        b"offline",
    ):
        return bytes(payload).strip().lower().decode(), ""
    document = decode(payload)
    status = document.get("status")
    if not isinstance(status, str) or status not in STATUSES:
        raise Malformed(f"status must be one of {', '.join(sorted(STATUSES))}")
    detail = document.get("detail", "")
    if not isinstance(detail, str):
        raise Malformed("detail must be text")
    return status, detail[:MAX_DETAIL]


def status_document(status: str, detail: str = "", *, at: bool = True) -> bytes:
    """A status payload; a last will has no time (`at=False`): it is written when the
    connection is made and published by the broker whenever that connection is lost."""
    document: dict[str, Any] = {"status": status}
    if detail:
        document["detail"] = detail[:MAX_DETAIL]
    if at:
        document["at"] = now()
    return encode(document)


def shown(payload: Any) -> str:
    """A payload for a log line: short, one line."""
    text = repr(bytes(payload) if isinstance(payload, bytes | bytearray) else payload)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Broker:
    """Where the broker is, from mqtt://[user[:password]@]host[:port], or mqtts://…
    for TLS (port 8883 by default)."""

    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> Broker:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("the broker's URL is mqtt[s]://[user[:password]@]host[:port]")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise ValueError(f"a bad port in {url!r}") from exc
        return cls(parts.hostname, port, parts.username, parts.password, tls)

    @property
    def public_url(self) -> str:
        """The URL without credentials: for logs and the hub."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def tls_context(
        self, ca_file: str = "", cert_file: str = "", key_file: str = ""
    ) -> ssl.SSLContext | None:
        """For mqtts://: the broker's certificate and host name checked against
        `ca_file` (or the system's authorities); the client's own certificate when the
        broker asks for one. None for plain mqtt://."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=ca_file or None)
        if cert_file:
            context.load_cert_chain(cert_file, key_file or None)
        return context


def client(
    broker: Broker,
    *,
    identifier: str,
    status_topic: str,
    tls: ssl.SSLContext | None,
    **options: Any,
) -> aiomqtt.Client:
    """A client of `broker` whose will (published by the broker when the connection is
    lost) marks `status_topic` offline, retained: the agent's and every device's."""
    will = aiomqtt.Will(
        status_topic,
        status_document("offline", "connection lost", at=False),
        qos=QOS,
        retain=True,
    )
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password,
        identifier=identifier,
        will=will,
        tls_context=tls,
        **options,
    )


# aiomqtt 2.x does not expose paho's manual acknowledgements nor the socket
# (empicano/aiomqtt#345, the open PR #346); both live on the paho client it wraps.


def _paho(client: aiomqtt.Client) -> Any:
    return getattr(client, "_client", None)


def manual_acks(client: aiomqtt.Client) -> bool:
    """Acknowledge QoS 1 messages only when `ack` is called (before connecting): an
    event is acknowledged once it is on disk, so a crash before that makes the broker
    send it again. False (and paho's automatic acknowledgement) if paho cannot."""
    paho = _paho(client)
    if paho is None or not hasattr(paho, "manual_ack_set") or not hasattr(paho, "ack"):
        return False
    paho.manual_ack_set(True)
    return True


def ack(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    """PUBACK a QoS 1 message taken with `manual_acks`; a lost connection makes the
    broker send it again, which the ids make harmless."""
    paho = _paho(client)
    if paho is not None and message.qos == 1:
        paho.ack(message.mid, message.qos)


def abort(client: aiomqtt.Client) -> None:
    """Drop the connection without DISCONNECT, as a pulled cable or a killed process
    does: the broker publishes the client's last will."""
    paho = _paho(client)
    sock = paho.socket() if paho is not None else None
    if isinstance(sock, socket.socket):
        sock.shutdown(socket.SHUT_RDWR)
