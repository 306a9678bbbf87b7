"""The job runner's steps, over in-memory stand-ins for the register and the printer
(the drivers and their simulators are tested on pty pairs elsewhere): each step on disk
before the next, a lost answer reconciled instead of a second receipt, a held printer
holding the queue and reporting its status once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from edge_agent.jobs import DeviceNotReady, DeviceRefused, JobRunner, TillDevices
from edge_agent.store import AgentStore, JobStatus

SALE = {"number": 7, "total": "90.00", "payments": {"cash": "90.00"}}


class Register:
    """Documents numbered from 100; can complete a receipt and lose the answer."""

    name = "kkt"

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []
        self.lose_next_answer = False
        self.refuse = False

    async def last_document_number(self) -> int:
        return 100 + len(self.documents)

    async def fiscalise(self, receipt: dict[str, Any]) -> dict[str, Any]:
        if self.refuse:
            raise DeviceRefused("the register refused: code 0x73")
        document = {"document": 101 + len(self.documents), "sign": "12345", "sale": receipt}
        self.documents.append(document)
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise TimeoutError("no answer")
        return {"document": document["document"], "sign": document["sign"]}

    async def completed_since(self, before: int, receipt: dict[str, Any]) -> dict[str, Any] | None:
        for document in self.documents:
            if document["document"] > before:
                return {"document": document["document"], "sign": document["sign"]}
        return None


class Printer:
    name = "receipts"

    def __init__(self) -> None:
        self.printed: list[tuple[int, dict[str, Any] | None]] = []
        self.copies: list[bool] = []  # whether each print was marked as a copy
        self.paper = True
        self.drawer_kicks = 0

    async def print_receipt(
        self, receipt: dict[str, Any], fiscal: dict[str, Any] | None, *, copy: bool = False
    ) -> None:
        if not self.paper:
            raise DeviceNotReady("receipts", "paper_out", "paper end")
        self.printed.append((receipt["number"], fiscal))
        self.copies.append(copy)

    async def open_drawer(self) -> None:
        if not self.paper:  # as the driver: nothing goes to a printer that cannot print
            raise DeviceNotReady(self.name, "paper_out", "paper end")
        self.drawer_kicks += 1


def runner(store: AgentStore, register: Register | None, printer: Printer | None) -> JobRunner:
    return JobRunner(
        store, fiscal=register, printer=printer, drawer=True, on_event=lambda: None,
        retry_seconds=0.01,
    )  # fmt: skip


async def test_a_receipt_is_fiscalised_printed_and_reported(tmp_path: Path) -> None:
    register, printer = Register(), Printer()
    async with AgentStore(tmp_path / "a.db") as store:
        work = runner(store, register, printer)
        await work.accept({"id": "j1", "kind": "receipt", "payload": SALE})
        await work.accept({"id": "j1", "kind": "receipt", "payload": SALE})  # again
        await work.work_once()
        job = await store.job("j1")
        events = await store.pending()
    assert job is not None
    assert job.status == JobStatus.DONE
    assert printer.printed == [(7, {"document": 101, "sign": "12345"})]
    assert (len(register.documents), printer.drawer_kicks) == (1, 1)
    assert [(e.type, e.payload["status"]) for e in events] == [("job.result", "done")]
    assert events[0].payload["result"] == {
        "printed": True,
        "fiscal": {"document": 101, "sign": "12345"},
    }


async def test_a_receipt_with_nothing_to_pay_is_printed_not_fiscalised(tmp_path: Path) -> None:
    """A gift (a 100 % discount) registers no settlement: the register, which refuses a
    receipt whose total is not positive, is not asked; the printer prints it."""
    register, printer = Register(), Printer()
    gift = {"number": 8, "totals": {"total": "0.00"}, "payments": {}}
    async with AgentStore(tmp_path / "a.db") as store:
        work = runner(store, register, printer)
        await work.accept({"id": "j1", "kind": "receipt", "payload": gift})
        await work.work_once()
        job = await store.job("j1")
        events = await store.pending()
    assert job is not None
    assert job.status == JobStatus.DONE
    assert (register.documents, printer.printed, printer.drawer_kicks) == ([], [(8, None)], 0)
    assert events[0].payload["result"] == {
        "printed": True,
        "fiscal": None,
        "not_fiscalised": "nothing to pay",
    }


async def test_a_lost_answer_is_reconciled_not_fiscalised_twice(tmp_path: Path) -> None:
    register, printer = Register(), Printer()
    register.lose_next_answer = True
    async with AgentStore(tmp_path / "a.db") as store:
        first = runner(store, register, printer)
        await first.accept({"id": "j1", "kind": "receipt", "payload": SALE})
        await first.work_once()  # the register made the receipt; the agent never heard
        job = await store.job("j1")
        assert job is not None
        assert (job.status, job.state) == (JobStatus.FISCALISING, {"before": 100})
    async with AgentStore(tmp_path / "a.db") as reopened:  # as after a restart
        await runner(reopened, register, printer).work_once()
        job = await reopened.job("j1")
    assert job is not None
    assert job.status == JobStatus.DONE
    assert len(register.documents) == 1
    assert printer.printed == [(7, {"document": 101, "sign": "12345"})]


async def test_a_print_the_agent_died_in_is_printed_again_as_a_copy(tmp_path: Path) -> None:
    """Killed while the printer printed: nobody knows whether the receipt came out, so
    the restarted agent prints it again, marked as a copy. Paper out is not such a case:
    the printer said it printed nothing."""
    register, printer = Register(), Printer()
    async with AgentStore(tmp_path / "a.db") as store:
        work = runner(store, register, printer)
        await work.accept({"id": "j1", "kind": "receipt", "payload": SALE})
        printer.paper = False
        await work.work_once()  # fiscalised; the print refused
        printer.paper = True
        await work.work_once()
        assert printer.copies == [False]  # a refused print is no print
        await work.accept({"id": "j2", "kind": "receipt", "payload": {**SALE, "number": 8}})
        killed = Printer()

        async def dies(*_: Any, **__: Any) -> None:
            raise asyncio.CancelledError  # the process stops inside the print

        killed.print_receipt = dies  # type: ignore[method-assign]
        with pytest.raises(asyncio.CancelledError):
            await runner(store, register, killed).work_once()
    async with AgentStore(tmp_path / "a.db") as reopened:  # after the restart
        await runner(reopened, register, printer).work_once()
        job = await reopened.job("j2")
    assert job is not None
    assert job.status == JobStatus.DONE
    assert [number for number, _ in printer.printed] == [7, 8]
    assert printer.copies == [False, True]
    assert len(register.documents) == 2  # fiscalised once each


async def test_paper_out_holds_the_queue_and_reports_once(tmp_path: Path) -> None:
    register, printer = Register(), Printer()
    printer.paper = False
    async with AgentStore(tmp_path / "a.db") as store:
        work = runner(store, register, printer)
        for n in (1, 2):
            payload = {**SALE, "number": n}
            await work.accept({"id": f"j{n}", "kind": "receipt", "payload": payload})
        await work.work_once()
        await work.work_once()
        held = [(e.type, e.payload.get("status")) for e in await store.pending()]
        fiscalised_while_held = len(register.documents)
        printer.paper = True
        await work.work_once()
        after = [(e.type, e.payload.get("status")) for e in await store.pending()]
    assert held == [("device.status", "paper_out")]  # once, however often retried
    assert fiscalised_while_held == 1  # the second waits behind the first
    assert after[1:] == [
        ("device.status", "online"),
        ("job.result", "done"),
        ("job.result", "done"),
    ]
    assert [number for number, _ in printer.printed] == [1, 2]


@pytest.mark.parametrize("kind", ["receipt", "launch_rocket"])
async def test_refused_and_unknown_jobs_fail_with_a_reason(tmp_path: Path, kind: str) -> None:
    register = Register()
    register.refuse = True
    async with AgentStore(tmp_path / "a.db") as store:
        work = runner(store, register, None)
        await work.accept({"id": "j1", "kind": kind, "payload": SALE})
        await work.accept({"id": 5, "kind": kind, "payload": SALE})  # malformed: skipped
        await work.work_once()
        events = await store.pending()
    assert [(e.type, e.payload["status"]) for e in events] == [("job.result", "failed")]
    assert events[0].payload["result"]["error"]


class Display:
    def __init__(self) -> None:
        self.shown: list[tuple[list[str], str | None]] = []

    async def show(self, lines: list[str], device: str | None) -> None:
        self.shown.append((lines, device))


async def test_drawer_and_display_jobs(tmp_path: Path) -> None:
    printer, display = Printer(), Display()
    async with AgentStore(tmp_path / "a.db") as store:
        work = JobRunner(
            store, fiscal=None, printer=printer, drawer=False, display=display,
            on_event=lambda: None, retry_seconds=0.01,
        )  # fmt: skip
        await work.accept({"id": "d1", "kind": "open_drawer", "payload": {"reason": "change"}})
        await work.accept(
            {"id": "s1", "kind": "display", "payload": {"lines": ["ИТОГО", "12.30"], "device": "d"}}
        )
        await work.work_once()
        events = [e.payload for e in await store.pending()]
        without = JobRunner(
            store, fiscal=None, printer=None, drawer=False, display=None,
            on_event=lambda: None, retry_seconds=0.01,
        )  # fmt: skip
        await without.accept({"id": "d2", "kind": "open_drawer", "payload": {}})
        await without.accept({"id": "s2", "kind": "display", "payload": {"lines": ["x"]}})
        await without.work_once()
        failed = [e.payload for e in await store.pending()][2:]
    assert printer.drawer_kicks == 1
    assert display.shown == [(["ИТОГО", "12.30"], "d")]
    assert [(e["job"], e["status"], e["result"]) for e in events] == [
        ("d1", "done", {"opened": True}),
        ("s1", "done", {"shown": 2}),
    ]
    assert [(e["job"], e["status"]) for e in failed] == [("d2", "failed"), ("s2", "failed")]


class NamedPrinter(Printer):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    async def print_receipt(
        self, receipt: dict[str, Any], fiscal: dict[str, Any] | None, *, copy: bool = False
    ) -> None:
        if not self.paper:
            raise DeviceNotReady(self.name, "paper_out", "paper end")
        self.printed.append((receipt["number"], fiscal))


async def test_each_tills_receipts_go_to_its_own_devices(tmp_path: Path) -> None:
    """Two tills with their own register and printer, the shop's unbound pair for any
    other till; a till out of paper holds its own receipts only."""
    registers = {till: Register() for till in ("till-a", "till-b", "shared")}
    printers = {till: NamedPrinter(f"printer-{till}") for till in registers}
    tills = {
        till: TillDevices(registers[till], printers[till], drawer=True)
        for till in ("till-a", "till-b")
    }
    printers["till-a"].paper = False
    async with AgentStore(tmp_path / "a.db") as store:
        work = JobRunner(
            store, fiscal=registers["shared"], printer=printers["shared"], drawer=False,
            tills=tills, on_event=lambda: None, retry_seconds=0.01,
        )  # fmt: skip

        async def statuses() -> list[JobStatus]:
            jobs = [await store.job(f"j{n}") for n in (1, 2, 3, 4)]
            return [job.status for job in jobs if job is not None]

        for number, till in enumerate(("till-a", "till-b", "till-c", "till-a"), 1):
            payload = {**SALE, "number": number, "register": {"id": till, "name": till}}
            await work.accept({"id": f"j{number}", "kind": "receipt", "payload": payload})
        await work.work_once()
        held = await statuses()
        printers["till-a"].paper = True
        await work.work_once()
        done = await statuses()
    assert held == [
        JobStatus.FISCALISED,  # registered on till A's register, waiting for paper
        JobStatus.DONE,
        JobStatus.DONE,
        JobStatus.RECEIVED,  # behind till A's first receipt
    ]
    assert done == [JobStatus.DONE] * 4
    printed = {till: [n for n, _ in p.printed] for till, p in printers.items()}
    registered = {till: [d["sale"]["number"] for d in r.documents] for till, r in registers.items()}
    assert printed == registered == {"till-a": [1, 4], "till-b": [2], "shared": [3]}
    kicks = {till: p.drawer_kicks for till, p in printers.items()}
    assert kicks == {"till-a": 2, "till-b": 1, "shared": 0}  # drawer=False for the shared


async def test_a_drawer_asked_for_long_ago_never_opens(tmp_path: Path) -> None:
    """Asked for at the till while the agent was away: by the time it could open the
    drawer nobody waits at the till, so the job fails as expired. The age is read by the
    hub's clock: a job just asked for opens even on a machine whose clock is an hour
    behind the hub's."""
    from datetime import UTC, datetime, timedelta

    printer = Printer()
    hub_now = datetime.now(UTC) + timedelta(hours=1)
    async with AgentStore(tmp_path / "a.db") as store:
        work = JobRunner(
            store, fiscal=None, printer=printer, drawer=True, display=Display(),
            on_event=lambda: None, retry_seconds=0.01,
        )  # fmt: skip
        work.set_hub_clock(3600.0)
        for job_id, kind, asked in (
            ("old", "open_drawer", hub_now - timedelta(minutes=30)),
            ("stale", "display", hub_now - timedelta(minutes=3)),
            ("now", "open_drawer", hub_now - timedelta(seconds=5)),
        ):
            payload = {"reason": "change"} if kind == "open_drawer" else {"lines": ["x"]}
            await work.accept(
                {"id": job_id, "kind": kind, "payload": payload, "created_at": asked.isoformat()}
            )
        await work.work_once()
        outcomes = {e.payload["job"]: e.payload for e in await store.pending()}
    assert printer.drawer_kicks == 1
    assert outcomes["now"]["status"] == "done"
    for stale in ("old", "stale"):
        assert outcomes[stale]["status"] == "failed"
        assert outcomes[stale]["result"]["error"].startswith("expired")


class Surprising(Register):
    """A register whose driver fails in a way nobody foresaw: `when` says at which point
    (after registering the receipt, before, or before anything at all)."""

    def __init__(self, when: str) -> None:
        super().__init__()
        self.when = when

    async def last_document_number(self) -> int:
        if self.when == "before anything":
            raise KeyError("no such field in the answer")
        return await super().last_document_number()

    async def fiscalise(self, receipt: dict[str, Any]) -> dict[str, Any]:
        when, self.when = self.when, ""  # once
        if when == "before registering":
            raise RuntimeError("bug")
        result = await super().fiscalise(receipt)
        if when == "after registering":
            raise RuntimeError("bug")
        return result


@pytest.mark.parametrize(
    ("when", "outcome", "documents"),
    [("after registering", "done", 1), ("before registering", "failed", 0)],
)
async def test_an_unforeseen_error_in_fiscalising_is_settled_by_the_register(
    tmp_path: Path, when: str, outcome: str, documents: int
) -> None:
    """The register may hold the receipt: the job is held (the register's status
    reported) and the next attempt asks it. Registered: the job is done, never
    registered twice; not registered: the job fails with the error, for a manager."""
    register = Surprising(when)
    async with AgentStore(tmp_path / "a.db") as store:
        work = runner(store, register, Printer())
        await work.accept({"id": "j1", "kind": "receipt", "payload": SALE})
        await work.work_once()  # returns: the runner goes on
        held = await store.job("j1")
        await work.work_once()
        events = [(e.type, e.payload) for e in await store.pending()]
    assert held is not None
    assert held.status is JobStatus.FISCALISING
    assert events[0] == (
        "device.status",
        {"name": "kkt", "status": "error", "detail": "RuntimeError: bug"},
    )
    (result,) = [payload for kind, payload in events if kind == "job.result"]
    assert result["status"] == outcome
    assert len(register.documents) == documents
    if outcome == "failed":
        assert result["result"] == {"error": "RuntimeError: bug", "code": "agent_error"}


async def test_an_unforeseen_error_before_fiscalising_fails_that_job_only(
    tmp_path: Path,
) -> None:
    register = Surprising("before anything")
    async with AgentStore(tmp_path / "a.db") as store:
        work = runner(store, register, Printer())
        await work.accept({"id": "j1", "kind": "receipt", "payload": SALE})
        await work.work_once()
        register.when = ""
        await work.accept({"id": "j2", "kind": "receipt", "payload": {**SALE, "number": 8}})
        await work.work_once()
        results = {e.payload["job"]: e.payload for e in await store.pending()}
    assert results["j1"]["status"] == "failed"
    assert results["j1"]["result"]["code"] == "agent_error"
    assert "KeyError" in results["j1"]["result"]["error"]
    assert results["j2"]["status"] == "done"
    assert len(register.documents) == 1


class OffDisplay(Display):
    async def show(self, lines: list[str], device: str | None) -> None:
        raise DeviceNotReady(device or "disp", "offline", "no answer in 5 s")


async def test_a_till_request_whose_device_is_not_ready_fails_at_once(tmp_path: Path) -> None:
    """The display off, the printer out of paper: the request fails now, with the
    reason; the till's receipts neither wait behind it nor hold it back."""
    register, printer = Register(), Printer()
    async with AgentStore(tmp_path / "a.db") as store:
        work = JobRunner(
            store, fiscal=register, printer=printer, drawer=False, display=OffDisplay(),
            on_event=lambda: None, retry_seconds=0.01,
        )  # fmt: skip
        await work.accept({"id": "show", "kind": "display", "payload": {"lines": ["Итого"]}})
        await work.accept({"id": "sale", "kind": "receipt", "payload": SALE})
        await work.work_once()
        first = [(e.type, e.payload) for e in await store.pending()]
        printer.paper = False
        await work.accept({"id": "sale2", "kind": "receipt", "payload": {**SALE, "number": 8}})
        await work.accept({"id": "drawer", "kind": "open_drawer", "payload": {"reason": "x"}})
        await work.work_once()  # the receipt held by the paper, the drawer refused now
        later = [(e.type, e.payload) for e in await store.pending()][len(first) :]
        sale2 = await store.job("sale2")
    assert [(p["job"], p["status"]) for _, p in first] == [("show", "failed"), ("sale", "done")]
    assert first[0][1]["result"] == {
        "error": "disp is not ready (offline): no answer in 5 s",
        "code": "offline",
    }
    assert [t for t, _ in first] == ["job.result", "job.result"]  # no display status
    assert later[0] == (
        "device.status",
        {"name": "receipts", "status": "paper_out", "detail": "paper end"},
    )
    assert later[1][1]["job"] == "drawer"
    assert (later[1][1]["status"], later[1][1]["result"]["code"]) == ("failed", "paper_out")
    assert len(later) == 2
    assert sale2 is not None
    assert sale2.status is JobStatus.FISCALISED  # held, as receipts are


async def test_only_the_devices_a_receipt_used_are_reported_back_online(
    tmp_path: Path,
) -> None:
    """Till A's printer out of paper; till B's receipt does not make it "online"."""
    printers = {till: NamedPrinter(f"printer-{till}") for till in ("a", "b")}
    tills = {till: TillDevices(Register(), printers[till]) for till in ("a", "b")}
    printers["a"].paper = False
    async with AgentStore(tmp_path / "a.db") as store:
        work = JobRunner(
            store, fiscal=None, printer=None, drawer=False, tills=tills,
            on_event=lambda: None, retry_seconds=0.01,
        )  # fmt: skip
        for number, till in ((1, "a"), (2, "b")):
            payload = {**SALE, "number": number, "register": {"id": till, "name": till}}
            await work.accept({"id": f"j{number}", "kind": "receipt", "payload": payload})
        await work.work_once()
        while_out = [e.payload for e in await store.pending() if e.type == "device.status"]
        printers["a"].paper = True
        await work.work_once()
        after = [e.payload for e in await store.pending() if e.type == "device.status"]
    assert [(s["name"], s["status"]) for s in while_out] == [("printer-a", "paper_out")]
    assert [(s["name"], s["status"]) for s in after] == [
        ("printer-a", "paper_out"),
        ("printer-a", "online"),
    ]
