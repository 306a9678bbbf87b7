"""Exactly-once fiscalisation against the simulated register: a receipt registered whose
answer was lost is found, not made again; a receipt interrupted before it was closed is
cancelled and made once; the same holds across a restart of the driver."""

from __future__ import annotations

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
    ReconcileConflict,
    ReconcileOutcome,
)
from edge_agent.drivers.shtrih_frames import Command
from edge_agent.drivers.shtrih_link import ExchangeSettings
from edge_agent.simulators.shtrih import ShtrihSimulator

D = Decimal
FAST = ExchangeSettings(
    control_timeout=0.2, byte_timeout=0.5, answer_timeout=0.5, printing_answer_timeout=0.5
)


@asynccontextmanager
async def shift_open() -> AsyncIterator[tuple[FiscalRegister, ShtrihSimulator]]:
    async with ShtrihSimulator() as simulator:
        register = await FiscalRegister.connect(simulator.url, settings=FAST)
        try:
            await register.open_shift()
            yield register, simulator
        finally:
            await register.close()


def sale(total_items: int = 3) -> FiscalReceipt:
    lines = [
        FiscalLine("Кофе зерновой", D("1"), D("649.00"), "22"),
        FiscalLine("Яблоки, кг", D("1.234"), D("99.90"), "10"),  # 123.2766 -> 123.28
        FiscalLine("Хлеб", D("2"), D("45.00"), "10"),
    ][:total_items]
    return FiscalReceipt(ReceiptKind.SALE, lines, {PaymentMethod.CASH: D("1000.00")})


async def test_an_answer_lost_after_the_close_finds_the_receipt_registered() -> None:
    async with shift_open() as (register, simulator):
        receipt = sale()
        before = (await register.state()).last_fiscal_document
        simulator.lose_answer(Command.CLOSE_RECEIPT, executed=True)  # power cut after closing

        with pytest.raises(errors.AnswerTimeout) as lost:
            await register.fiscalise(receipt)
        assert lost.value.command_may_have_run is True
        registered = simulator.register.receipts
        assert len(registered) == 1

        reconciliation = await register.reconcile(before, receipt)
        assert reconciliation.outcome is ReconcileOutcome.COMPLETED
        result = reconciliation.result
        assert result is not None
        assert result.recovered is True
        assert result.document_number == registered[0].number == before + 1
        assert result.fiscal_sign == registered[0].fiscal_sign
        assert (result.total, result.change) == (D("862.28"), D("137.72"))

        again = await register.ensure_fiscalised(receipt, before)
        assert again.document_number == result.document_number
        assert len(simulator.register.receipts) == 1
        assert simulator.register.executed.count(Command.CLOSE_RECEIPT) == 1


async def test_a_receipt_interrupted_before_the_close_is_cancelled_and_made_once() -> None:
    async with shift_open() as (register, simulator):
        receipt = sale()
        before = (await register.state()).last_fiscal_document
        # The power goes as the second line arrives; the first is on the open receipt.
        simulator.lose_answer(Command.SALE, executed=False, skip=1)

        with pytest.raises(errors.AnswerTimeout):
            await register.fiscalise(receipt)
        assert simulator.register.receipt is not None
        assert len(simulator.register.receipt.items) == 1
        assert simulator.register.receipts == []

        result = await register.ensure_fiscalised(receipt, before)
        assert result.recovered is False
        assert result.document_number == before + 1
        assert simulator.register.cancelled_receipts == 1
        registered = simulator.register.receipts
        assert len(registered) == 1
        assert [item.text for item in registered[0].items] == [line.name for line in receipt.lines]

        assert (await register.ensure_fiscalised(receipt, before)).recovered is True
        assert len(simulator.register.receipts) == 1


async def test_a_close_that_never_ran_is_redone_once() -> None:
    async with shift_open() as (register, simulator):
        receipt = sale()
        before = (await register.state()).last_fiscal_document
        simulator.lose_answer(Command.CLOSE_RECEIPT, executed=False)
        with pytest.raises(errors.AnswerTimeout):
            await register.fiscalise(receipt)

        reconciliation = await register.reconcile(before, receipt)
        assert reconciliation.outcome is ReconcileOutcome.CANCELLED
        assert simulator.register.receipt is None
        assert (await register.reconcile(before, receipt)).outcome is ReconcileOutcome.NOT_STARTED

        await register.ensure_fiscalised(receipt, before)
        assert len(simulator.register.receipts) == 1
        closes = [f for f in simulator.frames_received if f[0] == Command.CLOSE_RECEIPT]
        assert len(closes) == 2  # the one lost with the power, and the one redone
        assert simulator.register.executed.count(Command.CLOSE_RECEIPT) == 1


async def test_reconciling_by_document_number_alone() -> None:
    async with shift_open() as (register, simulator):
        before = await register.last_document_number()
        simulator.lose_answer(Command.CLOSE_RECEIPT, executed=True)
        with pytest.raises(OSError):  # link errors are OSErrors: the job runner retries
            await register.fiscalise(sale())
        reconciliation = await register.reconcile(before)
        assert reconciliation.outcome is ReconcileOutcome.COMPLETED
        result = reconciliation.result
        assert result is not None
        assert (result.document_number, result.kind, result.total) == (
            before + 1,
            ReceiptKind.SALE,
            D("862.28"),  # as registered; the change is not known without the receipt
        )
        await register.fiscalise(sale(1))
        with pytest.raises(ReconcileConflict):
            await register.reconcile(before)


async def test_after_a_restart_the_registered_receipt_is_found() -> None:
    async with ShtrihSimulator() as simulator:
        receipt = sale(2)
        first = await FiscalRegister.connect(simulator.url, settings=FAST)
        await first.open_shift()
        before = (await first.state()).last_fiscal_document  # kept on disk with the job
        simulator.lose_answer(Command.CLOSE_RECEIPT, executed=True)
        with pytest.raises(errors.AnswerTimeout):
            await first.fiscalise(receipt)
        await first.close()  # the agent dies

        second = await FiscalRegister.connect(simulator.url, settings=FAST)
        try:
            result = await second.ensure_fiscalised(receipt, before)
        finally:
            await second.close()
        assert result.recovered is True
        assert result.document_number == simulator.register.receipts[0].number
        assert len(simulator.register.receipts) == 1


async def test_a_first_attempt_goes_through_ensure_fiscalised_too() -> None:
    async with shift_open() as (register, simulator):
        receipt = sale(1)
        before = (await register.state()).last_fiscal_document
        result = await register.ensure_fiscalised(receipt, before)
        assert (result.recovered, result.document_number) == (False, before + 1)
        assert len(simulator.register.receipts) == 1


async def test_a_different_receipt_registered_since_is_a_conflict_not_a_retry() -> None:
    async with shift_open() as (register, simulator):
        before = (await register.state()).last_fiscal_document
        await register.fiscalise(sale(1))  # something else was registered meanwhile
        with pytest.raises(ReconcileConflict) as conflict:
            await register.ensure_fiscalised(sale(3), before)
        assert [d.number for d in conflict.value.documents] == [before + 1]
        assert len(simulator.register.receipts) == 1

        await register.fiscalise(sale(3))
        with pytest.raises(ReconcileConflict):  # two receipts since: which one is ours?
            await register.reconcile(before, sale(3))
        assert len(simulator.register.receipts) == 2


async def test_shift_reports_in_between_are_not_taken_for_the_receipt() -> None:
    async with shift_open() as (register, simulator):
        before = (await register.state()).last_fiscal_document
        await register.z_report()
        await register.open_shift()
        reconciliation = await register.reconcile(before, sale())
        assert reconciliation.outcome is ReconcileOutcome.NOT_STARTED
        result = await register.ensure_fiscalised(sale(), before)
        assert (result.document_number, result.shift_number) == (before + 3, 2)
        assert len(simulator.register.receipts) == 1
