"""The agent's configuration file (TOML), checked in full before anything starts.

[hub]
url = "http://127.0.0.1:8000"      # the hub's base URL; the websocket is {url}/ws
token = "pos_dev_…"                 # or token_file = "/etc/pos-edge/token"

[agent]
data_dir = "/var/lib/pos-edge"      # the outbox and the jobs (SQLite)

[[printer]]
name = "receipts"
transport = "serial:///dev/ttyUSB0?baud=19200"   # or tcp://10.0.0.5:9100, file:///dev/usb/lp0
model = "generic"
width = 42
drawer = true                       # kick the cash drawer after a cash sale or refund
cash_register = "…"                 # optional: this till's receipts only (several tills)

[[fiscal]]
name = "kkt"
transport = "serial:///dev/ttyACM0?baud=115200"
password = 30
cash_register = "…"                 # optional, as for a printer
tax_groups = { "22" = 1, "10" = 2, "0" = 3, "none" = 4 }   # VAT rate → the register's
                                    # tax group (its table 6); this is the default

A till's receipts go to the printer and the fiscal register bound to it, or else to the
unbound ones (at most one of each); without any binding the shop has one of each.

[[scanner]]
name = "till-1"
transport = "serial:///dev/ttyUSB1?baud=9600"
cash_register = "…"                 # the till its scans go to
suffix = "CRLF"

[mqtt]
url = "mqtt://127.0.0.1:1883"       # the shop's broker: MQTT scanners and devices
shop = "shop-1"                     # the shop's id in topics: pos/v1/{shop}/...
# url = "mqtts://broker.lan:8883"   # TLS: the broker's certificate and name are checked
# ca_file = "/etc/pos-edge/ca.crt"  #   against this authority (default: the system's)
# cert_file, key_file               #   the agent's own certificate, if the broker asks

[[mqtt.device]]
name = "scanner-2"
kind = "scanner"                    # or "display" (a customer display)
cash_register = "…"                 # scanners: the till its scans go to
"""

from __future__ import annotations

import tomllib
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge_agent.drivers.escpos import PrinterConfig
from edge_agent.drivers.mqtt import MqttConfig, MqttDevice
from edge_agent.drivers.scanner import ScannerConfig
from edge_agent.drivers.shtrih import DEFAULT_TAX_GROUPS, MAX_TAX_GROUP, vat_key
from edge_agent.transport import TransportSpec

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _transport(text: str) -> str:
    TransportSpec.parse(text)  # ValueError names the problem
    return text


class HubSection(_Section):
    url: str
    token: str | None = Field(default=None, min_length=8, max_length=4096)
    token_file: Path | None = None

    @model_validator(mode="after")
    def _checked(self) -> Self:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("hub.url must be http(s)://host[:port]")
        if (self.token is None) == (self.token_file is None):
            raise ValueError("give hub.token or hub.token_file, one of them")
        return self

    @property
    def websocket_url(self) -> str:
        base = self.url.rstrip("/")
        return (
            ("wss://" if base.startswith("https://") else "ws://") + base.split("://", 1)[1] + "/ws"
        )

    def read_token(self) -> str:
        if self.token is not None:
            return self.token
        assert self.token_file is not None
        return self.token_file.read_text(encoding="utf-8").strip()


class AgentSection(_Section):
    data_dir: Path = Path("/var/lib/pos-edge")
    # How long a held job (paper out) waits before the next attempt, and the longest
    # pause between reconnects to the hub.
    retry_seconds: float = Field(default=5.0, gt=0, le=3600)
    max_backoff_seconds: float = Field(default=30.0, gt=0, le=3600)


class PrinterSection(_Section):
    """The printer driver's own settings (edge_agent.drivers.escpos.PrinterConfig:
    codec, drawer_pin, cut, timeouts…) are allowed here and checked by it."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: Name
    transport: str
    model: str = Field(default="generic", max_length=64)
    width: Literal[32, 42, 48] = 42
    code_page: int | None = Field(default=None, ge=0, le=255)
    drawer: bool = False
    cash_register: uuid.UUID | None = None  # the till whose receipts it prints

    @model_validator(mode="after")
    def _checked(self) -> Self:
        PrinterConfig.from_mapping(self.driver_settings())
        return self

    def driver_settings(self) -> dict[str, object]:
        return self.model_dump(exclude={"cash_register"}, exclude_none=True)


class FiscalSection(_Section):
    name: Name
    transport: str
    password: int = Field(default=30, ge=0, le=99999999)
    cash_register: uuid.UUID | None = None  # the till whose receipts it registers
    # VAT rate ("22", "10", "0", "none"…) → the register's tax group; replaces the
    # default table (DEFAULT_TAX_GROUPS) when given. A rate missing here fails its receipt.
    tax_groups: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_TAX_GROUPS))

    @model_validator(mode="after")
    def _checked(self) -> Self:
        _transport(self.transport)
        object.__setattr__(self, "tax_groups", _tax_groups(self.tax_groups))
        return self


def _tax_groups(table: dict[str, int]) -> dict[str, int]:
    """The table with its rates normalised ("22.00" is "22"); ValueError naming the
    first bad entry."""
    if not table:
        raise ValueError('tax_groups: give at least one rate, e.g. { "22" = 1 }')
    checked: dict[str, int] = {}
    for rate, group in table.items():
        key = vat_key(rate)
        if key != "none":
            try:
                value = Decimal(key)
            except ArithmeticError:
                value = Decimal(-1)
            if not value.is_finite() or not 0 <= value <= 100 or value != round(value, 2):
                raise ValueError(
                    f'tax_groups: {rate!r} is not a VAT rate (a percent such as "22", or "none")'
                )
        if not 1 <= group <= MAX_TAX_GROUP:
            raise ValueError(
                f"tax_groups: the group of {rate!r} must be 1-{MAX_TAX_GROUP}, not {group}"
            )
        if key in checked:
            raise ValueError(f"tax_groups: the rate {key!r} is given twice")
        checked[key] = group
    return checked


class ScannerSection(_Section):
    name: Name
    transport: str
    cash_register: uuid.UUID
    suffix: str = Field(default="CRLF", min_length=1, max_length=4)

    @model_validator(mode="after")
    def _checked(self) -> Self:
        ScannerConfig.from_mapping(self.model_dump(exclude={"cash_register"}))
        return self


class MqttDeviceSection(_Section):
    name: Name
    kind: Literal["scanner", "display"]
    cash_register: uuid.UUID | None = None

    @model_validator(mode="after")
    def _checked(self) -> Self:
        if (self.kind == "scanner") != (self.cash_register is not None):
            raise ValueError("a scanner needs its cash_register, and only a scanner has one")
        return self


class MqttSection(_Section):
    """The shop's broker and the devices on it (edge_agent.drivers.mqtt)."""

    url: str = "mqtt://127.0.0.1:1883"  # mqtt[s]://[user[:password]@]host[:port]
    ca_file: Path | None = None  # mqtts: the broker's certificate authority
    cert_file: Path | None = None  # mqtts: the agent's certificate, if the broker wants one
    key_file: Path | None = None
    shop: Name = "shop"
    name: Name = "mqtt"  # the broker link in the agent's device list
    # Stable, so the broker keeps the agent's session (and scans made while it is away).
    client_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    keepalive: int = Field(default=30, ge=5, le=3600)
    command_timeout: float = Field(default=5.0, gt=0, le=120)
    device: list[MqttDeviceSection] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _checked(self) -> Self:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
            raise ValueError("mqtt.url must be mqtt://host[:port] or mqtts://host[:port]")
        for path in (self.ca_file, self.cert_file, self.key_file):
            if path is not None and not path.is_file():
                raise ValueError(f"{path}: no such file")
        self.bridge_config()  # ValueError names what the bridge refuses
        return self

    def bridge_config(self) -> MqttConfig:
        return MqttConfig(
            url=self.url,
            shop=self.shop,
            name=self.name,
            client_id=self.client_id or "",
            keepalive=self.keepalive,
            command_timeout=self.command_timeout,
            ca_file=str(self.ca_file or ""),
            cert_file=str(self.cert_file or ""),
            key_file=str(self.key_file or ""),
            devices=tuple(
                MqttDevice(
                    d.name,
                    d.kind,
                    None if d.cash_register is None else str(d.cash_register),
                )
                for d in self.device
            ),
        )


class AgentConfig(_Section):
    hub: HubSection
    agent: AgentSection = AgentSection()
    printer: list[PrinterSection] = Field(default_factory=list, max_length=8)
    fiscal: list[FiscalSection] = Field(default_factory=list, max_length=4)
    scanner: list[ScannerSection] = Field(default_factory=list, max_length=32)
    mqtt: MqttSection | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [p.name for p in self.printer] + [f.name for f in self.fiscal]
        names += [s.name for s in self.scanner]
        if self.mqtt is not None:
            names += [self.mqtt.name, *(d.name for d in self.mqtt.device)]
        if len(names) != len(set(names)):
            raise ValueError("device names must be unique")
        for kind, sections in (("printer", self.printer), ("fiscal", self.fiscal)):
            tills = [s.cash_register for s in sections]
            if len(tills) != len(set(tills)):
                raise ValueError(
                    f"one {kind} per cash_register, and one {kind} without a cash_register"
                )
        return self


class ConfigError(ValueError):
    pass


def prepare_data_dir(path: Path) -> None:
    """Make `agent.data_dir` if need be and check the agent can write there;
    ConfigError naming the setting otherwise (before anything starts)."""
    probe = path / ".pos-edge-probe"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"agent.data_dir: cannot use {path}: {exc.strerror or exc}") from exc


def load(path: Path) -> AgentConfig:
    """The checked configuration; ConfigError saying what is wrong and where."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        return AgentConfig.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"{path}: {problems}") from exc
