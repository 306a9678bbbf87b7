"""One job's trouble never stops the agent's queue: the job runner with the real fiscal
register driver against the simulated Shtrih-M register on a pty. A VAT rate the
register has no tax group for fails that receipt with the reason (nothing registered)
and the next one goes through; the tax groups come from `[[fiscal]] tax_groups`; a
register out of order (a wrong password, a failed fiscal storage) holds the receipts
and says so; an error nobody foresaw is settled by asking the register."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from edge_agent.config import FiscalSection
from edge_agent.devices import FiscalDevice
from edge_agent.drivers.shtrih_frames import FnOperation
from edge_agent.jobs import JobRunner
from edge_agent.simulators.shtrih import ShtrihSimulator
from edge_agent.store import AgentStore, JobStatus
from tests.edge.test_receipt import card_payload

FN_STATUS = 0xFF01
FN_FAILED = 0x03
FN_FIND_DOCUMENT = 0xFF0A
BAD_PARAMETERS = 0x33


def receipt(number: int, vat: str | None, price: str = "45.00") -> dict[str, Any]:
    """A one-line card receipt at `price` with that VAT rate (a percent, or None)."""
    payload = card_payload()
    amount = Decimal(price)
    rate = None if vat is None else Decimal(vat)
    vat_amount = None if rate is None else (amount * rate / (100 + rate)).quantize(Decimal("0.01"))
    payload["number"] = number
    payload["lines"][0].update(
        price=price,
        amount=price,
        total=price,
        vat_rate=None if rate is None else f"{rate:.2f}",
        vat_amount=None if vat_amount is None else str(vat_amount),
    )
    payload["totals"].update(
        subtotal=price,
        total=price,
        vat=[] if rate is None else [{"rate": f"{rate:.2f}", "amount": str(vat_amount)}],
    )
    payload["payments"] = {"card": price}
    return payload


class Bench:
    """The simulated register and the agent's devices opened on it (closed with it)."""

    def __init__(self, simulator: ShtrihSimulator) -> None:
        self.simulator = simulator
        self.opened: list[FiscalDevice] = []

    def device(self, **settings: Any) -> FiscalDevice:
        made = FiscalDevice(FiscalSection(name="kkt", transport=self.simulator.url, **settings))
        self.opened.append(made)
        return made


@asynccontextmanager
async def register_on_a_pty() -> AsyncIterator[Bench]:
    async with ShtrihSimulator() as simulator:
        simulator.register.shift_open = True
        bench = Bench(simulator)
        try:
            yield bench
        finally:
            for opened in bench.opened:
                await opened.close()


def runner(store: AgentStore, fiscal: FiscalDevice) -> JobRunner:
    return JobRunner(
        store, fiscal=fiscal, printer=None, drawer=False, on_event=lambda: None,
        retry_seconds=0.01,
    )  # fmt: skip


async def results(store: AgentStore) -> list[tuple[str, dict[str, Any]]]:
    return [(e.payload["job"], e.payload) for e in await store.pending() if e.type == "job.result"]


async def statuses(store: AgentStore) -> list[dict[str, Any]]:
    return [e.payload for e in await store.pending() if e.type == "device.status"]


async def test_vat_22_goes_to_group_1_and_a_rate_without_a_group_fails_alone(
    tmp_path: Path,
) -> None:
    async with register_on_a_pty() as bench, AgentStore(tmp_path / "a.db") as store:
        work = runner(store, bench.device())
        for number, vat in ((1, "22"), (2, "20"), (3, "10"), (4, None)):
            await work.accept(
                {"id": f"j{number}", "kind": "receipt", "payload": receipt(number, vat)}
            )
        await work.work_once()  # returns: nothing crashes, nothing is held
        outcomes = dict(await results(store))
        unmapped = await store.job("j2")
    assert [outcomes[f"j{n}"]["status"] for n in (1, 2, 3, 4)] == [
        "done",
        "failed",
        "done",
        "done",
    ]
    failure = outcomes["j2"]["result"]
    assert failure["code"] == "vat_rate_unmapped"
    assert "VAT rate '20'" in failure["error"]
    assert "tax_groups" in failure["error"]
    assert unmapped is not None
    assert unmapped.status is JobStatus.FAILED
    registered = bench.simulator.register.receipts
    assert len(registered) == 3  # the refused one registered nothing
    assert [r.items[0].tax_group for r in registered] == [1, 2, 4]  # 22 %, 10 %, no VAT
    assert all(r.operation == FnOperation.INCOME for r in registered)


async def test_the_tax_groups_come_from_the_config(tmp_path: Path) -> None:
    """A register still programmed with 20 % in group 1, and 22 % added as group 5."""
    groups = {"20.00": 1, "22": 5, "10": 2, "none": 4}
    async with register_on_a_pty() as bench, AgentStore(tmp_path / "a.db") as store:
        work = runner(store, bench.device(tax_groups=groups))
        for number, vat in ((1, "20"), (2, "22"), (3, "0")):
            await work.accept(
                {"id": f"j{number}", "kind": "receipt", "payload": receipt(number, vat)}
            )
        await work.work_once()
        outcomes = dict(await results(store))
    assert [outcomes[f"j{n}"]["status"] for n in (1, 2, 3)] == ["done", "done", "failed"]
    assert outcomes["j3"]["result"]["code"] == "vat_rate_unmapped"  # 0 % is not in this table
    assert [r.items[0].tax_group for r in bench.simulator.register.receipts] == [1, 5]


async def test_a_wrong_password_holds_the_receipts_and_says_so(tmp_path: Path) -> None:
    async with register_on_a_pty() as bench, AgentStore(tmp_path / "a.db") as store:
        wrong = runner(store, bench.device(password=1))
        for number in (1, 2):
            await wrong.accept(
                {"id": f"j{number}", "kind": "receipt", "payload": receipt(number, "10")}
            )
        await wrong.work_once()
        await wrong.work_once()  # held again, reported once
        held = [await store.job(f"j{n}") for n in (1, 2)]
        reported = await statuses(store)
        assert await results(store) == []
        await runner(store, bench.device()).work_once()  # the config put right
        outcomes = dict(await results(store))
    assert [job.status for job in held if job is not None] == [JobStatus.RECEIVED] * 2
    assert [(s["name"], s["status"]) for s in reported] == [("kkt", "error")]
    assert "wrong password" in reported[0]["detail"]
    assert [outcomes[f"j{n}"]["status"] for n in (1, 2)] == ["done", "done"]
    assert len(bench.simulator.register.receipts) == 2


async def test_a_failed_fiscal_storage_holds_the_receipt_until_it_answers(
    tmp_path: Path,
) -> None:
    async with register_on_a_pty() as bench, AgentStore(tmp_path / "a.db") as store:
        work = runner(store, bench.device())
        await work.accept({"id": "j1", "kind": "receipt", "payload": receipt(1, "22")})
        bench.simulator.faults.standing_errors[FN_STATUS] = FN_FAILED
        for _ in range(3):
            await work.work_once()
        held = await store.job("j1")
        reported = await statuses(store)
        del bench.simulator.faults.standing_errors[FN_STATUS]
        await work.work_once()
        outcomes = dict(await results(store))
    assert held is not None
    assert held.status is JobStatus.RECEIVED
    assert [(s["name"], s["status"]) for s in reported] == [("kkt", "error")]
    assert "ФН" in reported[0]["detail"]
    assert outcomes["j1"]["status"] == "done"
    assert len(bench.simulator.register.receipts) == 1


async def test_a_refusal_after_the_receipt_closed_is_settled_by_asking_the_register(
    tmp_path: Path,
) -> None:
    """The register closed (registered) the receipt, then refused to say which document
    it became: that is no "nothing registered" refusal (the job would fail and a retry
    register it again). The job waits in `fiscalising`; the next attempt asks the
    register and takes the receipt it finds."""
    async with register_on_a_pty() as bench, AgentStore(tmp_path / "a.db") as store:
        work = runner(store, bench.device())
        await work.accept({"id": "j1", "kind": "receipt", "payload": receipt(1, "22")})
        bench.simulator.fail_next(FN_FIND_DOCUMENT, BAD_PARAMETERS)
        await work.work_once()
        held = await store.job("j1")
        reported_then = await results(store)
        await work.work_once()
        outcomes = dict(await results(store))
    assert held is not None
    assert held.status is JobStatus.FISCALISING
    assert reported_then == []
    assert outcomes["j1"]["status"] == "done"
    assert len(bench.simulator.register.receipts) == 1  # registered once
