"""The printer driver against the simulated printer on a real pty pair (pyserial-asyncio)
and a real local TCP socket, and against a file: what comes out, status per condition,
jobs refused (and not lost) while the paper is out, the drawer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_agent.drivers.escpos import (
    CoverOpen,
    PaperOut,
    Printer,
    PrinterConfig,
    PrinterFault,
    PrinterOffline,
)
from edge_agent.drivers.escpos_commands import bold, cut, status_request
from edge_agent.drivers.escpos_layout import receipt_text
from edge_agent.receipt import Receipt
from edge_agent.simulators.printer import SimulatedPrinter
from edge_agent.transport import TransportSpec, open_link
from tests.edge.pty_pair import PtyPair
from tests.edge.test_receipt import FISCAL, card_payload, sample_payload

FAST = 0.3  # seconds a silent printer gets to answer a status question


def cash_receipt() -> Receipt:
    return Receipt.from_job(sample_payload()).with_fiscal(FISCAL)


def card_receipt() -> Receipt:
    return Receipt.from_job(card_payload())


@pytest.fixture(params=["pty", "tcp"])
async def simulator(request: pytest.FixtureRequest) -> AsyncIterator[SimulatedPrinter]:
    printer = SimulatedPrinter(tcp=request.param == "tcp")
    await printer.start()
    yield printer
    await printer.stop()


@pytest.fixture
async def serial_simulator() -> AsyncIterator[SimulatedPrinter]:
    printer = SimulatedPrinter()
    await printer.start()
    yield printer
    await printer.stop()


def config(url: str, **overrides: object) -> PrinterConfig:
    """As the agent's config would have it: `drawer = true` kicks after a cash sale."""
    values: dict[str, object] = {
        "transport": url,
        "name": "receipts",
        "width": 32,
        "drawer": True,
        "status_timeout": FAST,
    }
    values.update(overrides)
    return PrinterConfig.from_mapping(values)


async def test_a_receipt_is_printed_cut_and_the_drawer_kicked(
    simulator: SimulatedPrinter,
) -> None:
    receipt = cash_receipt()
    async with Printer(config(simulator.url)) as printer:
        await printer.print_receipt(receipt)
        await simulator.wait_for(lambda: simulator.state.drawer_kicks)

    state = simulator.state
    assert state.receipts == [receipt_text(receipt, 32)]
    assert state.cuts == ["partial"]
    assert state.qr_codes == [receipt.qr_text]
    assert state.drawer_kicks == [2]  # cash changed hands
    assert state.status_queries == [1, 2, 3, 4]  # asked before printing


async def test_cyrillic_comes_out_readable_through_cp866(
    serial_simulator: SimulatedPrinter,
) -> None:
    async with Printer(config(serial_simulator.url, width=48)) as printer:
        await printer.print_receipt(cash_receipt())
        await serial_simulator.wait_for(lambda: serial_simulator.state.cuts)

    lines = serial_simulator.state.lines
    assert "Кассир: Иванова А." in lines
    assert '1. Молоко "Домик в деревне" 3,2% 1 л' in lines
    assert "Покупатель: Петров И." in lines


@pytest.mark.parametrize(
    ("policy", "open_drawer", "receipt", "kicks"),
    [
        (True, None, card_receipt, []),
        (False, None, cash_receipt, []),
        ("cash", None, card_receipt, []),
        ("always", None, card_receipt, [2]),
        ("never", None, cash_receipt, []),
        ("cash", False, cash_receipt, []),
        ("never", True, card_receipt, [2]),
    ],
)
async def test_drawer_policy_and_override(
    serial_simulator: SimulatedPrinter,
    policy: str | bool,
    open_drawer: bool | None,
    receipt: object,
    kicks: list[int],
) -> None:
    async with Printer(config(serial_simulator.url, drawer=policy, cut="full")) as printer:
        await printer.print_receipt(receipt(), open_drawer=open_drawer)  # type: ignore[operator]
        await serial_simulator.wait_for(lambda: serial_simulator.state.cuts)
        # A status round trip: the printer has processed all that was sent before it.
        await printer.status()

    assert serial_simulator.state.cuts == ["full"]
    assert serial_simulator.state.drawer_kicks == kicks


async def test_open_drawer_kicks_pin_5_and_the_status_shows_it_open(
    serial_simulator: SimulatedPrinter,
) -> None:
    async with Printer(config(serial_simulator.url, drawer_pin=5)) as printer:
        assert (await printer.status()).drawer_open is False
        await printer.open_drawer()
        await serial_simulator.wait_for(lambda: serial_simulator.state.drawer_kicks)

        assert serial_simulator.state.drawer_kicks == [5]
        assert (await printer.status()).drawer_open is True
        serial_simulator.state.drawer_open = False  # the cashier shuts it
        assert (await printer.status()).drawer_open is False
    assert serial_simulator.state.lines == []


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({}, "ready"),
        ({"paper_near_end": True}, "paper_near_end"),
        ({"paper_out": True}, "paper_out"),
        ({"cover_open": True}, "cover_open"),
        ({"cutter_error": True}, "error"),
        ({"offline": True}, "offline"),  # powered off: no answer at all
    ],
)
async def test_status_of_each_condition(
    simulator: SimulatedPrinter, condition: dict[str, bool], expected: str
) -> None:
    for name, value in condition.items():
        setattr(simulator.state, name, value)
    async with Printer(config(simulator.url)) as printer:
        status = await printer.status()

    assert status.condition == expected
    assert status.answered == (expected != "offline")
    assert status.paper_end == (expected == "paper_out")


@pytest.mark.parametrize(
    ("condition", "error"),
    [
        ("paper_out", PaperOut),
        ("cover_open", CoverOpen),
        ("cutter_error", PrinterFault),
        ("offline", PrinterOffline),
    ],
)
async def test_a_printer_that_cannot_print_gets_nothing_and_the_error_says_why(
    serial_simulator: SimulatedPrinter, condition: str, error: type[Exception]
) -> None:
    setattr(serial_simulator.state, condition, True)
    async with Printer(config(serial_simulator.url)) as printer:
        with pytest.raises(error):
            await printer.print_receipt(cash_receipt())
        with pytest.raises(error):
            await printer.open_drawer()

    state = serial_simulator.state
    assert (state.lines, state.cuts, state.drawer_kicks) == ([], [], [])
    assert state.refused_bytes == 0  # nothing was even sent


async def test_paper_out_then_back_prints_the_held_job_once(
    simulator: SimulatedPrinter,
) -> None:
    receipt = cash_receipt()
    simulator.state.paper_out = True
    async with Printer(config(simulator.url)) as printer:
        with pytest.raises(PaperOut) as caught:
            await printer.print_receipt(receipt)
        assert caught.value.status.condition == "paper_out"
        assert simulator.state.lines == []

        simulator.state.paper_out = False  # a new roll
        await printer.print_receipt(receipt)
        await simulator.wait_for(lambda: simulator.state.cuts)
        await printer.status()

    assert simulator.state.receipts == [receipt_text(receipt, 32)]
    assert simulator.state.cuts == ["partial"]


async def test_the_simulator_refuses_to_print_while_the_paper_is_out(
    serial_simulator: SimulatedPrinter,
) -> None:
    """Bytes sent regardless (no status check) are dropped, as a stopped printer does;
    status questions are still answered."""
    serial_simulator.state.paper_out = True
    job = bold(True) + "Привет\n".encode("cp866") + cut()
    link = await open_link(TransportSpec.parse(serial_simulator.url))
    try:
        await link.write(job)
        await link.write(status_request(4))
        answer = await link.read_exactly(1, 5.0)
    finally:
        await link.close()

    assert answer == b"\x7e"  # near end and end sensors: no paper
    assert serial_simulator.state.lines == []
    assert serial_simulator.state.cuts == []
    assert serial_simulator.state.refused_bytes == len(job)


async def test_the_file_transport_writes_the_receipt_bytes_without_asking_status(
    tmp_path: Path,
) -> None:
    out = tmp_path / "printer.bin"
    receipt = cash_receipt()
    async with Printer(config(f"file://{out}")) as printer:
        status = await printer.status()
        await printer.print_receipt(receipt)
        expected = printer.receipt_bytes(receipt)

    assert status.condition == "unknown"
    assert out.read_bytes() == expected
    parsed = SimulatedPrinter()
    parsed.feed(out.read_bytes())
    assert parsed.state.receipts == [receipt_text(receipt, 32)]
    assert parsed.state.drawer_kicks == [2]


async def test_an_unreachable_printer_is_offline_and_refuses_jobs(tmp_path: Path) -> None:
    async with Printer(config(f"serial://{tmp_path}/no-such-port")) as printer:
        assert (await printer.status()).condition == "offline"
        with pytest.raises(PrinterOffline):
            await printer.print_receipt(card_receipt())


async def test_a_silent_serial_device_reads_as_offline() -> None:
    with PtyPair() as device:
        async with Printer(config(device.url)) as printer:
            status = await printer.status()
        asked = await device.read(3)

    assert status.condition == "offline"
    assert asked == status_request(1)  # it gave up after the first unanswered question


async def test_noise_instead_of_a_reply_reads_as_offline() -> None:
    with PtyPair() as device:
        async with Printer(config(device.url)) as printer:
            asking = asyncio.create_task(printer.status())
            for _ in range(4):
                await device.read(3)
                device.write(b"\xff")
            status = await asking

    assert status.condition == "offline"


async def test_a_late_answer_is_discarded_before_the_next_question() -> None:
    """A reply that arrives after its question timed out must not be read as the answer
    to the next question."""
    replies = {1: b"\x1a", 2: b"\x16", 3: b"\x12", 4: b"\x12"}  # cover open
    with PtyPair() as device:
        async with Printer(config(device.url)) as printer:
            assert (await printer.status()).condition == "offline"  # opens the port
            await device.read(3)
            device.write(b"\x12\x12")  # late: "all fine"
            asking = asyncio.create_task(printer.status())
            for _ in range(4):
                question = await device.read(3)
                device.write(replies[question[2]])
            status = await asking

    assert status.condition == "cover_open"


async def test_a_lost_tcp_link_is_reopened_on_the_next_call() -> None:
    first = SimulatedPrinter(tcp=True)
    await first.start()
    async with Printer(config(first.url)) as printer:
        assert (await printer.status()).condition == "ready"
        await first.stop()
        assert (await printer.status()).condition == "offline"

        second = SimulatedPrinter(tcp=True, port=first.port)
        await second.start()
        try:
            await printer.print_receipt(card_receipt())
            await second.wait_for(lambda: second.state.cuts)
        finally:
            await printer.close()
            await second.stop()

    assert second.state.receipts == [receipt_text(card_receipt(), 32)]
