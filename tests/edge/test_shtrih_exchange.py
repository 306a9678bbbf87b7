"""The ENQ/ACK/NAK exchange on a real pty, the test playing the register byte by byte:
what the driver puts on the line, and what it does with NAKs, silence, bad LRCs, stale
answers and noise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from edge_agent.drivers.shtrih_errors import (
    AnswerCorrupted,
    AnswerTimeout,
    CommandRefused,
    DeviceNotResponding,
)
from edge_agent.drivers.shtrih_frames import Answer, encode_frame, long_state_request
from edge_agent.drivers.shtrih_link import ExchangeSettings, ShtrihExchange
from edge_agent.transport import TransportSpec, open_link
from tests.edge.pty_pair import PtyPair

ENQ, ACK, NAK = b"\x05", b"\x06", b"\x15"
STATE_FRAME = bytes.fromhex("02 05 11 1e 00 00 00 0a")  # long state, password 30
STATE_DATA = bytes(range(46))
STATE_ANSWER = encode_frame(b"\x11\x00" + STATE_DATA)

FAST = ExchangeSettings(
    control_timeout=0.2,
    byte_timeout=0.5,
    answer_timeout=0.5,
    printing_answer_timeout=0.5,
    enq_attempts=3,
    frame_attempts=3,
    answer_attempts=3,
)


@asynccontextmanager
async def wired(
    settings: ExchangeSettings = FAST,
) -> AsyncIterator[tuple[ShtrihExchange, PtyPair]]:
    with PtyPair() as device:
        link = await open_link(TransportSpec.parse(device.url))
        exchange = ShtrihExchange(link, settings)
        try:
            yield exchange, device
        finally:
            await exchange.close()


async def sent_nothing_more(device: PtyPair) -> bool:
    """After the driver's call has returned: anything it wrote is already on the line."""
    try:
        await device.read(1, wait=0.2)
    except TimeoutError:
        return True
    return False


def ask_state(exchange: ShtrihExchange) -> asyncio.Task[Answer]:
    return asyncio.create_task(exchange.execute(long_state_request(30)))


def assert_state_answer(answer: Answer) -> None:
    assert (answer.command, answer.error_code, answer.data) == (0x11, 0, STATE_DATA)


async def test_the_bytes_of_a_whole_exchange() -> None:
    async with wired() as (exchange, device):
        task = ask_state(exchange)
        assert await device.read(1) == ENQ
        device.write(NAK)  # ready
        assert await device.read(len(STATE_FRAME)) == STATE_FRAME
        device.write(ACK + STATE_ANSWER)
        assert await device.read(1) == ACK
        assert_state_answer(await task)
        assert await sent_nothing_more(device)


async def test_a_refused_frame_is_sent_again() -> None:
    async with wired() as (exchange, device):
        task = ask_state(exchange)
        assert await device.read(1) == ENQ
        device.write(NAK)
        assert await device.read(len(STATE_FRAME)) == STATE_FRAME
        device.write(NAK)  # bad frame, send it again
        assert await device.read(len(STATE_FRAME)) == STATE_FRAME
        device.write(ACK + STATE_ANSWER)
        assert await device.read(1) == ACK
        assert_state_answer(await task)


async def test_a_frame_refused_every_time_gives_up_as_never_run() -> None:
    async with wired() as (exchange, device):
        task = ask_state(exchange)
        assert await device.read(1) == ENQ
        device.write(NAK)
        for _ in range(FAST.frame_attempts):
            assert await device.read(len(STATE_FRAME)) == STATE_FRAME
            device.write(NAK)
        with pytest.raises(CommandRefused) as refused:
            await task
        assert refused.value.command_may_have_run is False
        assert await sent_nothing_more(device)


async def test_a_silent_register_gets_a_bounded_number_of_enqs() -> None:
    async with wired() as (exchange, device):
        task = ask_state(exchange)
        for _ in range(FAST.enq_attempts):
            assert await device.read(1) == ENQ
        with pytest.raises(DeviceNotResponding) as silent:
            await task
        assert silent.value.command_may_have_run is False
        assert await sent_nothing_more(device)  # never the frame


async def test_enq_answered_on_the_last_retry_goes_through() -> None:
    async with wired() as (exchange, device):
        task = ask_state(exchange)
        for _ in range(FAST.enq_attempts - 1):
            assert await device.read(1) == ENQ  # left unanswered
        assert await device.read(1) == ENQ
        device.write(NAK)
        assert await device.read(len(STATE_FRAME)) == STATE_FRAME
        device.write(ACK + STATE_ANSWER)
        assert_state_answer(await task)


async def test_a_corrupted_answer_is_asked_for_again() -> None:
    async with wired() as (exchange, device):
        task = ask_state(exchange)
        assert await device.read(1) == ENQ
        device.write(NAK)
        assert await device.read(len(STATE_FRAME)) == STATE_FRAME
        bad = STATE_ANSWER[:-1] + bytes([STATE_ANSWER[-1] ^ 0x5A])
        device.write(ACK + bad)
        assert await device.read(1) == NAK  # the driver asks for it again
        device.write(STATE_ANSWER)
        assert await device.read(1) == ACK
        assert_state_answer(await task)


async def test_an_answer_corrupted_every_time_is_an_error() -> None:
    async with wired() as (exchange, device):
        task = ask_state(exchange)
        assert await device.read(1) == ENQ
        device.write(NAK)
        assert await device.read(len(STATE_FRAME)) == STATE_FRAME
        bad = STATE_ANSWER[:3] + bytes([STATE_ANSWER[3] ^ 0x01]) + STATE_ANSWER[4:]
        device.write(ACK + bad)
        for _ in range(FAST.answer_attempts - 1):
            assert await device.read(1) == NAK
            device.write(bad)
        with pytest.raises(AnswerCorrupted) as corrupted:
            await task
        assert corrupted.value.command_may_have_run is True
        assert await sent_nothing_more(device)  # no ACK for a corrupted answer


async def test_a_lost_ack_is_cleared_up_with_enq_and_never_resent_blind() -> None:
    async with wired() as (exchange, device):
        task = ask_state(exchange)
        assert await device.read(1) == ENQ
        device.write(NAK)
        assert await device.read(len(STATE_FRAME)) == STATE_FRAME
        # The register took the frame but its ACK was lost: silence, then ENQ.
        assert await device.read(1) == ENQ
        device.write(ACK)  # "I have your answer"
        device.write(STATE_ANSWER)
        assert await device.read(1) == ACK
        assert_state_answer(await task)
        assert await sent_nothing_more(device)  # the frame was not sent again


async def test_a_frame_the_register_never_got_is_sent_again_after_enq() -> None:
    async with wired() as (exchange, device):
        task = ask_state(exchange)
        assert await device.read(1) == ENQ
        device.write(NAK)
        assert await device.read(len(STATE_FRAME)) == STATE_FRAME
        assert await device.read(1) == ENQ  # after silence
        device.write(NAK)  # "I hold no answer": the frame was lost
        assert await device.read(len(STATE_FRAME)) == STATE_FRAME
        device.write(ACK + STATE_ANSWER)
        assert await device.read(1) == ACK
        assert_state_answer(await task)
        assert await sent_nothing_more(device)


async def test_no_answer_after_the_frame_was_taken_is_an_unknown_outcome() -> None:
    async with wired() as (exchange, device):
        task = ask_state(exchange)
        assert await device.read(1) == ENQ
        device.write(NAK)
        assert await device.read(len(STATE_FRAME)) == STATE_FRAME
        device.write(ACK)  # taken... and then the power goes
        assert await device.read(1) == ENQ
        device.write(NAK)  # rebooted, holds no answer
        with pytest.raises(AnswerTimeout) as lost:
            await task
        assert lost.value.command_may_have_run is True


async def test_a_stale_answer_is_acknowledged_and_dropped() -> None:
    old_answer = encode_frame(bytes.fromhex("85 00 1e 00 00 00 00 00"))
    async with wired() as (exchange, device):
        task = ask_state(exchange)
        assert await device.read(1) == ENQ
        device.write(ACK + old_answer)  # still holding the answer to an earlier close
        assert await device.read(1) == ACK
        assert await device.read(1) == ENQ
        device.write(NAK)
        assert await device.read(len(STATE_FRAME)) == STATE_FRAME
        device.write(ACK + STATE_ANSWER)
        assert await device.read(1) == ACK
        assert_state_answer(await task)
        assert await sent_nothing_more(device)


async def test_noise_on_the_line_is_skipped() -> None:
    noise = [b"\x00\xff\x13", b"garbage", b"\x06\x15"]
    async with wired() as (exchange, device):
        device.write(noise[0])  # before the driver even asks
        task = ask_state(exchange)
        assert await device.read(1) == ENQ
        device.write(noise[1] + NAK)
        assert await device.read(len(STATE_FRAME)) == STATE_FRAME
        # ACK, then noise (control bytes included) before the answer's STX.
        device.write(ACK + noise[2] + STATE_ANSWER)
        assert await device.read(1) == ACK
        assert_state_answer(await task)
        assert exchange.skipped_bytes == sum(len(chunk) for chunk in noise)
