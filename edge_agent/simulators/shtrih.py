"""A simulated Shtrih-M fiscal register on a pseudo-terminal.

The simulator holds the master end of a pty pair; the slave end's `path` is what a
driver opens, through `serial://` (`url`), as if it were the register's USB-serial port:

    async with ShtrihSimulator() as simulator:
        register = await FiscalRegister.connect(simulator.url)

or from a shell: `python -m edge_agent.simulators.shtrih` (prints its URL and every fiscal
document it registers).

It speaks the register's side of the exchange: NAK to ENQ when ready, ACK and the answer
again when an answer has not been acknowledged, ACK or NAK (bad LRC) to a frame, the
answer frame, and the answer once more on NAK. The register's state is in `register`
(a `SimulatedRegister`: mode, shift, documents, open receipt, paper).

Faults for tests and demos, each used up as it fires:

- `faults.silent_enqs`: ENQs left unanswered (a register switched off or unplugged);
- `faults.refused_frames`: well-formed frames answered with NAK (asking for a resend);
- `faults.corrupted_answers`: answers sent with a wrong LRC (sent correctly on NAK);
- `faults.noise_before_answer`: bytes sent just before the next answer;
- `lose_answer(command, executed=...)`: a power cut when that command arrives, before or
  after it runs; its answer never comes;
- `fail_next(command, code)`: the next such command is refused with that error code;
  `faults.standing_errors[command] = code`: every such command, until removed (a
  fiscal storage that has failed);
- `register.paper = False`: out of paper; `inject_noise(data)`: garbage on the line now.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import tty
from dataclasses import dataclass, field
from types import TracebackType

from edge_agent.drivers.shtrih_frames import (
    ACK,
    ENQ,
    NAK,
    STX,
    FrameError,
    command_bytes,
    decode_frame,
    encode_frame,
    split_command,
)
from edge_agent.simulators.shtrih_register import SimulatedDocument, SimulatedRegister

log = logging.getLogger(__name__)


@dataclass
class LostAnswer:
    command: int
    executed: bool  # the power went after the command ran, or before
    skip: int = 0  # matching commands to let through first


@dataclass
class ShtrihFaults:
    silent_enqs: int = 0
    refused_frames: int = 0
    corrupted_answers: int = 0
    noise_before_answer: bytes = b""
    lost_answers: list[LostAnswer] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)  # command -> error code, once
    standing_errors: dict[int, int] = field(default_factory=dict)  # ... until removed


class ShtrihSimulator:
    def __init__(
        self, register: SimulatedRegister | None = None, *, byte_timeout: float = 0.5
    ) -> None:
        self.register = register or SimulatedRegister()
        self.faults = ShtrihFaults()
        self.byte_timeout = byte_timeout  # for the rest of a frame after its STX
        self.frames_received: list[bytes] = []  # every well-formed frame's payload
        self.enqs_received = 0
        self.noise_received = 0  # bytes that were neither control bytes nor frames
        self._master = -1
        self._slave = -1
        self._path = ""
        self._inbox = bytearray()
        self._arrived = asyncio.Event()
        self._pending: bytes | None = None  # an answer not yet acknowledged
        self._task: asyncio.Task[None] | None = None

    @property
    def path(self) -> str:
        """The serial port's path (the pty's slave end)."""
        if not self._path:
            raise RuntimeError("the simulator is not started")
        return self._path

    @property
    def url(self) -> str:
        """The transport URL a driver opens."""
        return f"serial://{self.path}"

    async def start(self) -> None:
        if self._task is not None:
            return
        self._master, self._slave = os.openpty()
        # Raw, so the line discipline neither echoes nor translates the protocol's bytes.
        # The slave stays open here so that the pty lives across the driver's reconnects.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self._path = os.ttyname(self._slave)
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._on_readable)
        self._task = asyncio.create_task(self._serve(), name="shtrih-simulator")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        asyncio.get_running_loop().remove_reader(self._master)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = -1

    async def __aenter__(self) -> ShtrihSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- faults ----------------------------------------------------------------------------

    def lose_answer(self, command: int, *, executed: bool, skip: int = 0) -> None:
        """Cut the power when `command` arrives (after `skip` such commands went through):
        after running it when `executed`, else before. No answer is ever sent for it."""
        self.faults.lost_answers.append(LostAnswer(command, executed, skip))

    def fail_next(self, command: int, error_code: int) -> None:
        self.faults.errors[command] = error_code

    def inject_noise(self, data: bytes) -> None:
        self._write(data)

    # --- the line ------------------------------------------------------------------------

    async def _serve(self) -> None:
        while True:
            byte = await self._next_byte(None)
            if byte is None:
                continue
            try:
                await self._on_byte(byte)
            except Exception:
                # A bug in the simulated register must not take the whole line down.
                log.exception("shtrih simulator: failed on byte %#04x", byte)

    async def _on_byte(self, byte: int) -> None:
        if byte == ENQ:
            self._on_enq()
        elif byte == STX:
            await self._on_frame()
        elif byte == ACK:
            self._pending = None
        elif byte == NAK:
            if self._pending is not None:
                self._write(self._pending)
        else:
            self.noise_received += 1

    def _on_enq(self) -> None:
        self.enqs_received += 1
        if self.faults.silent_enqs > 0:
            self.faults.silent_enqs -= 1
            return
        if self._pending is not None:
            self._write(bytes([ACK]) + self._pending)
        else:
            self._write(bytes([NAK]))

    async def _on_frame(self) -> None:
        length = await self._next_byte(self.byte_timeout)
        if length is None:
            return
        rest = bytearray()
        while len(rest) < length + 1:
            byte = await self._next_byte(self.byte_timeout)
            if byte is None:
                return  # cut short: say nothing, as a register would
            rest.append(byte)
        try:
            payload = decode_frame(bytes([STX, length]) + bytes(rest))
        except FrameError:
            self._write(bytes([NAK]))
            return
        self.frames_received.append(payload)
        if self.faults.refused_frames > 0:
            self.faults.refused_frames -= 1
            self._write(bytes([NAK]))
            return
        self._write(bytes([ACK]))
        self._pending = None
        self._answer(payload)

    def _answer(self, payload: bytes) -> None:
        try:
            command, _ = split_command(payload)
        except FrameError:
            return
        lost = self._take_lost_answer(command)
        if lost is not None and not lost.executed:
            log.info("shtrih simulator: power cut before %#x ran", command)
            return
        forced = self.faults.errors.pop(command, None) or self.faults.standing_errors.get(command)
        if forced is not None:
            answer = command_bytes(command) + bytes([forced])
        else:
            answer = self.register.answer(payload)
        if lost is not None:
            log.info("shtrih simulator: power cut after %#x ran", command)
            return
        frame = encode_frame(answer)
        self._pending = frame
        if self.faults.noise_before_answer:
            self._write(self.faults.noise_before_answer)
            self.faults.noise_before_answer = b""
        if self.faults.corrupted_answers > 0:
            self.faults.corrupted_answers -= 1
            self._write(frame[:-1] + bytes([frame[-1] ^ 0xFF]))
        else:
            self._write(frame)

    def _take_lost_answer(self, command: int) -> LostAnswer | None:
        for lost in self.faults.lost_answers:
            if lost.command == command:
                if lost.skip > 0:
                    lost.skip -= 1
                    return None
                self.faults.lost_answers.remove(lost)
                return lost
        return None

    # --- bytes -----------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # nobody holds the slave; there is nothing to read
        if data:
            self._inbox.extend(data)
            self._arrived.set()

    async def _next_byte(self, wait: float | None) -> int | None:
        while not self._inbox:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), wait)
            except TimeoutError:
                return None
        byte = self._inbox[0]
        del self._inbox[0]
        return byte

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                # Nobody reads the port and its buffer is full: a real line loses it too.
                log.warning("shtrih simulator: line full, %d byte(s) dropped", len(view))
                return
            view = view[written:]


def _announce(document: SimulatedDocument) -> None:
    total = "" if document.total is None else f" {document.total}"
    shift = "" if document.shift_number is None else f" shift {document.shift_number}"
    print(
        f"document {document.number}: {document.document_type.name.lower()}{total}{shift}"
        f" fiscal sign {document.fiscal_sign:010d}",
        flush=True,
    )


async def _run(simulator: ShtrihSimulator) -> None:
    async with simulator:
        print(f"simulated Shtrih-M register at {simulator.url}", flush=True)
        await asyncio.Event().wait()  # until interrupted


def main(argv: list[str] | None = None) -> None:
    """python -m edge_agent.simulators.shtrih [--paper-out] [--shift-open] [--password N]"""
    parser = argparse.ArgumentParser(prog="python -m edge_agent.simulators.shtrih")
    parser.add_argument("--paper-out", action="store_true", help="start without paper")
    parser.add_argument("--shift-open", action="store_true", help="start with a shift open")
    parser.add_argument("--password", type=int, default=30, help="the password it accepts")
    args = parser.parse_args(argv)
    register = SimulatedRegister(password=args.password)
    register.paper = not args.paper_out
    register.shift_open = args.shift_open
    register.on_document = _announce
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(ShtrihSimulator(register)))


if __name__ == "__main__":
    main()
