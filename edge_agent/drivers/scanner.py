"""A barcode scanner on a serial port (or a USB scanner in serial/CDC mode): each code
arrives as ASCII text followed by the scanner's suffix, CR LF by default.

`SerialScanner` yields the codes as an async iterator. Framing: CR, LF and any byte of
the configured suffix (TAB, ETX...) end a code, so CR LF, CR alone and LF alone all
work whatever the setting, and the empty frame between CR and LF is ignored. A code is
trimmed of spaces. What cannot be a code is logged and skipped, never raised: a frame
with non-printable bytes (line noise, a wrong baud rate), a frame longer than
`max_length`, or a fragment that stops arriving without its suffix. GS (0x1D) is
kept: it separates the fields of GS1 codes (the marking codes on Russian goods). When
the port goes away (unplugged, the device node gone) the scanner reopens it with a
bounded backoff, for as long as it is iterated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from edge_agent.transport import Link, TransportError, TransportSpec, open_link

log = logging.getLogger(__name__)

GS = 0x1D
SUFFIX_NAMES = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n", "TAB": b"\t", "ETX": b"\x03"}
AGENT_KEYS = frozenset({"register", "cash_register"})
IDLE_WAIT = 3600.0  # seconds a read waits when no code is under way; then it just waits again


def parse_suffix(value: str) -> bytes:
    """A suffix by name (CR, LF, CRLF, TAB, ETX) or as the characters themselves."""
    suffix = SUFFIX_NAMES.get(value.upper(), value.encode("latin-1", errors="replace"))
    if not suffix or len(suffix) > 4 or any(b >= 0x20 or b == GS for b in suffix):
        raise ValueError(
            f"the suffix is 1-4 control characters other than GS, or one of "
            f"{', '.join(SUFFIX_NAMES)}; got {value!r}"
        )
    return suffix


@dataclass(frozen=True)
class ScannerConfig:
    """A scanner's section of the agent's config; see docs/devices.md."""

    transport: str  # serial:///dev/ttyACM0?baud=9600
    name: str = "scanner"  # for logs
    suffix: str = "CRLF"
    max_length: int = 256  # longer frames are garbage (a marking code is about 150)
    frame_timeout: float = 1.0  # a fragment left this long without its suffix is dropped
    reconnect_min: float = 0.5  # seconds before the first attempt to reopen the port
    reconnect_max: float = 10.0  # the backoff doubles up to this
    connect_timeout: float = 5.0

    def __post_init__(self) -> None:
        if TransportSpec.parse(self.transport).kind != "serial":
            raise ValueError("a serial scanner needs a serial:// transport")
        parse_suffix(self.suffix)
        if isinstance(self.max_length, bool) or not isinstance(self.max_length, int):
            raise ValueError("max_length must be a whole number")
        if not 1 <= self.max_length <= 8192:
            raise ValueError("max_length must be 1-8192")
        for name in ("frame_timeout", "reconnect_min", "reconnect_max", "connect_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("reconnect_max must be at least reconnect_min")

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> ScannerConfig:
        """From a config file's table; unknown keys are an error (a typo must not pass).
        `register` (the till its scans go to) is the agent's business and is skipped."""
        driver = {k: v for k, v in section.items() if k not in AGENT_KEYS}
        unknown = sorted(set(driver) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown scanner settings: {', '.join(unknown)}")
        if not isinstance(driver.get("transport"), str):
            raise ValueError("the scanner needs a transport")
        for name in ("suffix", "name"):
            if not isinstance(driver.get(name, ""), str):
                raise ValueError(f"{name} must be a string")
        return cls(**driver)


@dataclass
class ScannerCounters:
    scanned: int = 0
    garbage: int = 0  # frames with bytes no barcode has
    overlong: int = 0
    fragments: int = 0  # partial frames that never got their suffix
    connections: int = 0  # times the port was opened
    reconnects: int = 0  # times it was lost while in use


class SerialScanner:
    """`async for code in SerialScanner(config): ...` until `close()`."""

    def __init__(self, config: ScannerConfig) -> None:
        self.config = config
        self.counters = ScannerCounters()
        self._spec = TransportSpec.parse(config.transport)
        self._frame_ends = frozenset(parse_suffix(config.suffix)) | {0x0D, 0x0A}
        self._link: Link | None = None
        self._closed = False
        self.connected = asyncio.Event()  # set while the port is open

    def __aiter__(self) -> AsyncIterator[str]:
        return self.scans()

    async def close(self) -> None:
        """Stop: a pending iteration ends (StopAsyncIteration), the port is closed."""
        self._closed = True
        await self._disconnect()

    async def scans(self) -> AsyncIterator[str]:
        backoff = self.config.reconnect_min
        while not self._closed:
            try:
                link = await self._connect()
            except TransportError as exc:
                log.warning("scanner %s: %s; retrying in %.1fs", self.config.name, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.config.reconnect_max)
                continue
            backoff = self.config.reconnect_min
            try:
                async for code in self._frames(link):
                    yield code
            except (TransportError, OSError) as exc:
                if not self._closed:
                    log.warning("scanner %s lost: %s", self.config.name, exc)
                    self.counters.reconnects += 1
            await self._disconnect()

    async def _connect(self) -> Link:
        link = await open_link(self._spec, wait=self.config.connect_timeout)
        if self._closed:
            await link.close()
            raise TransportError("closed")
        self._link = link
        self.counters.connections += 1
        self.connected.set()
        log.info("scanner %s connected", self.config.name)
        return link

    async def _disconnect(self) -> None:
        self.connected.clear()
        if self._link is not None:
            link, self._link = self._link, None
            await link.close()

    async def _frames(self, link: Link) -> AsyncIterator[str]:
        """Codes from the open link until it fails (TransportError) or we are closed."""
        frame = bytearray()
        overlong = False
        while not self._closed:
            wait = self.config.frame_timeout if frame or overlong else IDLE_WAIT
            try:
                byte = (await link.read_exactly(1, wait))[0]
            except TimeoutError:
                if frame or overlong:
                    self.counters.fragments += 1
                    log.warning(
                        "scanner %s: dropped a fragment without its suffix: %r",
                        self.config.name,
                        bytes(frame),
                    )
                    frame.clear()
                    overlong = False
                continue
            if byte not in self._frame_ends:
                if len(frame) < self.config.max_length:
                    frame.append(byte)
                else:
                    overlong = True
                continue
            if overlong:
                self.counters.overlong += 1
                log.warning(
                    "scanner %s: skipped a frame over %d bytes",
                    self.config.name,
                    self.config.max_length,
                )
            elif (code := self._code(frame)) is not None:
                self.counters.scanned += 1
                yield code
            frame.clear()
            overlong = False

    def _code(self, frame: bytearray) -> str | None:
        """The frame as a code, or None (logged) when it is empty or garbage."""
        if any((b < 0x20 and b != GS) or b >= 0x7F for b in frame):
            self.counters.garbage += 1
            log.warning(
                "scanner %s: skipped a frame with non-printable bytes: %r",
                self.config.name,
                bytes(frame),
            )
            return None
        code = frame.decode("ascii").strip(" ")
        return code or None
