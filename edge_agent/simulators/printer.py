"""A simulated ESC/POS receipt printer, on a pty pair (the driver opens `path` as a
serial port) or on a local TCP port (a network printer's 9100).

It parses the byte stream as a printer does and records what a printer would have
produced: text lines (decoded with the selected code page), cuts, QR codes, drawer
kicks. It answers DLE EOT status questions from its state, which a test or a demo sets:
`paper_out`, `paper_near_end`, `cover_open`, `cutter_error`, `drawer_open`, and
`offline` (powered off: no answers, nothing processed). While the paper is out or the
cover is open it refuses to print, as a real printer stops: the bytes are dropped and
nothing is recorded; status questions are still answered.

    printer = SimulatedPrinter()          # or SimulatedPrinter(tcp=True)
    await printer.start()
    ... PrinterConfig(transport=printer.url) ...
    await printer.wait_for(lambda: printer.cuts)
    await printer.stop()

`feed(data)` runs the parser without any I/O and returns the replies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tty
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

DLE, EOT, DC4, ESC, GS, LF = 0x10, 0x04, 0x14, 0x1B, 0x1D, 0x0A

# Tables a printer has by number (ESC t n), as Python codecs; 0 is the power-on table.
DEFAULT_CODE_PAGES: dict[int, str] = {0: "cp437", 17: "cp866", 46: "cp1251"}

# Lengths of the fixed-size commands that only change modes the simulator ignores
# (underline, font, spacing, print mode...), by the byte after ESC or GS.
_ESC_IGNORED = {
    0x2D: 3,  # ESC - n: underline
    0x4D: 3,  # ESC M n: font
    0x47: 3,  # ESC G n: double strike
    0x32: 2,  # ESC 2: default line spacing
    0x33: 3,  # ESC 3 n: line spacing
    0x20: 3,  # ESC SP n: character spacing
    0x4A: 3,  # ESC J n: feed n dots
    0x52: 3,  # ESC R n: international character set
    0x3D: 3,  # ESC = n: select peripheral
    0x7B: 3,  # ESC { n: upside down
    0x63: 4,  # ESC c 3|4|5 n: paper sensors, panel buttons
}
_GS_IGNORED = {0x42: 3, 0x48: 3, 0x68: 3, 0x77: 3, 0x66: 3, 0x4C: 4, 0x57: 4}


@dataclass(frozen=True)
class PrintedLine:
    text: str
    align: int  # 0 left, 1 centre, 2 right
    bold: bool
    width: int  # character size multipliers (GS !)
    height: int


@dataclass
class _Modes:
    """What ESC @ resets."""

    code_page: int = 0
    align: int = 0
    bold: bool = False
    width: int = 1
    height: int = 1


@dataclass
class _QrSymbol:
    model: int = 50
    module_size: int = 3
    error_correction: int = 48
    data: bytes = b""


@dataclass
class SimulatedPrinterState:
    # Conditions, set by the test or the demo.
    offline: bool = False
    paper_out: bool = False
    paper_near_end: bool = False
    cover_open: bool = False
    cutter_error: bool = False
    drawer_open: bool = False
    # What came out of it.
    lines: list[str] = field(default_factory=list)
    printed: list[PrintedLine] = field(default_factory=list)
    receipts: list[list[str]] = field(default_factory=list)  # the lines between cuts
    cuts: list[str] = field(default_factory=list)  # "full" or "partial"
    qr_codes: list[str] = field(default_factory=list)
    drawer_kicks: list[int] = field(default_factory=list)  # the pin, 2 or 5
    status_queries: list[int] = field(default_factory=list)  # n of each DLE EOT n
    refused_bytes: int = 0  # received while it could not print
    unknown_commands: list[bytes] = field(default_factory=list)

    @property
    def can_print(self) -> bool:
        return not (self.offline or self.paper_out or self.cover_open or self.cutter_error)


class EscPosMachine:
    """The parser and the printer's mechanism, without I/O."""

    def __init__(self, state: SimulatedPrinterState, code_pages: Mapping[int, str]) -> None:
        self.state = state
        self._code_pages = dict(code_pages)
        self._pending = bytearray()
        self._modes = _Modes()
        self._line = ""
        self._page: list[str] = []
        self._qr = _QrSymbol()

    def feed(self, data: bytes) -> bytes:
        """Process `data` (commands may be split across calls); the replies to send."""
        if self.state.offline:
            return b""
        self._pending += data
        replies = bytearray()
        while self._pending:
            used = self._step(self._pending, replies)
            if used == 0:
                break  # an incomplete command: wait for the rest
            del self._pending[:used]
        return bytes(replies)

    # The parser: each branch returns how many bytes the command took, 0 if incomplete.
    def _step(self, buf: bytearray, replies: bytearray) -> int:
        first = buf[0]
        if first == DLE:
            return self._real_time(buf, replies)
        if not self.state.can_print:
            self.state.refused_bytes += 1
            return 1
        if first == ESC:
            return self._esc(buf)
        if first == GS:
            return self._gs(buf)
        if first == LF:
            self._print_line()
            return 1
        if first < 0x20 or first == 0x7F:
            return 1  # CR, HT and the like: nothing to record
        end = 1
        while end < len(buf) and buf[end] >= 0x20 and buf[end] != 0x7F:
            end += 1
        codec = self._code_pages.get(self._modes.code_page, "cp437")
        self._line += bytes(buf[:end]).decode(codec, errors="replace")
        return end

    def _real_time(self, buf: bytearray, replies: bytearray) -> int:
        if len(buf) < 3:
            return 0
        if buf[1] == EOT:
            self.state.status_queries.append(buf[2])
            replies.append(self.status_byte(buf[2]))
            return 3
        if buf[1] == DC4:  # DLE DC4 fn m t: a real-time drawer pulse
            if len(buf) < 5:
                return 0
            if buf[2] == 1:
                self._kick(2 if buf[3] == 0 else 5)
            return 5
        return 3 if buf[1] == 0x05 else 1  # DLE ENQ n: recover; a lone DLE: skip it

    def _esc(self, buf: bytearray) -> int:
        if len(buf) < 2:
            return 0
        command = buf[1]
        if command == 0x40:  # ESC @
            self._modes = _Modes()
            self._line = ""
            return 2
        if command == 0x70:  # ESC p m t1 t2
            if len(buf) < 5:
                return 0
            self._kick(2 if buf[2] in (0, 48) else 5)
            return 5
        if command in (0x74, 0x45, 0x61, 0x64, 0x21) or command in _ESC_IGNORED:
            size = _ESC_IGNORED.get(command, 3)
            if len(buf) < size:
                return 0
            value = buf[2] if size > 2 else 0
            if command == 0x74:  # ESC t n
                self._modes.code_page = value
            elif command == 0x45:  # ESC E n
                self._modes.bold = bool(value & 1)
            elif command == 0x61:  # ESC a n
                self._modes.align = value % 48
            elif command == 0x64:  # ESC d n: print, then feed
                self._print_line_if_pending()
            elif command == 0x21:  # ESC ! n: emphasised is bit 3, double height bit 4
                self._modes.bold = bool(value & 0x08)
                self._modes.height = 2 if value & 0x10 else 1
                self._modes.width = 2 if value & 0x20 else 1
            return size
        self.state.unknown_commands.append(bytes(buf[:2]))
        return 2

    def _gs(self, buf: bytearray) -> int:
        if len(buf) < 2:
            return 0
        command = buf[1]
        if command == 0x21:  # GS ! n
            if len(buf) < 3:
                return 0
            self._modes.width = (buf[2] >> 4) + 1
            self._modes.height = (buf[2] & 0x0F) + 1
            return 3
        if command == 0x56:  # GS V m [n]
            if len(buf) < 3:
                return 0
            size = 4 if buf[2] in (65, 66, 97, 98, 103, 104) else 3
            if len(buf) < size:
                return 0
            full = buf[2] in (0, 48, 65, 97, 103)
            self._cut("full" if full else "partial")
            return size
        if command == 0x28:  # GS ( fn pL pH ...
            if len(buf) < 5:
                return 0
            size = 5 + buf[3] + buf[4] * 256
            if len(buf) < size:
                return 0
            if buf[2] == 0x6B:  # GS ( k: 2-D symbols
                self._symbol(bytes(buf[5:size]))
            return size
        if command in _GS_IGNORED:
            size = _GS_IGNORED[command]
            return size if len(buf) >= size else 0
        self.state.unknown_commands.append(bytes(buf[:2]))
        return 2

    def _symbol(self, body: bytes) -> None:
        if len(body) < 2 or body[0] != 49:  # cn 49: QR Code; others are not simulated
            self.state.unknown_commands.append(b"\x1d(k" + body[:2])
            return
        function, parameters = body[1], body[2:]
        if function == 65 and parameters:
            self._qr.model = parameters[0]
        elif function == 67 and parameters:
            self._qr.module_size = parameters[0]
        elif function == 69 and parameters:
            self._qr.error_correction = parameters[0]
        elif function == 80 and parameters:
            self._qr.data = parameters[1:]
        elif function == 81 and self._qr.data:
            self._print_line_if_pending()
            self.state.qr_codes.append(self._qr.data.decode("ascii", errors="replace"))

    def _print_line(self) -> None:
        modes = self._modes
        line = PrintedLine(self._line, modes.align, modes.bold, modes.width, modes.height)
        self.state.printed.append(line)
        self.state.lines.append(self._line)
        self._page.append(self._line)
        self._line = ""

    def _print_line_if_pending(self) -> None:
        if self._line:
            self._print_line()

    def _cut(self, kind: str) -> None:
        self._print_line_if_pending()
        self.state.cuts.append(kind)
        self.state.receipts.append(self._page)
        self._page = []

    def _kick(self, pin: int) -> None:
        if self.state.can_print:
            self.state.drawer_kicks.append(pin)
            self.state.drawer_open = True

    def status_byte(self, kind: int) -> int:
        """The reply to DLE EOT `kind` (bits as the Epson reference lays them out)."""
        state = self.state
        value = 0b0001_0010  # the bits fixed on in every reply
        if kind == 1:
            stopped = state.paper_out or state.cover_open or state.cutter_error
            value |= (0x04 if state.drawer_open else 0) | (0x08 if stopped else 0)
        elif kind == 2:
            value |= 0x04 if state.cover_open else 0
            value |= 0x20 if state.paper_out else 0
            value |= 0x40 if state.cutter_error else 0
        elif kind == 3:
            value |= 0x08 if state.cutter_error else 0
        elif kind == 4:
            value |= 0x0C if state.paper_near_end or state.paper_out else 0
            value |= 0x60 if state.paper_out else 0
        return value


class SimulatedPrinter:
    """An `EscPosMachine` behind a pty pair (`path`) or a TCP port (`port`)."""

    def __init__(
        self,
        *,
        tcp: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        code_pages: Mapping[int, str] | None = None,
    ) -> None:
        self.state = SimulatedPrinterState()
        self.machine = EscPosMachine(self.state, code_pages or DEFAULT_CODE_PAGES)
        self._tcp = tcp
        self._host = host
        self.port = port
        self.path = ""
        self._fds: tuple[int, int] | None = None
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, asyncio.Task[None] | None] = {}
        self._changed = asyncio.Event()

    @property
    def url(self) -> str:
        """The transport URL a driver opens."""
        return f"tcp://{self._host}:{self.port}" if self._tcp else f"serial://{self.path}"

    async def start(self) -> None:
        if self._tcp:
            self._server = await asyncio.start_server(self._serve, self._host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass as they are
        os.set_blocking(master, False)
        self._fds = (master, slave)
        self.path = os.ttyname(slave)
        asyncio.get_running_loop().add_reader(master, self._on_pty_data)

    async def stop(self) -> None:
        if self._fds is not None:
            master, slave = self._fds
            self._fds = None
            asyncio.get_running_loop().remove_reader(master)
            os.close(master)
            os.close(slave)  # kept open until now so the driver may reopen the port
        if self._server is not None:
            self._server.close()
            for writer in self._clients:
                writer.close()
            handlers = [task for task in self._clients.values() if task is not None]
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    def feed(self, data: bytes) -> bytes:
        replies = self.machine.feed(data)
        self._changed.set()
        return replies

    async def wait_for(self, predicate: Callable[[], object], wait: float = 5.0) -> None:
        """Until `predicate()` holds after the printer has processed what it received;
        TimeoutError after `wait` seconds."""
        async with asyncio.timeout(wait):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def _on_pty_data(self, /) -> None:
        assert self._fds is not None
        master = self._fds[0]
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            return
        replies = self.feed(data)
        if replies:
            # A driver that never reads fills the pty: its replies are lost, as on a UART.
            with contextlib.suppress(BlockingIOError):
                os.write(master, replies)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients[writer] = asyncio.current_task()
        try:
            while data := await reader.read(65536):
                replies = self.feed(data)
                if replies:
                    writer.write(replies)
                    await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._clients.pop(writer, None)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _run(printer: SimulatedPrinter) -> None:
    await printer.start()
    print(f"simulated printer at {printer.url}", flush=True)
    lines = printer.state.lines
    shown = 0

    def more_printed() -> bool:
        return len(lines) > shown

    try:
        while True:
            with contextlib.suppress(TimeoutError):
                await printer.wait_for(more_printed, wait=3600)
            for line in lines[shown:]:
                print(f"| {line}", flush=True)
            shown = len(lines)
    finally:
        await printer.stop()


def main(argv: list[str] | None = None) -> None:
    """python -m edge_agent.simulators.printer [--tcp] [--port N] [--paper-out]: run a
    simulated printer until Ctrl-C, echoing what it prints."""
    parser = argparse.ArgumentParser(prog="python -m edge_agent.simulators.printer")
    parser.add_argument("--tcp", action="store_true", help="listen on TCP instead of a pty")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free)")
    parser.add_argument("--paper-out", action="store_true", help="start without paper")
    args = parser.parse_args(argv)
    printer = SimulatedPrinter(tcp=args.tcp, port=args.port)
    printer.state.paper_out = args.paper_out
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(printer))


if __name__ == "__main__":
    main()
