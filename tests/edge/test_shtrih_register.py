"""The fiscal register driver against the simulated register, over a real pty opened
through `serial://`: a day of trade, the register's refusals as our errors, line faults
recovered, and noise on the line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest

from edge_agent.drivers import shtrih_errors as errors
from edge_agent.drivers.shtrih import (
    FiscalLine,
    FiscalReceipt,
    FiscalRegister,
    PaymentMethod,
    ReceiptKind,
    RegisterOptions,
)
from edge_agent.drivers.shtrih_frames import (
    FLAG_RECEIPT_PAPER,
    Command,
    FnDocumentType,
    FnOperation,
    ReceiptType,
    long_state_request,
    parse_short_state,
    short_state_request,
)
from edge_agent.drivers.shtrih_link import ExchangeSettings
from edge_agent.receipt import Fiscal
from edge_agent.simulators.shtrih import ShtrihSimulator
from edge_agent.simulators.shtrih_register import SimulatedItem

D = Decimal
CASH, CARD = PaymentMethod.CASH, PaymentMethod.CARD
FAST = ExchangeSettings(
    control_timeout=0.2, byte_timeout=0.5, answer_timeout=0.5, printing_answer_timeout=0.5
)


@asynccontextmanager
async def connected(
    options: RegisterOptions | None = None,
) -> AsyncIterator[tuple[FiscalRegister, ShtrihSimulator]]:
    async with ShtrihSimulator() as simulator:
        register = await FiscalRegister.connect(simulator.url, options, FAST)
        try:
            yield register, simulator
        finally:
            await register.close()


def groceries() -> FiscalReceipt:
    return FiscalReceipt(
        ReceiptKind.SALE,
        [
            FiscalLine("Сыр Российский, кг", D("1.5"), D("45.99"), "10"),  # 68.985 -> 68.99
            FiscalLine("Молоко 3,2%", D("2"), D("89.90"), "22"),  # 179.80
            FiscalLine("Пакет", D("0.25"), D("120.00"), "none"),  # 30.00
        ],
        {CASH: D("200.00"), CARD: D("100.00")},
        discount=D("0.99"),
    )


async def test_a_day_of_trade() -> None:
    async with connected() as (register, simulator):
        sim = simulator.register
        before = await register.state()
        assert (before.shift_open, before.receipt_open, before.paper_present) == (
            False,
            False,
            True,
        )
        assert before.last_fiscal_document == 1  # the registration report
        assert before.fn_number == sim.fn_number

        opened = await register.open_shift()
        assert (opened.number, opened.document_type, opened.shift_number) == (
            2,
            FnDocumentType.SHIFT_OPEN,
            1,
        )

        sale = groceries()
        assert sale.total == D("277.80")
        result = await register.fiscalise(sale)
        assert result.document_number == 3
        assert result.fiscal_sign == sim.documents[2].fiscal_sign
        assert len(result.fiscal_sign_text) == 10
        assert (result.fn_number, result.shift_number) == (sim.fn_number, 1)
        assert (result.total, result.change, result.recovered) == (D("277.80"), D("22.20"), False)

        registered = sim.receipts[-1]
        assert registered.operation == FnOperation.INCOME
        assert registered.total == D("277.80")
        assert registered.payments_kopecks == (20000, 10000, 0, 0)
        assert registered.change_kopecks == 2220
        assert registered.items == (
            SimulatedItem(False, 1500, 4599, 1, 2, "Сыр Российский, кг"),
            SimulatedItem(False, 2000, 8990, 1, 1, "Молоко 3,2%"),
            SimulatedItem(False, 250, 12000, 1, 4, "Пакет"),
        )

        refund = FiscalReceipt(
            ReceiptKind.RETURN,
            [FiscalLine("Молоко 3,2%", D("1"), D("89.90"), "22")],
            {CARD: D("89.90")},
        )
        returned = await register.fiscalise(refund)
        assert (returned.document_number, returned.change) == (4, D("0.00"))
        assert sim.receipts[-1].operation == FnOperation.INCOME_RETURN
        assert sim.receipts[-1].items[0].returning is True

        printed = (await register.state()).document_number
        await register.x_report()
        after_x = await register.state()
        assert sim.x_reports == 1
        assert after_x.document_number == printed + 1  # printed, not fiscal
        assert after_x.last_fiscal_document == 4

        closed = await register.z_report()
        assert (closed.number, closed.document_type, closed.shift_number) == (
            5,
            FnDocumentType.SHIFT_CLOSE,
            1,
        )
        state = await register.state()
        assert (state.shift_open, state.shift_number) == (False, 1)

        reopened = await register.open_shift()
        assert (reopened.number, reopened.shift_number) == (6, 2)
        assert await register.last_document_number() == 6
        last = await register.last_document()
        assert last is not None
        assert last.number == 6
        third = await register.document(3)
        assert (third.kind, third.amount, third.fiscal_sign) == (
            ReceiptKind.SALE,
            D("277.80"),
            result.fiscal_sign,
        )


async def test_the_result_reads_as_the_receipts_fiscal_fields() -> None:
    async with connected() as (register, simulator):
        await register.open_shift()
        result = await register.fiscalise(
            FiscalReceipt(
                ReceiptKind.SALE,
                [FiscalLine("Вода", D("3"), D("39.90"), "22.00")],  # the hub's rate spelling
                {CASH: D("120.00")},
            )
        )
        assert simulator.register.receipts[0].items[0].tax_group == 1
        fiscal = Fiscal.from_json(json.loads(json.dumps(result.as_json())))
        assert fiscal.document_number == result.document_number
        assert fiscal.fiscal_sign == f"{result.fiscal_sign:010d}"
        assert (fiscal.fn_number, fiscal.shift_number) == (simulator.register.fn_number, 1)
        assert fiscal.time == result.issued_at
        assert (result.as_json()["change"], result.as_json()["total"]) == ("0.30", "119.70")


async def test_state_reports_an_open_receipt_and_missing_paper() -> None:
    async with connected() as (register, simulator):
        await register.open_shift()
        simulator.register.paper = False
        state = await register.state()
        assert (state.paper_present, state.paper_near_end, state.submode) == (False, True, 1)
        simulator.register.paper = True
        simulator.lose_answer(Command.CLOSE_RECEIPT, executed=False)
        with pytest.raises(errors.AnswerTimeout):
            await register.fiscalise(groceries())
        state = await register.state()
        assert (state.receipt_open, state.receipt_kind, state.mode) == (True, ReceiptKind.SALE, 8)


async def test_short_state_reads_mode_paper_and_operations() -> None:
    async with connected() as (register, simulator):
        await register.open_shift()
        simulator.lose_answer(Command.CLOSE_RECEIPT, executed=False)
        with pytest.raises(errors.AnswerTimeout):
            await register.fiscalise(groceries())
        answer = await register.exchange.execute(short_state_request(30))
        state = parse_short_state(answer.data)
        assert (state.operator, state.mode_byte, state.submode) == (30, 0x08, 0)
        assert state.receipt_operations == 3  # the three lines on the open receipt
        assert state.flags & FLAG_RECEIPT_PAPER


async def test_refusals_are_our_errors() -> None:
    async with connected() as (register, simulator):
        sim = simulator.register
        with pytest.raises(errors.ShiftNotOpen) as closed:
            await register.fiscalise(groceries())
        assert (closed.value.code, closed.value.command) == (0x3D, Command.OPEN_RECEIPT)

        await register.open_shift()
        with pytest.raises(errors.ShiftAlreadyOpen):
            await register.open_shift()
        with pytest.raises(errors.ReceiptNotOpen):
            await register.cancel_receipt()

        sim.paper = False
        with pytest.raises(errors.NoPaper):
            await register.fiscalise(groceries())
        with pytest.raises(errors.NoPaper):
            await register.x_report()
        sim.paper = True

        sim.shift_expired = True
        assert (await register.state()).shift_expired is True
        with pytest.raises(errors.ShiftExpired):
            await register.fiscalise(groceries())
        closed_shift = await register.z_report()  # the way out of an expired shift
        assert closed_shift.shift_number == 1
        assert sim.receipts == []


async def test_a_wrong_password_is_refused() -> None:
    async with connected(RegisterOptions(password=1)) as (register, _):
        with pytest.raises(errors.WrongPassword) as refused:
            await register.state()
        assert refused.value.code == 0x4F


async def test_a_refused_line_cancels_the_receipt_it_opened() -> None:
    async with connected() as (register, simulator):
        await register.open_shift()
        simulator.fail_next(Command.SALE, 0x03)  # the fiscal storage fails
        with pytest.raises(errors.FiscalStorageError):
            await register.fiscalise(groceries())
        assert simulator.register.receipt is None
        assert simulator.register.cancelled_receipts == 1
        assert simulator.register.receipts == []
        assert (await register.fiscalise(groceries())).document_number == 3


async def test_an_unmapped_code_keeps_its_number_and_description() -> None:
    async with connected() as (register, simulator):
        await register.open_shift()
        simulator.fail_next(Command.CLOSE_RECEIPT, 0x71)
        with pytest.raises(errors.DeviceError) as failed:
            await register.fiscalise(groceries())
        assert type(failed.value) is errors.DeviceError
        assert (failed.value.code, failed.value.description) == (0x71, "Ошибка отрезчика")
        assert simulator.register.cancelled_receipts == 1


async def test_a_receipt_the_register_cannot_take_is_refused_before_any_byte() -> None:
    async with connected() as (register, simulator):
        await register.open_shift()
        sent = len(simulator.frames_received)
        line = FiscalLine("Чай", D("1"), D("10.00"), "22")
        bad = [
            FiscalReceipt(ReceiptKind.SALE, [], {CASH: D(1)}),
            FiscalReceipt(ReceiptKind.SALE, [line], {CASH: D("9.99")}),
            FiscalReceipt(ReceiptKind.SALE, [line], {CARD: D("10.01")}),
            FiscalReceipt(ReceiptKind.SALE, [FiscalLine("Чай", D("1"), D("0.001"))], {CASH: D(1)}),
            FiscalReceipt(ReceiptKind.SALE, [FiscalLine("Чай", D(1), D(10), "18")], {CASH: D(10)}),
            # 2026: group 1 is 22%, and 20% has no group unless the config gives it one
            FiscalReceipt(ReceiptKind.SALE, [FiscalLine("Чай", D(1), D(10), "20")], {CASH: D(10)}),
        ]
        for receipt in bad:
            with pytest.raises(ValueError):
                await register.fiscalise(receipt)
        assert len(simulator.frames_received) == sent


async def test_line_faults_are_recovered_without_a_second_receipt() -> None:
    async with connected() as (register, simulator):
        await register.open_shift()
        faults = simulator.faults
        faults.refused_frames = 1
        faults.corrupted_answers = 2
        faults.silent_enqs = FAST.enq_attempts - 1
        result = await register.fiscalise(groceries())
        assert result.document_number == 3
        assert len(simulator.register.receipts) == 1
        assert (faults.refused_frames, faults.corrupted_answers, faults.silent_enqs) == (0, 0, 0)
        # The first frame of the receipt (open receipt) was refused once and sent again;
        # the register ran it once.
        opens = [f for f in simulator.frames_received if f[0] == Command.OPEN_RECEIPT]
        assert len(opens) == 2
        assert simulator.register.executed.count(Command.OPEN_RECEIPT) == 1
        assert simulator.register.executed.count(Command.CLOSE_RECEIPT) == 1


async def test_a_register_gone_silent_is_not_responding() -> None:
    async with connected() as (register, simulator):
        simulator.faults.silent_enqs = FAST.enq_attempts
        with pytest.raises(errors.DeviceNotResponding) as silent:
            await register.state()
        assert silent.value.command_may_have_run is False
        assert isinstance(silent.value, TimeoutError)  # what callers retry on
        assert simulator.frames_received == []
        assert (await register.state()).shift_open is False  # back once it answers


async def test_noise_on_the_line_is_skipped() -> None:
    async with connected() as (register, simulator):
        noise = [b"\x00\xff\xfe line noise \x13", b"\x01\x06\x15\xff", b"\x02\x03\x00"]
        simulator.inject_noise(noise[0])
        assert (await register.state()).last_fiscal_document == 1
        simulator.faults.noise_before_answer = noise[1]  # ACK and NAK among them
        await register.open_shift()
        simulator.inject_noise(noise[2])  # a frame that never completes
        result = await register.fiscalise(groceries())
        assert result.document_number == 3
        assert register.exchange.skipped_bytes == sum(len(chunk) for chunk in noise)
        assert len(simulator.register.receipts) == 1


async def test_the_simulator_speaks_the_documented_bytes() -> None:
    async with connected() as (register, simulator):
        await register.state()
        sent = simulator.frames_received[0]
        assert sent == long_state_request(30).payload
        await register.open_shift()
        await register.fiscalise(
            FiscalReceipt(ReceiptKind.RETURN, [FiscalLine("Хлеб", D(1), D("45.99"))], {CASH: D(50)})
        )
        opened = next(f for f in simulator.frames_received if f[0] == Command.OPEN_RECEIPT)
        assert opened == bytes([0x8D, 30, 0, 0, 0, ReceiptType.RETURN_SALE])
        item = next(f for f in simulator.frames_received if f[0] == Command.RETURN_SALE)
        assert item == bytes.fromhex(
            "82 1e 00 00 00"  # return of a sale, password 30
            "e8 03 00 00 00"  # quantity 1000 thousandths
            "f7 11 00 00 00"  # price 4599 kopecks
            "01 04 00 00 00"  # department 1, tax group 4 (no VAT)
            "d5 eb e5 e1"  # "Хлеб"
        ) + bytes(36)
