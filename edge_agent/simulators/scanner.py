"""A simulated serial barcode scanner on a pty pair: the driver opens `path` (or the
stable `link` given, a symlink kept pointing at the current pty, as udev names serial
devices under /dev/serial/by-id) and reads what `scan` and `send_raw` write.

    scanner = SimulatedScanner(suffix=b"\\r\\n")
    await scanner.start()
    ... ScannerConfig(transport=scanner.url) ...
    scanner.scan("4601234567893")
    scanner.send_raw(b"\\x00\\xff noise\\r\\n")
    await scanner.stop()      # the port goes away, as when unplugged
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tty
from pathlib import Path


class SimulatedScanner:
    def __init__(self, *, suffix: bytes = b"\r\n", link: str | Path | None = None) -> None:
        self.suffix = suffix
        self.link = Path(link) if link is not None else None
        self.path = ""
        self.sent: list[bytes] = []
        self._fds: tuple[int, int] | None = None

    @property
    def url(self) -> str:
        """The transport URL a driver opens: the symlink when there is one."""
        return f"serial://{self.link or self.path}"

    async def start(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass as they are
        self._fds = (master, slave)
        self.path = os.ttyname(slave)
        if self.link is not None:
            # Replace the symlink atomically: a reader never sees it missing.
            staging = self.link.with_name(self.link.name + ".new")
            staging.unlink(missing_ok=True)
            staging.symlink_to(self.path)
            staging.replace(self.link)

    async def stop(self) -> None:
        """Close the pty: the driver's port fails as when the scanner is unplugged."""
        if self._fds is not None:
            master, slave = self._fds
            self._fds = None
            os.close(master)
            os.close(slave)

    def scan(self, code: str, *, suffix: bytes | None = None) -> None:
        """What the scanner sends when it reads `code`."""
        self.send_raw(code.encode("ascii") + (self.suffix if suffix is None else suffix))

    def send_raw(self, data: bytes) -> None:
        """Bytes as they are: noise, a code split in two, an overlong frame."""
        if self._fds is None:
            raise RuntimeError("the scanner is not started")
        self.sent.append(data)
        view = memoryview(data)
        # A pty holds a few kilobytes; past that the write waits for the reader, so a
        # burst from a test whose reader runs on this thread must stay smaller.
        while view:
            written = os.write(self._fds[0], view)
            view = view[written:]


async def _run(scanner: SimulatedScanner) -> None:
    await scanner.start()
    print(f"simulated scanner at {scanner.url}; type a code and Enter to scan it", flush=True)
    try:
        while line := await asyncio.to_thread(sys.stdin.readline):
            if line.strip():
                scanner.scan(line.strip())
    finally:
        await scanner.stop()


def main(argv: list[str] | None = None) -> None:
    """python -m edge_agent.simulators.scanner [--link PATH] [--suffix HEX]: a simulated
    scanner that scans what is typed on stdin."""
    parser = argparse.ArgumentParser(prog="python -m edge_agent.simulators.scanner")
    parser.add_argument("--link", help="also reachable as this symlink")
    parser.add_argument("--suffix", default="0d0a", help="suffix bytes in hex (default 0d0a)")
    args = parser.parse_args(argv)
    scanner = SimulatedScanner(suffix=bytes.fromhex(args.suffix), link=args.link)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(scanner))


if __name__ == "__main__":
    main()
