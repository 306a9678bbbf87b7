"""An ESC/POS receipt printer: `Printer` prints a `Receipt` over any transport (serial,
TCP port 9100, or a file/device path), checking the real-time status first.

The bytes are built in `escpos_commands` and laid out in `escpos_layout`; this module
sends them. A file transport cannot answer a status question: its status is "unknown"
and printing goes ahead blind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import TracebackType
from typing import Any

from edge_agent.drivers.escpos_commands import (
    CodePage,
    PrinterStatus,
    StatusKind,
    StatusReplyError,
    code_page_for,
    cut,
    drawer_kick,
    status_request,
)
from edge_agent.drivers.escpos_layout import layout
from edge_agent.receipt import Receipt
from edge_agent.transport import Link, TransportError, TransportSpec, open_link

log = logging.getLogger(__name__)


class PrinterError(Exception):
    """The printer cannot print now; the job is to be held and retried, not dropped."""

    def __init__(self, status: PrinterStatus, message: str = "") -> None:
        super().__init__(message or f"printer {status.condition}")
        self.status = status


class PrinterOffline(PrinterError):
    """Silent, unreachable, or offline for a reason it does not report."""


class CoverOpen(PrinterError):
    pass


class PaperOut(PrinterError):
    pass


class PrinterFault(PrinterError):
    """A cutter or mechanism error: someone has to look at the printer."""


def raise_for_status(status: PrinterStatus) -> None:
    """The typed error for a status that cannot print; nothing when it can."""
    errors: dict[str, type[PrinterError]] = {
        "offline": PrinterOffline,
        "cover_open": CoverOpen,
        "paper_out": PaperOut,
        "error": PrinterFault,
    }
    if status.condition in errors:
        raise errors[status.condition](status)


# --- the printer ---------------------------------------------------------------------

DRAWER_POLICIES = ("never", "cash", "always")
CUTS = ("partial", "full")


@dataclass(frozen=True)
class PrinterConfig:
    """A printer's section of the agent's config; see docs/devices.md."""

    transport: str  # serial:///dev/ttyUSB0?baud=38400, tcp://host:9100, file:///dev/usb/lp0
    name: str = "printer"  # for logs
    model: str = "generic"
    code_page: int | None = None  # ESC t n; the model's when None
    codec: str | None = None  # the Python codec for that page; the model's when None
    width: int = 42  # characters per line: 32 on 58 mm paper, 42 or 48 on 80 mm
    # Kick the drawer after a receipt: never, cash (if cash changed hands), always; the
    # agent config's true/false are taken as cash/never (and stored so).
    drawer: str | bool = "never"
    drawer_pin: int = 2
    drawer_open_when_high: bool = True  # how the drawer's switch reads on connector pin 3
    cut: str = "partial"
    status_timeout: float = 1.0  # seconds to wait for each status byte
    connect_timeout: float = 5.0

    def __post_init__(self) -> None:
        if isinstance(self.drawer, bool):
            object.__setattr__(self, "drawer", "cash" if self.drawer else "never")
        TransportSpec.parse(self.transport)
        code_page_for(self.model, self.code_page, self.codec)
        if isinstance(self.width, bool) or not isinstance(self.width, int):
            raise ValueError("width must be a whole number of characters")
        if not 24 <= self.width <= 80:
            raise ValueError(f"width must be 24-80 characters, got {self.width}")
        if self.drawer not in DRAWER_POLICIES:
            raise ValueError(f"drawer must be one of {', '.join(DRAWER_POLICIES)}")
        if self.drawer_pin not in (2, 5):
            raise ValueError("drawer_pin must be 2 or 5")
        if self.cut not in CUTS:
            raise ValueError(f"cut must be one of {', '.join(CUTS)}")
        for name in ("status_timeout", "connect_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> PrinterConfig:
        """From a config file's table; unknown keys are an error (a typo must not pass)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"unknown printer settings: {', '.join(unknown)}")
        if "transport" not in section:
            raise ValueError("the printer needs a transport")
        for name in ("transport", "name", "model", "codec", "cut"):
            if name in section and not isinstance(section[name], str):
                raise ValueError(f"{name} must be a string")
        if not isinstance(section.get("drawer", "never"), str | bool):
            raise ValueError("drawer must be never, cash, always, true or false")
        if not isinstance(section.get("drawer_open_when_high", True), bool):
            raise ValueError("drawer_open_when_high must be true or false")
        return cls(**section)

    @property
    def spec(self) -> TransportSpec:
        return TransportSpec.parse(self.transport)

    @property
    def page(self) -> CodePage:
        return code_page_for(self.model, self.code_page, self.codec)


class Printer:
    """An ESC/POS printer over one transport. Calls are serialised: a status question
    and its answer are never interleaved with another call's bytes."""

    def __init__(self, config: PrinterConfig) -> None:
        self.config = config
        self._spec = config.spec
        self._link: Link | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Printer:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def askable(self) -> bool:
        return self._spec.kind != "file"

    async def close(self) -> None:
        async with self._lock:
            await self._drop_link()

    async def status(self) -> PrinterStatus:
        """Ask the printer; silent within `status_timeout` (or unreachable) is offline."""
        async with self._lock:
            return await self._status()

    async def print_receipt(self, receipt: Receipt, *, open_drawer: bool | None = None) -> None:
        """Print and cut `receipt`, and kick the drawer if asked (None: by the config's
        drawer policy). Checks the status first and raises PaperOut, CoverOpen,
        PrinterOffline or PrinterFault instead of sending a receipt the printer would
        lose; the caller holds the job and retries."""
        data = self.receipt_bytes(receipt, open_drawer=open_drawer)
        async with self._lock:
            raise_for_status(await self._status())
            await self._send(data)

    async def open_drawer(self) -> None:
        """Kick the drawer. Refused like a print while the printer cannot print: it
        would keep the kick and fire it when the paper is back."""
        async with self._lock:
            raise_for_status(await self._status())
            await self._send(self._kick())

    def receipt_bytes(self, receipt: Receipt, *, open_drawer: bool | None = None) -> bytes:
        """Exactly what `print_receipt` sends."""
        if open_drawer is None:
            cash_moved = receipt.tendered_cash > 0 or receipt.cash > 0
            open_drawer = self.config.drawer == "always" or (
                self.config.drawer == "cash" and cash_moved
            )
        data = layout(receipt, self.config.width, self.config.page)
        data += cut(partial=self.config.cut == "partial")
        return data + (self._kick() if open_drawer else b"")

    def _kick(self) -> bytes:
        return drawer_kick(self.config.drawer_pin)

    async def _connect(self) -> Link:
        if self._link is None:
            self._link = await open_link(self._spec, wait=self.config.connect_timeout)
        return self._link

    async def _drop_link(self) -> None:
        if self._link is not None:
            link, self._link = self._link, None
            await link.close()

    async def _send(self, data: bytes) -> None:
        try:
            link = await self._connect()
            await link.write(data)
        except (TransportError, OSError) as exc:
            # Part of it may have printed; the caller's retry may print it again.
            await self._drop_link()
            raise PrinterOffline(PrinterStatus.silent(), f"cannot send: {exc}") from exc

    async def _status(self) -> PrinterStatus:
        if not self.askable:
            return PrinterStatus.not_askable()
        try:
            link = await self._connect()
            await _discard_stale(link)
            replies = []
            for kind in StatusKind:
                await link.write(status_request(kind))
                replies.append((await link.read_exactly(1, self.config.status_timeout))[0])
            return PrinterStatus.from_replies(
                *replies, drawer_open_when_high=self.config.drawer_open_when_high
            )
        except TimeoutError:
            return PrinterStatus.silent()
        except StatusReplyError as exc:
            log.warning("printer %s: %s", self.config.name, exc)
            return PrinterStatus.silent()
        except (TransportError, OSError) as exc:
            log.info("printer %s unreachable: %s", self.config.name, exc)
            await self._drop_link()
            return PrinterStatus.silent()


async def _discard_stale(link: Link) -> None:
    """Drop bytes that arrived unasked (a late answer to a question that timed out), so
    the next reply is read as the answer to the next question."""
    with contextlib.suppress(TimeoutError):
        while True:
            stale = await link.read_exactly(1, 0.005)
            log.debug("discarding a stale byte 0x%02x", stale[0])
