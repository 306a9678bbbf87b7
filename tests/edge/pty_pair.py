"""A pty pair usable as a serial port: a driver opens `path` (the slave end) with
serial://, the test reads and writes the master end as the device would."""

from __future__ import annotations

import asyncio
import os
import tty
from types import TracebackType


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # the fd may be reported readable again before we resume
        future.set_result(None)


class PtyPair:
    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)  # the slave stays open so the port can be reopened

    @property
    def url(self) -> str:
        return f"serial://{self.path}"

    def write(self, data: bytes) -> None:
        """As the device: bytes the driver will read (keep it under a few kilobytes)."""
        os.write(self.master, data)

    async def read(self, size: int, wait: float = 5.0) -> bytes:
        """As the device: exactly `size` bytes the driver wrote, within `wait` seconds."""
        loop = asyncio.get_running_loop()
        data = b""
        async with asyncio.timeout(wait):
            while len(data) < size:
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_reader(self.master, _resolve, ready)
                try:
                    await ready
                finally:
                    loop.remove_reader(self.master)
                try:
                    data += os.read(self.master, size - len(data))
                except BlockingIOError:
                    continue
        return data

    def close(self) -> None:
        os.close(self.master)
        os.close(self._slave)

    def __enter__(self) -> PtyPair:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
