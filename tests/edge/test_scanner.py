"""The serial barcode scanner against the simulated scanner on a real pty pair: framing
with each suffix, trimming, garbage and overlong frames skipped (and logged), GS1 codes
kept whole, a lost port reopened."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from edge_agent.drivers.scanner import ScannerConfig, SerialScanner, parse_suffix
from edge_agent.simulators.scanner import SimulatedScanner
from tests.edge.pty_pair import PtyPair

WAIT = 5.0  # a bound on waiting for what must happen, not a timing being tested


async def eventually(predicate: Callable[[], bool]) -> None:
    """Until the scanner's counters or state say so (they have no event to wait on)."""
    async with asyncio.timeout(WAIT):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


class Reading:
    """A scanner being iterated, with its port open (pyserial drops what arrived before)."""

    def __init__(self, scanner: SerialScanner) -> None:
        self.scanner = scanner
        self.codes = scanner.scans()
        self.pending: asyncio.Future[str] = asyncio.ensure_future(anext(self.codes))

    async def next(self) -> str:
        return await asyncio.wait_for(anext(self.codes), WAIT)

    async def open(self) -> Reading:
        await asyncio.wait_for(self.scanner.connected.wait(), WAIT)
        return self

    async def first(self) -> str:
        return await asyncio.wait_for(self.pending, WAIT)

    async def close(self) -> None:
        await self.scanner.close()
        if not self.pending.done():
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(self.pending, WAIT)
        await self.codes.aclose()


def scanner_for(url: str, **overrides: object) -> SerialScanner:
    values: dict[str, object] = {"transport": url, "reconnect_min": 0.05, "reconnect_max": 0.2}
    values.update(overrides)
    return SerialScanner(ScannerConfig.from_mapping(values))


@pytest.fixture
async def device() -> AsyncIterator[SimulatedScanner]:
    simulated = SimulatedScanner()
    await simulated.start()
    yield simulated
    await simulated.stop()


@pytest.mark.parametrize(
    ("name", "suffix"),
    [("CRLF", b"\r\n"), ("CR", b"\r"), ("LF", b"\n"), ("TAB", b"\t"), ("\x03", b"\x03")],
)
async def test_codes_framed_by_each_suffix(name: str, suffix: bytes) -> None:
    device = SimulatedScanner(suffix=suffix)
    await device.start()
    reading = await Reading(scanner_for(device.url, suffix=name)).open()
    try:
        device.scan("4601234567893")
        device.scan("ABC-123")
        assert await reading.first() == "4601234567893"
        assert await reading.next() == "ABC-123"
    finally:
        await reading.close()
        await device.stop()


async def test_cr_and_lf_end_a_code_whatever_the_suffix_setting(
    device: SimulatedScanner,
) -> None:
    """A scanner sending CR LF to a port set up for TAB: each code still comes once,
    not glued to the next or skipped as garbage for a leading LF."""
    reading = await Reading(scanner_for(device.url, suffix="TAB")).open()
    try:
        device.scan("111")
        device.scan("222", suffix=b"\t")
        device.scan("333", suffix=b"\n")
        assert await reading.first() == "111"
        assert await reading.next() == "222"
        assert await reading.next() == "333"
    finally:
        await reading.close()
    assert reading.scanner.counters.garbage == 0


async def test_spaces_trimmed_and_empty_lines_ignored(device: SimulatedScanner) -> None:
    reading = await Reading(scanner_for(device.url)).open()
    try:
        device.send_raw(b"\r\n\r\n   \r\n  4601234567893  \r\n")
        assert await reading.first() == "4601234567893"
        assert reading.scanner.counters.garbage == 0
    finally:
        await reading.close()


async def test_garbage_is_logged_and_skipped(
    device: SimulatedScanner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge_agent.drivers.scanner")
    reading = await Reading(scanner_for(device.url)).open()
    try:
        device.send_raw(b"\x00\x01\x02\r\n")  # line noise
        device.send_raw(b"12\xff\xfe34\r\n")  # a wrong baud rate looks like this
        device.send_raw(b"ok\x1bcode\r\n")  # an escape in the middle
        device.scan("4601234567893")
        assert await reading.first() == "4601234567893"
    finally:
        await reading.close()

    assert reading.scanner.counters.garbage == 3
    assert reading.scanner.counters.scanned == 1
    skipped = [r for r in caplog.records if "non-printable" in r.getMessage()]
    assert len(skipped) == 3


async def test_overlong_frames_are_skipped_and_the_longest_allowed_kept(
    device: SimulatedScanner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge_agent.drivers.scanner")
    reading = await Reading(scanner_for(device.url, max_length=20)).open()
    try:
        device.scan("9" * 21)
        device.scan("8" * 500)
        device.scan("7" * 20)
        assert await reading.first() == "7" * 20
    finally:
        await reading.close()

    assert reading.scanner.counters.overlong == 2
    assert any("over 20 bytes" in r.getMessage() for r in caplog.records)


async def test_gs1_code_keeps_its_group_separators(device: SimulatedScanner) -> None:
    marking = "0104601234567893215Abc!DE\x1d91EE06\x1d92abcdefgh"
    reading = await Reading(scanner_for(device.url)).open()
    try:
        device.scan(marking)
        assert await reading.first() == marking
    finally:
        await reading.close()


async def test_a_code_split_across_writes_is_one_code() -> None:
    with PtyPair() as port:
        reading = await Reading(scanner_for(port.url)).open()
        try:
            port.write(b"46012345")
            await asyncio.sleep(0.05)  # let the first half be read on its own
            port.write(b"67893\r\n")
            assert await reading.first() == "4601234567893"
        finally:
            await reading.close()


async def test_a_fragment_without_its_suffix_is_dropped(device: SimulatedScanner) -> None:
    reading = await Reading(scanner_for(device.url, frame_timeout=0.1)).open()
    try:
        device.send_raw(b"4601")  # and then nothing: a cut cable, a half frame
        await eventually(lambda: reading.scanner.counters.fragments == 1)
        device.scan("2000000000015")
        assert await reading.first() == "2000000000015"
    finally:
        await reading.close()


async def test_a_lost_port_is_reopened_and_scanning_goes_on(tmp_path: Path) -> None:
    """The device node goes away (unplugged) and comes back under the same udev-style
    name: no crash, the next code is read."""
    name = tmp_path / "scanner"
    first = SimulatedScanner(link=name)
    await first.start()
    reading = await Reading(scanner_for(first.url)).open()
    try:
        first.scan("111")
        assert await reading.first() == "111"
        waiting = asyncio.ensure_future(reading.next())

        await first.stop()
        await eventually(lambda: reading.scanner.counters.reconnects == 1)
        second = SimulatedScanner(link=name)
        await second.start()
        try:
            await eventually(
                lambda: (
                    reading.scanner.connected.is_set() and reading.scanner.counters.connections == 2
                )
            )
            second.scan("222")
            assert await asyncio.wait_for(waiting, WAIT) == "222"
        finally:
            await second.stop()
    finally:
        await reading.close()


async def test_close_ends_the_iteration(device: SimulatedScanner) -> None:
    scanner = scanner_for(device.url)
    codes: list[str] = []

    async def consume() -> None:
        async for code in scanner:
            codes.append(code)

    consuming = asyncio.create_task(consume())
    await asyncio.wait_for(scanner.connected.wait(), WAIT)
    device.scan("111")
    await eventually(lambda: codes == ["111"])
    await scanner.close()
    await asyncio.wait_for(consuming, WAIT)

    assert codes == ["111"]
    assert not scanner.connected.is_set()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("CRLF", b"\r\n"), ("cr", b"\r"), ("LF", b"\n"), ("TAB", b"\t"), ("\r\n", b"\r\n")],
)
def test_suffix_by_name_or_characters(value: str, expected: bytes) -> None:
    assert parse_suffix(value) == expected


@pytest.mark.parametrize("value", ["", "#", "END", "\x1d", "\r\n\r\n\r"])
def test_a_suffix_that_could_be_part_of_a_code_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="suffix"):
        parse_suffix(value)


def test_scanner_config_from_the_agents_scanner_table() -> None:
    """The keys of a [[scanner]] table in edge.toml; `register` is the agent's."""
    config = ScannerConfig.from_mapping(
        {
            "name": "till-1",
            "transport": "serial:///dev/ttyUSB1?baud=9600",
            "register": "0b8a4c7e-0000-4000-8000-000000000001",
            "suffix": "\r\n",
        }
    )

    assert (config.name, config.suffix, parse_suffix(config.suffix)) == ("till-1", "\r\n", b"\r\n")


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"suffix": "CRLF"}, "needs a transport"),
        ({"transport": "tcp://10.0.0.1:9100"}, "serial://"),
        ({"transport": "serial:///dev/ttyACM0", "sufix": "CR"}, "unknown scanner settings"),
        ({"transport": "serial:///dev/ttyACM0", "max_length": 0}, "max_length"),
        ({"transport": "serial:///dev/ttyACM0", "reconnect_min": -1}, "reconnect_min"),
        (
            {"transport": "serial:///dev/ttyACM0", "reconnect_min": 5, "reconnect_max": 1},
            "at least",
        ),
    ],
)
def test_scanner_config_refuses_mistakes(section: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ScannerConfig.from_mapping(section)
