"""The Shtrih-M exchange: ENQ/ACK/NAK around each frame, with bounded retries.

One command goes like this:

1. ENQ. The register answers NAK (ready for a command), ACK (it still holds the answer to
   an earlier command: we read it, acknowledge it and discard it, then ENQ again), or
   nothing (we retry ENQ a bounded number of times).
2. Our frame. The register answers ACK (taken) or NAK (send it again, bounded). When
   neither comes, ENQ tells whether it took the frame (ACK: an answer is on its way) or
   not (NAK: send it again); resending blind could run a sale twice.
3. The answer frame. A bad LRC or a frame cut short gets NAK, and the register sends it
   again (bounded); a good one gets ACK. When no answer comes in time, ENQ asks: ACK means
   it is still coming, NAK means the register holds none, so the outcome is unknown.

Bytes that are not what the step expects (line noise, a stale answer) are logged and
skipped. Every failure is a `ShtrihLinkError` saying whether the command may have run.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from edge_agent.drivers.shtrih_errors import (
    AnswerCorrupted,
    AnswerTimeout,
    CommandRefused,
    DeviceNotResponding,
    LinkDown,
    UnexpectedAnswer,
)
from edge_agent.drivers.shtrih_frames import (
    ACK,
    ENQ,
    NAK,
    STX,
    Answer,
    FrameError,
    Request,
    lrc,
    parse_answer,
)
from edge_agent.transport import Link, TransportError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExchangeSettings:
    """Timeouts in seconds and retry bounds. The defaults suit a register on 115200 baud."""

    control_timeout: float = 0.5  # for ACK/NAK after ENQ or after our frame
    byte_timeout: float = 0.5  # for the rest of a frame once its STX has come
    answer_timeout: float = 5.0  # for an answer to a command that does not print
    printing_answer_timeout: float = 30.0  # for reports, closing or cancelling a receipt
    enq_attempts: int = 3  # ENQs sent before giving up on a silent register
    frame_attempts: int = 3  # times our frame is sent when the register NAKs it
    answer_attempts: int = 3  # times a corrupted answer is asked for again
    stale_answers: int = 3  # stale answers discarded before giving up


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._end = self._loop.time() + seconds

    def left(self) -> float:
        return max(0.0, self._end - self._loop.time())


class ShtrihExchange:
    """Sends requests and returns answers over a `Link`; one command at a time."""

    def __init__(self, link: Link, settings: ExchangeSettings | None = None) -> None:
        self._link = link
        self.settings = settings or ExchangeSettings()
        self._lock = asyncio.Lock()
        self.skipped_bytes = 0  # noise and stale bytes seen so far, for diagnostics

    async def close(self) -> None:
        await self._link.close()

    async def execute(self, request: Request) -> Answer:
        """The register's answer to `request` (its error code is not checked here)."""
        async with self._lock:
            try:
                return await self._execute(request)
            except TransportError as exc:
                raise LinkDown(str(exc), command_may_have_run=True) from exc

    async def _execute(self, request: Request) -> Answer:
        stale = await self._link.drain_input()
        if stale:
            self._skipped(stale, "before ENQ")
        await self._wait_until_ready(request)
        await self._send_frame(request)
        payload = await self._read_answer(request)
        try:
            answer = parse_answer(payload)
        except FrameError as exc:
            raise UnexpectedAnswer(str(exc), command_may_have_run=True) from exc
        if answer.command != request.command:
            raise UnexpectedAnswer(
                f"sent {request.command:#x}, the answer is to {answer.command:#x}",
                command_may_have_run=True,
            )
        return answer

    # --- steps ---------------------------------------------------------------------------

    async def _wait_until_ready(self, request: Request) -> None:
        """ENQ until NAK; a stale answer (ACK) is read and dropped."""
        silent = 0
        stale = 0
        while True:
            await self._link.write(bytes([ENQ]))
            reply = await self._read_control()
            if reply == NAK:
                return
            if reply is None:
                silent += 1
                if silent >= self.settings.enq_attempts:
                    raise DeviceNotResponding(
                        f"no reply to {silent} ENQs before {request.command:#x}",
                        command_may_have_run=False,
                    )
                continue
            stale += 1
            if stale > self.settings.stale_answers:
                raise DeviceNotResponding(
                    "the register keeps offering stale answers", command_may_have_run=False
                )
            try:
                old = await self._read_frame(_Deadline(self.settings.answer_timeout))
                shown = old.hex(" ") if old is not None else ""
            except AnswerCorrupted:
                shown = "(corrupted)"
            if shown:
                # Acknowledged so that the register lets go of it; nobody waits for it now.
                await self._link.write(bytes([ACK]))
                log.warning("shtrih: discarded a stale answer %s", shown)

    async def _send_frame(self, request: Request) -> None:
        """Our frame until ACK; after silence, ENQ tells whether the register took it."""
        frame = request.frame()
        sent = 0
        while True:
            await self._link.write(frame)
            sent += 1
            reply = await self._read_control()
            if reply == ACK:
                return
            if reply is None and await self._enquire(request) == ACK:
                return  # it took the frame; its answer is on the way
            if sent >= self.settings.frame_attempts:
                raise CommandRefused(
                    f"{request.command:#x} refused {sent} times", command_may_have_run=False
                )
            log.info("shtrih: register asked for %#x again", request.command)

    async def _read_answer(self, request: Request) -> bytes:
        settings = self.settings
        wait = settings.printing_answer_timeout if request.prints else settings.answer_timeout
        corrupted = 0
        extensions = 0
        while True:
            try:
                payload = await self._read_frame(_Deadline(wait))
            except AnswerCorrupted:
                corrupted += 1
                if corrupted >= settings.answer_attempts:
                    raise AnswerCorrupted(
                        f"answer to {request.command:#x} corrupted {corrupted} times",
                        command_may_have_run=True,
                    ) from None
                await self._link.write(bytes([NAK]))
                continue
            if payload is None:
                # ACK to ENQ: the register says the answer is still coming; wait again,
                # a bounded number of times.
                if await self._enquire(request) == ACK and extensions < settings.answer_attempts:
                    extensions += 1
                    continue
                raise AnswerTimeout(
                    f"no answer to {request.command:#x}; it may or may not have run",
                    command_may_have_run=True,
                )
            await self._link.write(bytes([ACK]))
            return payload

    async def _enquire(self, request: Request) -> int:
        """ENQ after silence: ACK (the register holds an answer for us) or NAK (it does not).
        A register that stays silent leaves the command's fate unknown."""
        for _ in range(self.settings.enq_attempts):
            await self._link.write(bytes([ENQ]))
            reply = await self._read_control()
            if reply is not None:
                return reply
        raise DeviceNotResponding(
            f"the register went silent during {request.command:#x}", command_may_have_run=True
        )

    # --- bytes ---------------------------------------------------------------------------

    async def _read_control(self) -> int | None:
        """ACK or NAK within the control timeout, skipping anything else; None on silence."""
        deadline = _Deadline(self.settings.control_timeout)
        while True:
            byte = await self._read_byte(deadline.left())
            if byte is None:
                return None
            if byte in (ACK, NAK):
                return byte
            self._skipped(bytes([byte]), "awaiting ACK/NAK")

    async def _read_frame(self, deadline: _Deadline) -> bytes | None:
        """The payload of the next frame; None if no STX comes before the deadline,
        AnswerCorrupted if the frame is cut short or fails its LRC."""
        while True:
            byte = await self._read_byte(deadline.left())
            if byte is None:
                return None
            if byte == STX:
                break
            self._skipped(bytes([byte]), "awaiting STX")
        length = await self._read_byte(self.settings.byte_timeout)
        if length is None:
            raise AnswerCorrupted("frame cut short after STX", command_may_have_run=True)
        try:
            rest = await self._link.read_exactly(length + 1, self.settings.byte_timeout)
        except TimeoutError:
            raise AnswerCorrupted("frame cut short", command_may_have_run=True) from None
        body = bytes([length]) + rest[:-1]
        if lrc(body) != rest[-1] or length == 0:
            frame = bytes([STX, length]) + rest
            log.warning("shtrih: answer failed its LRC check: %s", frame.hex())
            raise AnswerCorrupted("LRC mismatch", command_may_have_run=True)
        return rest[:-1]

    async def _read_byte(self, wait: float) -> int | None:
        if wait <= 0:
            return None
        try:
            return (await self._link.read_exactly(1, wait))[0]
        except TimeoutError:
            return None

    def _skipped(self, data: bytes, where: str) -> None:
        self.skipped_bytes += len(data)
        log.warning("shtrih: skipped %d unexpected byte(s) %s: %s", len(data), where, data.hex())
