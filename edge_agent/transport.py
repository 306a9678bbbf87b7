"""Byte transports for device drivers: a serial port, a TCP socket (a network printer's
port 9100) or a file/device path. Drivers speak their protocol over a `Link` and never
know which transport carries it, so tests swap in a pty pair or a local socket.

A transport is named by a URL-like string in the agent's config:

    serial:///dev/ttyUSB0?baud=115200
    tcp://192.168.1.50:9100
    file:///dev/usb/lp0            (write-only; reads time out)
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

import serial_asyncio

DEFAULT_BAUD = 115200


class TransportError(OSError):
    """The link to the device is down or could not be opened."""


@dataclass(frozen=True)
class TransportSpec:
    kind: str  # "serial", "tcp" or "file"
    target: str  # the device path, or host
    port: int = 0
    baud: int = DEFAULT_BAUD

    @classmethod
    def parse(cls, text: str) -> TransportSpec:
        url = urlparse(text)
        query = parse_qs(url.query)
        if url.scheme == "serial" and url.path:
            return cls("serial", url.path, baud=int(query.get("baud", [DEFAULT_BAUD])[0]))
        if url.scheme == "tcp" and url.hostname and url.port:
            return cls("tcp", url.hostname, port=url.port)
        if url.scheme == "file" and url.path:
            return cls("file", url.path)
        raise ValueError(f"not a transport: {text!r} (serial://, tcp://host:port or file://)")

    def describe(self) -> str:
        if self.kind == "tcp":
            return f"tcp://{self.target}:{self.port}"
        if self.kind == "serial":
            return f"serial://{self.target}?baud={self.baud}"
        return f"file://{self.target}"


class Link:
    """An open byte stream to a device."""

    def __init__(self, reader: asyncio.StreamReader | None, writer: Any) -> None:
        self._reader = reader
        self._writer = writer

    async def write(self, data: bytes) -> None:
        try:
            if isinstance(self._writer, asyncio.StreamWriter):
                self._writer.write(data)
                await self._writer.drain()
            else:
                await asyncio.to_thread(self._write_file, data)
        except (OSError, ConnectionError) as exc:
            raise TransportError(f"write failed: {exc}") from exc

    def _write_file(self, data: bytes) -> None:
        self._writer.write(data)
        self._writer.flush()

    async def read_exactly(self, size: int, wait: float) -> bytes:
        """`size` bytes within `wait` seconds; TimeoutError otherwise."""
        if self._reader is None:
            raise TimeoutError("this transport cannot be read")
        try:
            return await asyncio.wait_for(self._reader.readexactly(size), wait)
        except asyncio.IncompleteReadError as exc:
            raise TransportError("the device closed the link") from exc

    async def read_until(self, separator: bytes, wait: float | None = None) -> bytes:
        if self._reader is None:
            raise TimeoutError("this transport cannot be read")
        try:
            return await asyncio.wait_for(self._reader.readuntil(separator), wait)
        except asyncio.IncompleteReadError as exc:
            raise TransportError("the device closed the link") from exc

    async def drain_input(self) -> bytes:
        """Whatever has arrived and not been read (stale bytes before a new exchange)."""
        if self._reader is None:
            return b""
        stale = b""
        with contextlib.suppress(TimeoutError):
            while True:
                chunk = await asyncio.wait_for(self._reader.read(4096), 0.01)
                if not chunk:
                    break  # the peer closed: nothing more will come
                stale += chunk
        return stale

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if isinstance(self._writer, asyncio.StreamWriter):
                self._writer.close()
                await self._writer.wait_closed()
            else:
                self._writer.close()


async def open_link(spec: TransportSpec, wait: float = 5.0) -> Link:
    try:
        if spec.kind == "serial":
            reader, writer = await asyncio.wait_for(
                serial_asyncio.open_serial_connection(url=spec.target, baudrate=spec.baud),
                wait,
            )
            return Link(reader, writer)
        if spec.kind == "tcp":
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(spec.target, spec.port), wait
            )
            return Link(reader, writer)
        handle = await asyncio.to_thread(open, spec.target, "ab", buffering=0)
        return Link(None, handle)
    except (OSError, TimeoutError) as exc:
        raise TransportError(f"cannot open {spec.describe()}: {exc}") from exc
